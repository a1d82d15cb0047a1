//! The secret key's side: the clinic (keys, provisioning, decryption) and its devices.

use super::encrypted::{EncryptedAlerts, EncryptedReading};
use super::rules::{PatientAlerts, Reading};
use crate::prelude::*;
use crate::Result;
use glovebox_engine::Error as EngineError;
use glovebox_integer::{
    decrypt_bool, decrypt_radix, encrypt_radix, BoolCiphertext, RadixCiphertext, RadixLayout,
};
use std::sync::Arc;

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
