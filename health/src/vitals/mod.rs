//! Encrypted real-time vitals monitoring: the seed's scenario, end to end.
//!
//! A ward of patients wears devices that send heart rate and SpO2 once a second, encrypted
//! under the clinic's public key. The monitoring server holds only the server (evaluation) key and
//! computes, per reading, encrypted alerts (heart rate outside its limits, SpO2 below its
//! limit, either of them, and a *sustained* flag: an alert on each of the last k readings),
//! and per patient an encrypted count of the readings that raised an alert. The clinic
//! decrypts the alerts.
//!
//! The roles are separate types with separate keys: [`Clinic`] owns the secret keys (the
//! [`ClientKey`](crate::prelude::ClientKey) and the compact key of its devices' public key);
//! [`Device`]s are provisioned with the clinic's compact public key (they encrypt a reading as
//! one packed compact list, and hold nothing that decrypts); [`MonitoringServer`] is built
//! from an `Arc<ServerKey>`, the clinic's casting key and a [`Backend`](crate::prelude::Backend)
//! and never sees a secret key. A reading's four nibbles are cast in the rules' first
//! bootstraps (the casting keyswitch replaces the server keyswitch there), so public-key
//! devices cost no bootstrap more.
//!
//! # Bootstraps per reading
//! Each reading costs 7 blind rotations (PBS): heart rate outside [low, high] is one compiled
//! `u8` predicate (both nibbles classified, then a bivariate table: 3 PBS; see
//! [`U8Predicate`](glovebox_integer::U8Predicate)); SpO2 below its limit is a threshold whose two nibble classifications
//! (2 PBS) sum linearly to a value that is ≥ 2 exactly when it holds; one more PBS on
//! `4·hr_alert + that sum`, through a table holding two functions, yields both the SpO2 flag
//! and "any alert" ([`IntegerServer::predicates_with_or`](glovebox_integer::IntegerServer::predicates_with_or)); "sustained" is the sum of the last
//! k "any" flags bootstrapped once (the first k − 1 readings of a stream cannot be sustained:
//! public zeros, no PBS). The per-patient count is a column-compression counter over the "any"
//! flags, ≈ 0.37 PBS per reading for 30 readings. TFHE-rs's integer API spends 19 PBS per
//! reading on the same rules.
//!
//! ```
//! use glovebox_health::vitals::*;
//! use glovebox_health::prelude::*;
//! use std::sync::Arc;
//! let clinic = Clinic::new(&TEST_PARAMS_INSECURE)?;
//! let server = MonitoringServer::new(
//!     Arc::new(clinic.server_key()?),
//!     Arc::new(CpuBackend::new()),
//!     AlertRules::default(),
//!     Default::default(),
//! )?
//! .with_casting_key(&clinic.casting_key()?)?;
//! let device = clinic.provision_device();
//! let stream = [Reading::new(72, 97), Reading::new(131, 96), Reading::new(64, 89)];
//! let encrypted = stream.iter().map(|&r| device.encrypt(r)).collect::<glovebox_health::Result<Vec<_>>>()?;
//! let alerts = server.monitor(&[encrypted], &|_| {})?;
//! let plain = clinic.decrypt(&alerts[0])?;
//! assert_eq!(plain.heart_rate, [false, true, false]);
//! assert_eq!(plain.spo2, [false, false, true]);
//! assert_eq!(plain.count, 2);
//! assert_eq!(plain, AlertRules::default().evaluate(&stream));
//! # Ok::<(), glovebox_health::Error>(())
//! ```

//!
//! The module by role: [`rules`] (the readings, the rules and their plaintext evaluation, the
//! bootstrap count), [`ward`] (simulated streams), [`clinic`] (the clinic and its devices:
//! the secret key's side), [`encrypted`] (what travels: readings, alerts, and their layouts)
//! and [`server`] (the monitoring server: the rules on ciphertexts).

pub mod clinic;
pub mod encrypted;
pub mod rules;
pub mod server;
pub mod ward;

pub use clinic::{Clinic, Device};
pub use encrypted::{EncryptedAlerts, EncryptedReading, ReadingAlerts};
pub use rules::{count_blocks, expected_bootstraps, AlertRules, PatientAlerts, Reading};
pub use server::MonitoringServer;
pub use ward::simulate_ward;
