//! The secret key's side: the clinic (keys, provisioning, decryption) and its devices.

use super::encrypted::{EncryptedAlerts, EncryptedReading};
use super::rules::{PatientAlerts, Reading};
use crate::prelude::*;
use crate::Result;
use glovebox_engine::shortint::public_key::{
    CastingKey, CompactPrivateKey, CompactPublicKey, CompressedCastingKey,
};
use glovebox_engine::Error as EngineError;
use glovebox_integer::{
    decrypt_bool, decrypt_radix, encrypt_radix, BoolCiphertext, RadixCiphertext, RadixLayout,
};
use std::sync::Arc;

/// The clinic: owns the secret keys (the client key, and the compact key its devices'
/// public key belongs to), provisions devices with the public key, produces the server's keys
/// (evaluation and casting), decrypts.
pub struct Clinic {
    key: Arc<ClientKey>,
    compact: CompactPrivateKey,
    public: CompactPublicKey,
}

impl Clinic {
    /// Generates the clinic's secret keys (cryptographic RNG): the client key, and the
    /// compact key of the parameters paired with its set
    /// ([`glovebox_engine::shortint::public_key::compact_parameters_for`]).
    pub fn new(params: &Parameters) -> Result<Self> {
        let key = ClientKey::new(params)?;
        let compact = CompactPrivateKey::new(&key)?;
        Self::from_keys(key, compact)
    }

    /// A clinic from its stored secret keys (its own files, [`Self::client_key`] and
    /// [`Self::compact_key`]); the devices' public key is derived afresh (any public key of
    /// the compact key encrypts for the same clinic).
    pub fn from_keys(key: ClientKey, compact: CompactPrivateKey) -> Result<Self> {
        if compact.key_id() != key.key_id() {
            return Err(EngineError::KeyMismatch {
                expected: key.key_id(),
                got: compact.key_id(),
            }
            .into());
        }
        let public = compact.public_key()?;
        Ok(Self {
            key: Arc::new(key),
            compact,
            public,
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

    /// The secret key, to keep in the clinic's files (never sent anywhere).
    pub fn client_key(&self) -> &ClientKey {
        &self.key
    }

    /// The compact secret key, to keep in the clinic's files (never sent anywhere).
    pub fn compact_key(&self) -> &CompactPrivateKey {
        &self.compact
    }

    /// The public key the clinic's devices encrypt with.
    pub fn public_key(&self) -> &CompactPublicKey {
        &self.public
    }

    /// The server's key for casting the devices' readings into the client key (with the
    /// server key, what a monitoring server needs: [`super::MonitoringServer::with_casting_key`]).
    pub fn casting_key(&self) -> Result<CastingKey> {
        Ok(self.compact.casting_key(&self.key)?)
    }

    /// The same, compressed, to upload to a service.
    pub fn compressed_casting_key(&self) -> Result<CompressedCastingKey> {
        Ok(self.compact.compressed_casting_key(&self.key)?)
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

    /// A device paired with this clinic: it holds the clinic's public key, nothing secret.
    pub fn provision_device(&self) -> Device {
        Device::new(self.public.clone())
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

/// A wearable provisioned by the clinic. It holds the clinic's compact public key and nothing
/// from which a secret key can be had: taken apart, it decrypts nothing.
#[derive(Clone, Debug)]
pub struct Device {
    public: CompactPublicKey,
}

impl Device {
    /// A device holding `public` (e.g. read back from its own files).
    pub fn new(public: CompactPublicKey) -> Self {
        Self { public }
    }

    pub fn public_key(&self) -> &CompactPublicKey {
        &self.public
    }

    /// Encrypts a reading as one packed compact list of four nibbles: heart rate's high and
    /// low, then SpO2's ([`EncryptedReading`]).
    pub fn encrypt(&self, reading: Reading) -> Result<EncryptedReading> {
        let nibbles = [reading.heart_rate, reading.spo2]
            .into_iter()
            .flat_map(|v| [v as u64 / 16, v as u64 % 16])
            .collect::<Vec<_>>();
        Ok(EncryptedReading {
            list: self.public.encrypt_packed(&nibbles)?,
        })
    }
}
