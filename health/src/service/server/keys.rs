//! The cache of expanded keys: each clinic's compressed server and casting keys expanded,
//! uploaded to the backend and its rules compiled, once (at registration, or on first use
//! after a restart or an eviction), within a memory budget (`--key-cache-mb`).

use super::ServiceConfig;
use crate::prelude::*;
use crate::records::value_from_ciphertexts;
use crate::service::store::{Quotas, Store};
use crate::service::ServiceError;
use crate::vitals::{EncryptedReading, MonitoringServer};
use glovebox_driver::DriverConfig;
use glovebox_engine::serialization::from_bytes;
use glovebox_engine::shortint::public_key::{
    compact_parameters_for, CompactCiphertextList, CompressedCastingKey,
};
use glovebox_integer::{RadixCiphertext, RadixLayout};
use std::collections::HashMap;
use std::result::Result;
use std::sync::{Arc, Condvar, Mutex};

/// A clinic's evaluation side: its parameters, its key's id, and the monitoring server over
/// its expanded key.
pub(super) struct ClinicMonitor {
    pub params: &'static Parameters,
    pub key_id: u64,
    pub server: MonitoringServer,
    pub quotas: Quotas,
    /// Readings the clinic may post now (a bucket of two seconds' worth, refilled at
    /// `quotas.readings_per_second`), and when it was last refilled.
    bucket: Mutex<(f64, std::time::Instant)>,
}

impl ClinicMonitor {
    /// Takes `n` readings from the clinic's rate bucket, or refuses them all (429); a batch
    /// larger than the bucket can ever hold is a 400.
    pub fn take_readings(&self, n: usize) -> Result<(), ServiceError> {
        let rate = self.quotas.readings_per_second as f64;
        if n as f64 > 2.0 * rate {
            return Err(ServiceError::BadRequest(format!(
                "a batch of {n} readings: the clinic's rate of {} a second takes at most {} at \
                 once",
                self.quotas.readings_per_second,
                2 * self.quotas.readings_per_second
            )));
        }
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        let (tokens, last) = *bucket;
        let tokens = (tokens + rate * now.duration_since(last).as_secs_f64()).min(2.0 * rate);
        if (n as f64) > tokens {
            *bucket = (tokens, now);
            return Err(ServiceError::Quota(format!(
                "{n} readings over the clinic's rate of {} a second; retry in {:.1} s",
                self.quotas.readings_per_second,
                (n as f64 - tokens) / rate.max(1e-9)
            )));
        }
        *bucket = (tokens - n as f64, now);
        Ok(())
    }

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

/// One cache entry: being expanded (others wait for it: single flight), or ready.
enum Slot {
    Loading,
    Ready {
        monitor: Arc<ClinicMonitor>,
        bytes: usize,
        last_used: u64,
    },
}

/// Expanded keys by clinic, least recently used evicted past a memory budget; each clinic's
/// key is expanded once however many requests wait for it.
pub(super) struct KeyCache {
    budget_bytes: usize,
    slots: Mutex<(HashMap<i64, Slot>, u64)>,
    loaded: Condvar,
    /// Keys expanded from the store so far (registrations not counted).
    expansions: std::sync::atomic::AtomicU64,
}

/// The memory a clinic's expanded keys take, host and backend: the standard-domain server key
/// the monitor keeps, the backend's converted copy (as large), and the casting key.
pub(super) fn monitor_bytes(params: &Parameters) -> usize {
    let casting = compact_parameters_for(params).map_or(0, |pke| {
        8 * pke.lwe_dimension.0 * pke.casting_level.0 * (params.lwe_dimension.0 + 1)
    });
    2 * (params.bootstrap_key_bytes() + params.keyswitch_key_bytes()) + casting
}

impl KeyCache {
    /// A cache of at most `budget_bytes` of expanded keys (one clinic's is always kept, even
    /// over the budget).
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            budget_bytes,
            slots: Mutex::new((HashMap::new(), 0)),
            loaded: Condvar::new(),
            expansions: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The clinic's monitor if it is expanded already (counts as a use).
    pub fn cached(&self, clinic: i64) -> Option<Arc<ClinicMonitor>> {
        let mut guard = self.lock();
        let (slots, tick) = &mut *guard;
        *tick += 1;
        match slots.get_mut(&clinic) {
            Some(Slot::Ready {
                monitor, last_used, ..
            }) => {
                *last_used = *tick;
                Some(monitor.clone())
            }
            _ => None,
        }
    }

    /// Keys expanded from the store so far.
    pub fn expansions(&self) -> u64 {
        self.expansions.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Expanded keys resident now: (clinics, bytes).
    pub fn resident(&self) -> (usize, usize) {
        let guard = self.lock();
        guard.0.values().fold((0, 0), |(n, b), s| match s {
            Slot::Ready { bytes, .. } => (n + 1, b + bytes),
            Slot::Loading => (n, b),
        })
    }

    /// The clinic's monitor, expanded from its stored keys if it is not cached (blocking:
    /// seconds on a real parameter set). One caller expands; concurrent callers for the same
    /// clinic wait for its result. Other clinics' requests go on meanwhile. Past the budget,
    /// the least recently used clinics are evicted (their keys freed on the backend once no
    /// job holds them).
    pub fn load(
        &self,
        store: &Store,
        config: &ServiceConfig,
        clinic: i64,
    ) -> Result<Arc<ClinicMonitor>, ServiceError> {
        {
            let mut guard = self.lock();
            loop {
                let (slots, tick) = &mut *guard;
                *tick += 1;
                match slots.get_mut(&clinic) {
                    Some(Slot::Ready {
                        monitor, last_used, ..
                    }) => {
                        *last_used = *tick;
                        return Ok(monitor.clone());
                    }
                    Some(Slot::Loading) => {
                        guard = self.loaded.wait(guard).unwrap_or_else(|e| e.into_inner());
                    }
                    None => {
                        slots.insert(clinic, Slot::Loading);
                        break;
                    }
                }
            }
        }
        self.expansions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // If the expansion unwinds (a panic), the `Loading` slot is cleared and its waiters
        // woken, so that they load again rather than wait for ever.
        struct Unload<'a> {
            cache: &'a KeyCache,
            clinic: i64,
            armed: bool,
        }
        impl Drop for Unload<'_> {
            fn drop(&mut self) {
                if self.armed {
                    self.cache.lock().0.remove(&self.clinic);
                    self.cache.loaded.notify_all();
                }
            }
        }
        let mut unload = Unload {
            cache: self,
            clinic,
            armed: true,
        };
        let expanded = store
            .clinic(clinic)
            .map_err(ServiceError::from)
            .and_then(|row| {
                let row = row.ok_or_else(|| ServiceError::Unauthorized("unknown clinic".into()))?;
                let casting = row.casting_key.as_deref().ok_or_else(|| {
                    ServiceError::Failed(
                        "the clinic was registered without a casting key (before schema 3): \
                         it registers again"
                            .into(),
                    )
                })?;
                expand(
                    config,
                    &row.params,
                    row.key_id,
                    &row.server_key,
                    casting,
                    row.quotas,
                )
            });
        unload.armed = false;
        Ok(self.insert(clinic, expanded)?)
    }

    /// Puts a monitor expanded by its caller (registration) in the cache.
    pub fn put(&self, clinic: i64, monitor: Arc<ClinicMonitor>) {
        self.lock().0.insert(clinic, Slot::Loading);
        let _ = self.insert(clinic, Ok(monitor));
    }

    /// Ends a load: the result in place of the `Loading` slot (nothing on failure), evictions
    /// past the budget, waiters woken.
    fn insert(
        &self,
        clinic: i64,
        expanded: Result<Arc<ClinicMonitor>, ServiceError>,
    ) -> Result<Arc<ClinicMonitor>, ServiceError> {
        let mut evicted = Vec::new();
        {
            let mut guard = self.lock();
            let (slots, tick) = &mut *guard;
            *tick += 1;
            match &expanded {
                Ok(m) => {
                    slots.insert(
                        clinic,
                        Slot::Ready {
                            monitor: m.clone(),
                            bytes: monitor_bytes(m.params),
                            last_used: *tick,
                        },
                    );
                    let total = |s: &HashMap<i64, Slot>| {
                        s.values()
                            .map(|x| match x {
                                Slot::Ready { bytes, .. } => *bytes,
                                Slot::Loading => 0,
                            })
                            .sum::<usize>()
                    };
                    while total(slots) > self.budget_bytes {
                        let oldest = slots
                            .iter()
                            .filter_map(|(id, s)| match s {
                                Slot::Ready { last_used, .. } if *id != clinic => {
                                    Some((*last_used, *id))
                                }
                                _ => None,
                            })
                            .min();
                        let Some((_, id)) = oldest else { break };
                        evicted.extend(slots.remove(&id));
                    }
                }
                Err(_) => {
                    slots.remove(&clinic);
                }
            }
        }
        self.loaded.notify_all();
        // Dropped outside the lock: a monitor no job holds drops its driver, which joins its
        // threads and frees its keys on the backend.
        drop(evicted);
        expanded
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<i64, Slot>, u64)> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A clinic's monitor from its stored bytes: the compressed server key expanded, the casting
/// key expanded, both uploaded to the backend through a new driver, the rules compiled.
pub(super) fn expand(
    config: &ServiceConfig,
    params: &str,
    key_id: u64,
    server_key: &[u8],
    casting_key: &[u8],
    quotas: Quotas,
) -> Result<Arc<ClinicMonitor>, ServiceError> {
    let params = Parameters::by_name(params)?;
    let key: CompressedServerKey = from_bytes(server_key, params, Some(key_id), server_key.len())?;
    let casting: CompressedCastingKey =
        from_bytes(casting_key, params, Some(key_id), casting_key.len())?;
    let server = MonitoringServer::new(
        Arc::new(key.expand()?),
        config.backend.clone(),
        config.rules.clone(),
        DriverConfig {
            schedule: Some(config.backend_schedule.clone()),
            ..DriverConfig::default()
        },
    )?
    .with_casting_key(&casting.expand()?)?;
    Ok(Arc::new(ClinicMonitor {
        params,
        key_id,
        server,
        quotas,
        bucket: Mutex::new((
            2.0 * quotas.readings_per_second as f64,
            std::time::Instant::now(),
        )),
    }))
}
