//! Encrypted real-time vitals monitoring: the seed's scenario, end to end.
//!
//! A ward of patients wears devices that send heart rate and SpO2 once a second, encrypted
//! under the clinic's key. The monitoring server holds only the server (evaluation) key and
//! computes, per reading, encrypted alerts (heart rate outside its limits, SpO2 below its
//! limit, either of them, and a *sustained* flag: an alert on each of the last k readings),
//! and per patient an encrypted count of the readings that raised an alert. The clinic
//! decrypts the alerts.
//!
//! The roles are separate types with separate keys: [`Clinic`] owns the [`ClientKey`];
//! [`Device`]s are provisioned by the clinic (they sit on the trusted side and only encrypt);
//! [`MonitoringServer`] is built from an `Arc<ServerKey>` and a [`Backend`] and never sees a
//! secret key.
//!
//! # Bootstraps per reading
//! Each reading costs 7 blind rotations (PBS): heart rate outside [low, high] is one compiled
//! `u8` predicate (both nibbles classified, then a bivariate table: 3 PBS; see
//! [`U8Predicate`]); SpO2 below its limit is a threshold whose two nibble classifications
//! (2 PBS) sum linearly to a value that is ≥ 2 exactly when it holds; one more PBS on
//! `4·hr_alert + that sum`, through a table holding two functions, yields both the SpO2 flag
//! and "any alert" ([`IntegerServer::predicates_with_or`]); "sustained" is the sum of the last
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
//! )?;
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

use crate::prelude::*;
use crate::{Error, Result};
use glovebox_driver::{Driver, DriverConfig, DriverStats};
use glovebox_engine::Error as EngineError;
use glovebox_integer::{
    count_flags_bootstraps, decrypt_bool, decrypt_radix, encrypt_radix, BoolCiphertext,
    IntegerServer, RadixCiphertext, RadixLayout, U8Predicate,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// One reading of a wearable: heart rate (beats per minute) and SpO2 (percent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Reading {
    pub heart_rate: u8,
    pub spo2: u8,
}

impl Reading {
    pub fn new(heart_rate: u8, spo2: u8) -> Self {
        Self { heart_rate, spo2 }
    }
}

/// The alert rules. The limits are public (the clinic configures them on the server); the
/// readings and the alerts are not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlertRules {
    /// Heart rate below this raises an alert (bradycardia).
    pub heart_rate_low: u8,
    /// Heart rate above this raises an alert (tachycardia).
    pub heart_rate_high: u8,
    /// SpO2 below this raises an alert (desaturation).
    pub spo2_low: u8,
    /// An alert is sustained when the last `sustained_readings` readings all raised one
    /// (1 ..= 15).
    pub sustained_readings: usize,
}

impl Default for AlertRules {
    /// Heart rate outside 50–120 bpm, SpO2 below 92 %, sustained over 3 readings.
    fn default() -> Self {
        Self {
            heart_rate_low: 50,
            heart_rate_high: 120,
            spo2_low: 92,
            sustained_readings: 3,
        }
    }
}

/// Decrypted (or plaintext-computed) alerts of one patient's stream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PatientAlerts {
    pub heart_rate: Vec<bool>,
    pub spo2: Vec<bool>,
    pub any: Vec<bool>,
    pub sustained: Vec<bool>,
    /// Readings that raised an alert.
    pub count: u64,
}

impl PatientAlerts {
    /// Number of alert values (flags and the count) this holds: what verification compares.
    pub fn values(&self) -> usize {
        self.heart_rate.len() + self.spo2.len() + self.any.len() + self.sustained.len() + 1
    }

    /// How many of those values equal `other`'s.
    pub fn matching(&self, other: &PatientAlerts) -> usize {
        let flags = |a: &[bool], b: &[bool]| a.iter().zip(b).filter(|(x, y)| x == y).count();
        flags(&self.heart_rate, &other.heart_rate)
            + flags(&self.spo2, &other.spo2)
            + flags(&self.any, &other.any)
            + flags(&self.sustained, &other.sustained)
            + (self.count == other.count) as usize
    }

    /// One character per reading: `·` no alert, `h` heart rate, `s` SpO2, `b` both; upper
    /// case when the alert is sustained.
    pub fn timeline(&self) -> String {
        (0..self.any.len())
            .map(|t| {
                let c = match (self.heart_rate[t], self.spo2[t]) {
                    (false, false) => '·',
                    (true, false) => 'h',
                    (false, true) => 's',
                    (true, true) => 'b',
                };
                if self.sustained[t] {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    }
}

impl AlertRules {
    /// Checks the rules: limits in order, `sustained_readings` in 1 ..= 15.
    pub fn validate(&self) -> Result<()> {
        if self.heart_rate_low > self.heart_rate_high {
            return Err(Error::InvalidInput(format!(
                "heart-rate limits out of order: low {} > high {}",
                self.heart_rate_low, self.heart_rate_high
            )));
        }
        if !(1..=15).contains(&self.sustained_readings) {
            return Err(Error::InvalidInput(format!(
                "sustained_readings must be in 1..=15 (one bootstrap sums them), got {}",
                self.sustained_readings
            )));
        }
        Ok(())
    }

    pub fn heart_rate_alert(&self, heart_rate: u8) -> bool {
        heart_rate < self.heart_rate_low || heart_rate > self.heart_rate_high
    }

    pub fn spo2_alert(&self, spo2: u8) -> bool {
        spo2 < self.spo2_low
    }

    /// The rules on a plaintext stream: what the encrypted computation must reproduce.
    pub fn evaluate(&self, stream: &[Reading]) -> PatientAlerts {
        let heart_rate: Vec<bool> = stream
            .iter()
            .map(|r| self.heart_rate_alert(r.heart_rate))
            .collect();
        let spo2: Vec<bool> = stream.iter().map(|r| self.spo2_alert(r.spo2)).collect();
        let any: Vec<bool> = heart_rate.iter().zip(&spo2).map(|(a, b)| a | b).collect();
        let k = self.sustained_readings;
        let sustained = (0..any.len())
            .map(|t| t + 1 >= k && any[t + 1 - k..=t].iter().all(|&a| a))
            .collect();
        let count = any.iter().filter(|&&a| a).count() as u64;
        PatientAlerts {
            heart_rate,
            spo2,
            any,
            sustained,
            count,
        }
    }

    fn heart_rate_predicate(&self) -> U8Predicate {
        let (lo, hi) = (self.heart_rate_low, self.heart_rate_high);
        U8Predicate::compile(&format!("hr_outside_{lo}_{hi}"), move |x| {
            x < lo as u64 || x > hi as u64
        })
        .expect("a range predicate always compiles")
    }

    fn spo2_predicate(&self) -> U8Predicate {
        let lo = self.spo2_low;
        U8Predicate::compile(&format!("spo2_below_{lo}"), move |x| x < lo as u64)
            .expect("a threshold predicate always compiles")
    }
}

/// The bootstraps [`MonitoringServer::monitor`] spends on a ward of `patients` streams of
/// `seconds` readings under `rules`: per reading 6 (both rules and their OR,
/// [`IntegerServer::predicates_with_or`]) and 1 for "sustained" once `k > 1` readings exist
/// (none when `k = 1`: it is the "any" flag itself), and per patient the counter's
/// ([`count_flags_bootstraps`]).
///
/// ```
/// use glovebox_health::vitals::*;
/// use glovebox_health::integer::RadixLayout;
/// use glovebox_health::prelude::*;
/// let layout = RadixLayout::new(&PARAM_MESSAGE_2_CARRY_2_KS_PBS)?;
/// // 30 s, sustained over 3: 6·30 + 28 + 11 (the counter) per patient.
/// assert_eq!(expected_bootstraps(&AlertRules::default(), 1, 30, &layout), 219);
/// # Ok::<(), glovebox_health::Error>(())
/// ```
pub fn expected_bootstraps(
    rules: &AlertRules,
    patients: usize,
    seconds: usize,
    layout: &RadixLayout,
) -> u64 {
    let k = rules.sustained_readings;
    let sustained = if k > 1 {
        seconds.saturating_sub(k - 1)
    } else {
        0
    };
    let counter = count_flags_bootstraps(seconds, count_blocks(seconds, layout), layout);
    (patients * (6 * seconds + sustained + counter)) as u64
}

/// Blocks of the per-patient alert count: enough for `readings` without wrapping.
pub fn count_blocks(readings: usize, layout: &RadixLayout) -> usize {
    let bits = usize::BITS - readings.leading_zeros();
    layout.blocks(bits).max(1)
}

/// Plausible vitals streams for a ward, from a seed: resting heart rate 58–88 bpm and SpO2
/// 95–99 % with slow random variation, and injected episodes of tachycardia (125–165 bpm),
/// bradycardia (36–47 bpm) and desaturation (83–90 %) lasting 3–8 s. The first three patients
/// get one episode of each kind; the others one at random, or none.
pub fn simulate_ward(patients: usize, seconds: usize, seed: u64) -> Vec<Vec<Reading>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..patients)
        .map(|p| {
            let hr0 = rng.gen_range(58.0..88.0);
            let spo0 = rng.gen_range(95.0..99.5);
            let episode = if p < 3 { p } else { rng.gen_range(0..4) };
            let len = rng.gen_range(3..=8usize).min(seconds);
            let start = rng.gen_range(0..=seconds - len);
            let (mut dh, mut ds) = (0.0f64, 0.0f64);
            (0..seconds)
                .map(|t| {
                    dh = 0.85 * dh + rng.gen_range(-2.5..2.5);
                    ds = 0.7 * ds + rng.gen_range(-0.6..0.6);
                    let (mut hr, mut spo2) = (hr0 + dh, spo0 + ds);
                    if (start..start + len).contains(&t) {
                        match episode {
                            0 => hr = rng.gen_range(125.0..165.0),
                            1 => hr = rng.gen_range(36.0..47.0),
                            2 => spo2 = rng.gen_range(83.0..90.0),
                            _ => {}
                        }
                    }
                    Reading::new(
                        hr.round().clamp(0.0, 255.0) as u8,
                        spo2.round().clamp(0.0, 100.0) as u8,
                    )
                })
                .collect()
        })
        .collect()
}

/// The clinic: owns the secret key, provisions devices, produces the server key, decrypts.
pub struct Clinic {
    key: Arc<ClientKey>,
}

impl Clinic {
    /// Generates the clinic's secret keys (cryptographic RNG).
    pub fn new(params: &Parameters) -> Result<Self> {
        Ok(Self {
            key: Arc::new(ClientKey::new(params)?),
        })
    }

    pub fn parameters(&self) -> &Parameters {
        self.key.parameters()
    }

    /// The evaluation keys for the server (no secret key inside).
    pub fn server_key(&self) -> Result<ServerKey> {
        Ok(self.key.server_key()?)
    }

    /// The same, reporting `(GGSWs done, total)` as key generation goes.
    pub fn server_key_with_progress(
        &self,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<ServerKey> {
        Ok(self.key.server_key_with_progress(progress)?)
    }

    /// The evaluation keys compressed (masks from public seeds), to upload to a service.
    pub fn compressed_server_key(&self) -> Result<CompressedServerKey> {
        Ok(self.key.compressed_server_key()?)
    }

    /// The id of the clinic's key (what its ciphertexts and keys carry).
    pub fn key_id(&self) -> u64 {
        self.key.key_id()
    }

    /// Decrypts one flag.
    pub fn decrypt_flag(&self, flag: &BoolCiphertext) -> Result<bool> {
        Ok(decrypt_bool(&self.key, flag)?)
    }

    /// A clinic from its stored secret key (the clinic's own file, [`Self::client_key`]).
    pub fn from_client_key(key: ClientKey) -> Self {
        Self { key: Arc::new(key) }
    }

    /// The secret key, to keep in the clinic's files (never sent anywhere).
    pub fn client_key(&self) -> &ClientKey {
        &self.key
    }

    /// Encrypts a lab value (`0..=`[`crate::records::MAX_VALUE`]) as a `u16`.
    pub fn encrypt_lab_value(&self, value: u16) -> Result<RadixCiphertext> {
        if value > crate::records::MAX_VALUE {
            return Err(EngineError::MessageOutOfRange {
                message: value as u64,
                modulus: crate::records::MAX_VALUE as u64 + 1,
            }
            .into());
        }
        let layout = RadixLayout::new(self.key.parameters())?;
        Ok(encrypt_radix(
            &self.key,
            value as u64,
            crate::records::value_blocks(&layout),
        )?)
    }

    /// Decrypts a record's comparison with the patient's past.
    pub fn decrypt_analysis(
        &self,
        a: &crate::records::RecordAnalysis,
    ) -> Result<crate::records::PlainAnalysis> {
        Ok(crate::records::PlainAnalysis {
            above_max: decrypt_bool(&self.key, &a.above_max)?,
            changed: decrypt_bool(&self.key, &a.changed)?,
            gap_times_k: decrypt_radix(&self.key, &a.gap_times_k)? as u16 as i16 as i32,
            window: a.window,
        })
    }

    /// Decrypts cohort statistics.
    pub fn decrypt_cohort(
        &self,
        c: &crate::records::CohortStatistics,
    ) -> Result<crate::records::PlainCohort> {
        Ok(crate::records::PlainCohort {
            count_above: decrypt_radix(&self.key, &c.count_above)?,
            sum_above: decrypt_radix(&self.key, &c.sum_above)?,
            sum_all: decrypt_radix(&self.key, &c.sum_all)?,
            patients: c.patients,
        })
    }

    /// A device paired with this clinic: it encrypts readings under the clinic's key.
    pub fn provision_device(&self) -> Device {
        Device {
            key: self.key.clone(),
        }
    }

    /// Decrypts one patient's alerts.
    pub fn decrypt(&self, alerts: &EncryptedAlerts) -> Result<PatientAlerts> {
        let flags = |v: &[BoolCiphertext]| -> Result<Vec<bool>> {
            Ok(v.iter()
                .map(|b| decrypt_bool(&self.key, b))
                .collect::<glovebox_engine::Result<_>>()?)
        };
        Ok(PatientAlerts {
            heart_rate: flags(&alerts.heart_rate)?,
            spo2: flags(&alerts.spo2)?,
            any: flags(&alerts.any)?,
            sustained: flags(&alerts.sustained)?,
            count: decrypt_radix(&self.key, &alerts.count)?,
        })
    }
}

/// A wearable provisioned by the clinic. It sits on the trusted side of the wire: it can only
/// encrypt (the key it holds never reaches the server).
pub struct Device {
    key: Arc<ClientKey>,
}

impl Device {
    /// Encrypts a reading: each value as a `u8` (four 2-bit blocks on the 2-bit-message sets).
    pub fn encrypt(&self, reading: Reading) -> Result<EncryptedReading> {
        let blocks = RadixLayout::new(self.key.parameters())?.blocks(8);
        Ok(EncryptedReading {
            heart_rate: encrypt_radix(&self.key, reading.heart_rate as u64, blocks)?,
            spo2: encrypt_radix(&self.key, reading.spo2 as u64, blocks)?,
        })
    }
}

/// An encrypted reading, as it travels to the server.
#[derive(Clone, Debug)]
pub struct EncryptedReading {
    pub heart_rate: RadixCiphertext,
    pub spo2: RadixCiphertext,
}

/// One patient's encrypted alerts, as they travel back to the clinic.
#[derive(Clone, Debug)]
pub struct EncryptedAlerts {
    pub heart_rate: Vec<BoolCiphertext>,
    pub spo2: Vec<BoolCiphertext>,
    pub any: Vec<BoolCiphertext>,
    pub sustained: Vec<BoolCiphertext>,
    /// Readings that raised an alert, [`count_blocks`] blocks wide.
    pub count: RadixCiphertext,
}

/// The alerts of one reading (the streaming form, [`MonitoringServer::evaluate_readings`]).
#[derive(Clone, Debug)]
pub struct ReadingAlerts {
    pub heart_rate: BoolCiphertext,
    pub spo2: BoolCiphertext,
    pub any: BoolCiphertext,
    pub sustained: BoolCiphertext,
}

impl ReadingAlerts {
    /// The flags of one reading.
    pub const FLAGS: usize = 4;

    /// The layout the alerts are stored and travel in: one ciphertext per flag, heart rate,
    /// SpO2, any, sustained.
    pub fn to_ciphertexts(&self) -> Vec<Ciphertext> {
        [&self.heart_rate, &self.spo2, &self.any, &self.sustained]
            .iter()
            .map(|b| b.block().ciphertext().clone())
            .collect()
    }

    /// The alerts from the ciphertexts of [`Self::to_ciphertexts`].
    pub fn from_ciphertexts(cts: Vec<Ciphertext>) -> Result<Self> {
        let got = cts.len();
        let [h, s, a, u]: [Ciphertext; 4] = cts.try_into().map_err(|_| {
            Error::from(EngineError::DimensionMismatch {
                what: "flags of a reading's alerts",
                expected: Self::FLAGS,
                got,
            })
        })?;
        Ok(Self {
            heart_rate: BoolCiphertext::from_ciphertext(h),
            spo2: BoolCiphertext::from_ciphertext(s),
            any: BoolCiphertext::from_ciphertext(a),
            sustained: BoolCiphertext::from_ciphertext(u),
        })
    }
}

impl EncryptedReading {
    /// The reading's blocks, heart rate then SpO2 (what travels).
    pub fn to_ciphertexts(&self) -> Vec<Ciphertext> {
        self.heart_rate
            .blocks()
            .iter()
            .chain(self.spo2.blocks())
            .map(|b| b.ciphertext().clone())
            .collect()
    }

    /// A reading from its blocks, heart rate then SpO2, each a `u8` of the parameters' layout.
    pub fn from_ciphertexts(cts: Vec<Ciphertext>, params: &Parameters) -> Result<Self> {
        let layout = RadixLayout::new(params)?;
        let blocks = layout.blocks(8);
        if cts.len() != 2 * blocks {
            return Err(EngineError::DimensionMismatch {
                what: "blocks of an encrypted reading",
                expected: 2 * blocks,
                got: cts.len(),
            }
            .into());
        }
        let mut cts = cts;
        let spo2 = cts.split_off(blocks);
        Ok(Self {
            heart_rate: RadixCiphertext::from_fresh_blocks(cts, &layout),
            spo2: RadixCiphertext::from_fresh_blocks(spo2, &layout),
        })
    }
}

/// The server side: evaluation keys, a backend behind the host driver, and the rules.
pub struct MonitoringServer {
    server_key: Arc<ServerKey>,
    driver: Driver,
    rules: AlertRules,
    heart_rate: U8Predicate,
    spo2: U8Predicate,
    steps_in_flight: usize,
}

/// Per time step, per patient.
struct StepAlerts {
    heart_rate: Vec<BoolCiphertext>,
    spo2: Vec<BoolCiphertext>,
    any: Vec<BoolCiphertext>,
}

impl MonitoringServer {
    /// Uploads the evaluation keys to `backend` (through the driver) and compiles the rules.
    pub fn new(
        server_key: Arc<ServerKey>,
        backend: Arc<dyn Backend>,
        rules: AlertRules,
        config: DriverConfig,
    ) -> Result<Self> {
        rules.validate()?;
        let p = server_key.parameters();
        if p.message_modulus * p.carry_modulus < 16 {
            return Err(Error::InvalidInput(format!(
                "vitals monitoring needs 4 bits of message and carry; {} has {}x{}",
                p.name, p.message_modulus, p.carry_modulus
            )));
        }
        let driver = Driver::new(backend, server_key.clone(), config)?;
        Ok(Self {
            heart_rate: rules.heart_rate_predicate(),
            spo2: rules.spo2_predicate(),
            server_key,
            driver,
            rules,
            steps_in_flight: 4,
        })
    }

    /// How many time steps are evaluated concurrently (default 4): more steps in flight make
    /// larger batches for the backend, at the cost of latency per step.
    pub fn with_steps_in_flight(mut self, steps: usize) -> Self {
        self.steps_in_flight = steps.max(1);
        self
    }

    pub fn rules(&self) -> &AlertRules {
        &self.rules
    }

    /// The integer evaluator over this server's driver and key (records, cohorts:
    /// [`crate::records`]).
    pub fn integers(&self) -> Result<IntegerServer<'_>> {
        Ok(IntegerServer::new(&self.driver, &self.server_key)?)
    }

    /// The parameters of the server key.
    pub fn parameters(&self) -> &Parameters {
        self.server_key.parameters()
    }

    /// The bootstraps [`Self::monitor`] spends on a ward ([`expected_bootstraps`]).
    pub fn expected_bootstraps(&self, patients: usize, seconds: usize) -> Result<u64> {
        let layout = RadixLayout::new(self.server_key.parameters())?;
        Ok(expected_bootstraps(&self.rules, patients, seconds, &layout))
    }

    /// The driver's counters (bootstraps done, batch sizes, backend occupancy).
    pub fn driver_stats(&self) -> DriverStats {
        self.driver.stats()
    }

    pub fn backend_name(&self) -> &str {
        self.driver.backend_name()
    }

    /// Evaluates the rules over the ward's streams (`ward[patient][second]`, all the same
    /// length), time step by time step as they would arrive, several steps in flight.
    /// `on_step(done)` reports progress. Returns each patient's encrypted alerts.
    pub fn monitor(
        &self,
        ward: &[Vec<EncryptedReading>],
        on_step: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<EncryptedAlerts>> {
        let seconds = check_ward_shape(ward)?;
        let ints = IntegerServer::new(&self.driver, &self.server_key)?;
        let progress = Progress::new(seconds);
        let next_step = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..self.steps_in_flight.min(seconds) {
                scope.spawn(|| loop {
                    let t = next_step.fetch_add(1, Ordering::Relaxed);
                    if t >= seconds || progress.failed() {
                        return;
                    }
                    if let Err(e) = self.run_step(&ints, ward, t, &progress, on_step) {
                        progress.fail(e);
                        return;
                    }
                });
            }
        });
        let (steps, sustained) = progress.finish()?;
        self.assemble(&ints, &steps, sustained, seconds)
    }

    /// The streaming form of [`Self::monitor`]: one reading per item, each with the "any"
    /// flags of its stream's earlier readings (oldest first; only the last k − 1 are used).
    /// Where fewer than k − 1 are given (the start of a stream) "sustained" is a public false,
    /// as in [`Self::monitor`]. All items are bootstrapped together: 6 blind rotations each,
    /// and one more for "sustained".
    pub fn evaluate_readings(
        &self,
        items: &[(&EncryptedReading, Vec<&BoolCiphertext>)],
    ) -> Result<Vec<ReadingAlerts>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let ints = IntegerServer::new(&self.driver, &self.server_key)?;
        let readings: Vec<&EncryptedReading> = items.iter().map(|(r, _)| *r).collect();
        let flags = self.rule_flags(&ints, &readings)?;
        let windows: Vec<(&[&BoolCiphertext], &BoolCiphertext)> = items
            .iter()
            .zip(&flags)
            .map(|((_, previous), [_, _, any])| (previous.as_slice(), any))
            .collect();
        let sustained = self.sustained(&ints, &windows)?;
        Ok(flags
            .into_iter()
            .zip(sustained)
            .map(|([heart_rate, spo2, any], sustained)| ReadingAlerts {
                heart_rate,
                spo2,
                any,
                sustained,
            })
            .collect())
    }

    /// The rules on each reading, all bootstrapped together: heart rate outside its limits,
    /// SpO2 below its limit and their OR (6 blind rotations a reading).
    fn rule_flags(
        &self,
        ints: &IntegerServer,
        readings: &[&EncryptedReading],
    ) -> Result<Vec<[BoolCiphertext; 3]>> {
        let inputs: Vec<_> = readings
            .iter()
            .map(|r| (&r.heart_rate, &self.heart_rate, &r.spo2, &self.spo2))
            .collect();
        Ok(ints.predicates_with_or(&inputs)?)
    }

    /// "Sustained" for each reading, from its "any" flag and those of its stream's earlier
    /// readings (oldest first; only the last k − 1 are read), all bootstrapped together (one
    /// blind rotation a reading). Where fewer than k − 1 earlier flags exist (the start of a
    /// stream) it is a public false, no bootstrap; for k = 1 it is the "any" flag itself.
    fn sustained(
        &self,
        ints: &IntegerServer,
        windows: &[(&[&BoolCiphertext], &BoolCiphertext)],
    ) -> Result<Vec<BoolCiphertext>> {
        let k = self.rules.sustained_readings;
        let full = |previous: &[&BoolCiphertext]| k > 1 && previous.len() + 1 >= k;
        let groups: Vec<Vec<&BoolCiphertext>> = windows
            .iter()
            .filter(|(previous, _)| full(previous))
            .map(|(previous, any)| {
                let mut g = previous[previous.len() + 1 - k..].to_vec();
                g.push(*any);
                g
            })
            .collect();
        let mut anded = if groups.is_empty() {
            Vec::new()
        } else {
            ints.and_many(&groups)?
        }
        .into_iter();
        Ok(windows
            .iter()
            .map(|(previous, any)| {
                if k == 1 {
                    (*any).clone()
                } else if full(previous) {
                    anded.next().expect("one AND per full window")
                } else {
                    ints.trivial_bool(false)
                }
            })
            .collect())
    }

    /// Time step `t` for every patient: the rules ([`Self::rule_flags`]), then "sustained"
    /// ([`Self::sustained`]) once the k − 1 earlier steps have their "any" flags. The same two
    /// functions serve [`Self::evaluate_readings`]: one path evaluates the rules.
    fn run_step(
        &self,
        ints: &IntegerServer,
        ward: &[Vec<EncryptedReading>],
        t: usize,
        progress: &Progress,
        on_step: &(dyn Fn(usize) + Sync),
    ) -> Result<()> {
        let readings: Vec<&EncryptedReading> = ward.iter().map(|s| &s[t]).collect();
        let mut step = StepAlerts {
            heart_rate: Vec::with_capacity(ward.len()),
            spo2: Vec::with_capacity(ward.len()),
            any: Vec::with_capacity(ward.len()),
        };
        for [h, s, a] in self.rule_flags(ints, &readings)? {
            step.heart_rate.push(h);
            step.spo2.push(s);
            step.any.push(a);
        }
        let any = step.any.clone();
        progress.record_step(t, step);
        // The k − 1 earlier steps' "any" flags (waited for: they may still be in flight).
        let k = self.rules.sustained_readings;
        let window = if k > 1 && t + 1 >= k {
            progress.wait_for_any(t + 1 - k..t)?
        } else {
            Vec::new()
        };
        let previous: Vec<Vec<&BoolCiphertext>> = (0..ward.len())
            .map(|p| window.iter().map(|w| &w[p]).collect())
            .collect();
        let windows: Vec<(&[&BoolCiphertext], &BoolCiphertext)> = previous
            .iter()
            .zip(&any)
            .map(|(previous, any)| (previous.as_slice(), any))
            .collect();
        let sustained = self.sustained(ints, &windows)?;
        on_step(progress.record_sustained(t, sustained));
        Ok(())
    }

    /// Per patient: the flags of every step, and the count of the "any" flags.
    fn assemble(
        &self,
        ints: &IntegerServer,
        steps: &[StepAlerts],
        sustained: Vec<Vec<BoolCiphertext>>,
        seconds: usize,
    ) -> Result<Vec<EncryptedAlerts>> {
        let patients = steps[0].any.len();
        let any_per_patient: Vec<Vec<&BoolCiphertext>> = (0..patients)
            .map(|p| steps.iter().map(|s| &s.any[p]).collect())
            .collect();
        let counts = ints.count_flags(&any_per_patient, count_blocks(seconds, ints.layout()))?;
        Ok(counts
            .into_iter()
            .enumerate()
            .map(|(p, count)| EncryptedAlerts {
                heart_rate: steps.iter().map(|s| s.heart_rate[p].clone()).collect(),
                spo2: steps.iter().map(|s| s.spo2[p].clone()).collect(),
                any: steps.iter().map(|s| s.any[p].clone()).collect(),
                sustained: sustained.iter().map(|s| s[p].clone()).collect(),
                count,
            })
            .collect())
    }
}

/// Checks that the ward has at least one reading and streams of one length; returns it.
fn check_ward_shape(ward: &[Vec<EncryptedReading>]) -> Result<usize> {
    let seconds = ward.first().map(|s| s.len()).unwrap_or(0);
    if seconds == 0 {
        return Err(Error::InvalidInput(
            "no readings to monitor (empty ward or empty stream)".into(),
        ));
    }
    for s in ward {
        if s.len() != seconds {
            return Err(EngineError::DimensionMismatch {
                what: "readings per patient stream",
                expected: seconds,
                got: s.len(),
            }
            .into());
        }
    }
    Ok(seconds)
}

/// What the steps in flight share: finished steps, sustained flags, the first error.
struct Progress {
    state: Mutex<ProgressState>,
    ready: Condvar,
}

struct ProgressState {
    steps: Vec<Option<StepAlerts>>,
    sustained: Vec<Option<Vec<BoolCiphertext>>>,
    failed: Option<Error>,
    done: usize,
}

impl Progress {
    fn new(seconds: usize) -> Self {
        Self {
            state: Mutex::new(ProgressState {
                steps: (0..seconds).map(|_| None).collect(),
                sustained: vec![None; seconds],
                failed: None,
                done: 0,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failed(&self) -> bool {
        self.lock().failed.is_some()
    }

    /// Keeps the first error and wakes every waiting step.
    fn fail(&self, e: Error) {
        self.lock().failed.get_or_insert(e);
        self.ready.notify_all();
    }

    fn record_step(&self, t: usize, step: StepAlerts) {
        self.lock().steps[t] = Some(step);
        self.ready.notify_all();
    }

    /// Stores step `t`'s sustained flags; returns how many steps are done.
    fn record_sustained(&self, t: usize, flags: Vec<BoolCiphertext>) -> usize {
        let mut s = self.lock();
        s.sustained[t] = Some(flags);
        s.done += 1;
        s.done
    }

    /// The "any" flags of `steps`, once they are all recorded (or the first error).
    fn wait_for_any(&self, steps: std::ops::Range<usize>) -> Result<Vec<Vec<BoolCiphertext>>> {
        let mut s = self.lock();
        loop {
            if let Some(e) = &s.failed {
                return Err(e.clone());
            }
            if s.steps[steps.clone()].iter().all(Option::is_some) {
                return Ok(steps
                    .map(|u| s.steps[u].as_ref().expect("checked").any.clone())
                    .collect());
            }
            s = self.ready.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Every step's alerts and sustained flags, or the first error.
    #[allow(clippy::type_complexity)]
    fn finish(self) -> Result<(Vec<StepAlerts>, Vec<Vec<BoolCiphertext>>)> {
        let s = self.state.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = s.failed {
            return Err(e);
        }
        let steps = s
            .steps
            .into_iter()
            .map(|x| x.expect("every step finished"))
            .collect();
        let sustained = s
            .sustained
            .into_iter()
            .map(|x| x.expect("every step finished"))
            .collect();
        Ok((steps, sustained))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_rules() {
        let rules = AlertRules::default();
        let stream: Vec<Reading> = [
            (72, 97),
            (130, 97),
            (131, 91),
            (45, 95),
            (80, 98),
            (50, 92),
            (120, 92),
        ]
        .iter()
        .map(|&(h, s)| Reading::new(h, s))
        .collect();
        let a = rules.evaluate(&stream);
        assert_eq!(a.heart_rate, [false, true, true, true, false, false, false]);
        assert_eq!(a.spo2, [false, false, true, false, false, false, false]);
        assert_eq!(
            a.sustained,
            [false, false, false, true, false, false, false]
        );
        assert_eq!(a.count, 3);
        assert_eq!(a.timeline(), "·hbH···");
    }

    #[test]
    fn simulation_is_seeded_and_has_episodes() {
        let a = simulate_ward(8, 30, 7);
        assert_eq!(a, simulate_ward(8, 30, 7));
        assert_ne!(a, simulate_ward(8, 30, 8));
        let rules = AlertRules::default();
        let alerts: Vec<PatientAlerts> = a.iter().map(|s| rules.evaluate(s)).collect();
        assert!(alerts[0].heart_rate.iter().any(|&x| x), "tachycardia");
        assert!(alerts[1].heart_rate.iter().any(|&x| x), "bradycardia");
        assert!(alerts[2].spo2.iter().any(|&x| x), "desaturation");
    }

    #[test]
    fn count_widths() {
        let layout = RadixLayout::new(&PARAM_MESSAGE_2_CARRY_2_KS_PBS).unwrap();
        let count_blocks = |readings| count_blocks(readings, &layout);
        assert_eq!(count_blocks(1), 1);
        assert_eq!(count_blocks(3), 1);
        assert_eq!(count_blocks(4), 2);
        assert_eq!(count_blocks(30), 3);
        assert_eq!(count_blocks(255), 4);
        assert_eq!(count_blocks(256), 5);
    }

    #[test]
    fn invalid_rules_are_typed_errors() {
        let mut r = AlertRules::default();
        r.sustained_readings = 0;
        assert!(matches!(r.validate(), Err(Error::InvalidInput(_))));
        r.sustained_readings = 16;
        assert!(r.validate().is_err());
        let r = AlertRules {
            heart_rate_low: 130,
            heart_rate_high: 120,
            ..AlertRules::default()
        };
        assert!(r.validate().is_err());
    }
}
