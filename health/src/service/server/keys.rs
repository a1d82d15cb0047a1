//! The cache of expanded keys: each clinic's compressed server key expanded, uploaded to the
//! backend and its rules compiled, once (at registration, or on first use after a restart).

use super::ServiceConfig;
use crate::prelude::*;
use crate::records::value_from_ciphertexts;
use crate::service::store::Store;
use crate::service::ServiceError;
use crate::vitals::{EncryptedReading, MonitoringServer};
use glovebox_driver::DriverConfig;
use glovebox_engine::serialization::from_bytes;
use glovebox_engine::shortint::public_key::{CompactCiphertextList, CompressedCastingKey};
use glovebox_integer::{RadixCiphertext, RadixLayout};
use std::collections::HashMap;
use std::result::Result;
use std::sync::{Arc, Mutex};

/// A clinic's evaluation side: its parameters, its key's id, and the monitoring server over
/// its expanded key.
pub(super) struct ClinicMonitor {
    pub params: &'static Parameters,
    pub key_id: u64,
    pub server: MonitoringServer,
}

impl ClinicMonitor {
    /// The ciphertexts of an envelope under this clinic's parameters and key (a reading, a
    /// lab value or a reading's alerts: at most 2^20 bytes).
    pub fn ciphertexts(&self, envelope: &[u8]) -> Result<Vec<Ciphertext>, ServiceError> {
        Ok(from_bytes(
            envelope,
            self.params,
            Some(self.key_id),
            1 << 20,
        )?)
    }

    /// An encrypted reading from its envelope (a compact list under the clinic's public key).
    pub fn reading(&self, envelope: &[u8]) -> Result<EncryptedReading, ServiceError> {
        let list: CompactCiphertextList =
            from_bytes(envelope, self.params, Some(self.key_id), 1 << 20)?;
        Ok(EncryptedReading::from_list(list, self.params)?)
    }

    /// A lab value (or a running maximum) from its envelope: a batch of a `u16`'s blocks.
    pub fn value(&self, envelope: &[u8]) -> Result<RadixCiphertext, ServiceError> {
        let layout = RadixLayout::new(self.params)?;
        Ok(value_from_ciphertexts(
            self.ciphertexts(envelope)?,
            &layout,
        )?)
    }
}

/// Expanded keys by clinic.
#[derive(Default)]
pub(super) struct KeyCache {
    monitors: Mutex<HashMap<i64, Arc<ClinicMonitor>>>,
}

impl KeyCache {
    /// The clinic's monitor if it is expanded already.
    pub fn cached(&self, clinic: i64) -> Option<Arc<ClinicMonitor>> {
        self.lock().get(&clinic).cloned()
    }

    /// The clinic's monitor, expanded from its stored key if it is not cached (blocking:
    /// seconds on a real parameter set). The key is expanded without holding the cache's
    /// lock, so other clinics' requests go on meanwhile; two concurrent first uses may both
    /// expand, and the first one stored is kept.
    pub fn load(
        &self,
        store: &Store,
        config: &ServiceConfig,
        clinic: i64,
    ) -> Result<Arc<ClinicMonitor>, ServiceError> {
        if let Some(m) = self.cached(clinic) {
            return Ok(m);
        }
        let row = store
            .clinic(clinic)?
            .ok_or_else(|| ServiceError::Unauthorized("unknown clinic".into()))?;
        let params = Parameters::by_name(&row.params)?;
        let key: CompressedServerKey = from_bytes(
            &row.server_key,
            params,
            Some(row.key_id),
            row.server_key.len(),
        )?;
        let casting_bytes = row.casting_key.as_deref().ok_or_else(|| {
            ServiceError::Failed(
                "the clinic was registered without a casting key (before schema 3): it \
                 registers again"
                    .into(),
            )
        })?;
        let casting: CompressedCastingKey =
            from_bytes(casting_bytes, params, Some(row.key_id), casting_bytes.len())?;
        let server = MonitoringServer::new(
            Arc::new(key.expand()?),
            config.backend.clone(),
            config.rules.clone(),
            DriverConfig::default(),
        )?
        .with_casting_key(&casting.expand()?)?;
        let m = Arc::new(ClinicMonitor {
            params,
            key_id: row.key_id,
            server,
        });
        Ok(self.lock().entry(clinic).or_insert(m).clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<ClinicMonitor>>> {
        self.monitors.lock().unwrap_or_else(|e| e.into_inner())
    }
}
