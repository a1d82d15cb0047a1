//! [`SimBackend`]: the engine's [`Backend`] on the simulated accelerator. Uploading a key puts
//! it in the simulated key memory and builds the unit that will read it (the blind-rotation
//! unit for the key's polynomial size, the keyswitch unit for its output modulus); every
//! `blind_rotate_batch` and `keyswitch_batch` then runs cycle by cycle on the Verilated RTL,
//! word for word equal to the CPU backend. Nothing falls back to the CPU: a key no built unit
//! can take is refused at upload with a typed error.
//!
//! ```no_run
//! use glovebox_engine::prelude::*;
//! use glovebox_sim::backend::SimBackend;
//! let sim = SimBackend::new();
//! # let server_key: ServerKey = unimplemented!();
//! let handle = sim.upload_bootstrap_key(server_key.bootstrap_key())?;
//! // ... sim.blind_rotate_batch(&handle, &msed, &mut accumulators)?;
//! println!("{} simulated cycles", sim.counters().blind_rotation_cycles);
//! # Ok::<(), glovebox_engine::Error>(())
//! ```

use crate::br::{br_configs, BlindRotationUnit};
use crate::ks::{ks_configs, KeyMemory, KeyswitchUnit};
use glovebox_engine::algorithms::key_generation::convert_standard_lwe_bootstrap_key_to_ntt;
use glovebox_engine::backend::{
    next_backend_instance, Backend, BootstrapKeyHandle, KeyswitchKeyHandle, ResidentKeys,
};
use glovebox_engine::entities::{LweBootstrapKey, LweKeyswitchKey, NttLweBootstrapKey};
use glovebox_engine::{Error, Result};
use std::sync::Mutex;

/// The simulated device: the key memory both units read, and the keyswitch unit's lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// The key memory (bandwidth in 64-bit words per cycle, latency in cycles).
    pub memory: KeyMemory,
    /// Lanes of the keyswitch unit (a built configuration: 16, or 4 on the native torus).
    pub keyswitch_lanes: usize,
}

impl Default for SimConfig {
    /// 32 words (256 bytes) per cycle after 200 cycles: about 90 GB/s at 350 MHz, one HBM2e
    /// stack's worth; 16 keyswitch lanes.
    fn default() -> Self {
        Self {
            memory: KeyMemory {
                words_per_cycle: 32,
                latency: 200,
            },
            keyswitch_lanes: 16,
        }
    }
}

/// What the simulated units have done since the backend was made.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SimCounters {
    /// Ciphertexts blind-rotated, and the cycles the blind-rotation unit took.
    pub blind_rotations: u64,
    pub blind_rotation_cycles: u64,
    /// Ciphertexts keyswitched, and the cycles the keyswitch unit took.
    pub keyswitches: u64,
    pub keyswitch_cycles: u64,
    /// Key words read from the simulated key memory.
    pub key_words: u64,
    /// Wall-clock seconds spent simulating.
    pub wall_seconds: f64,
}

struct SimBootstrapKey {
    key: NttLweBootstrapKey,
    device_key: Vec<u64>,
    unit: Mutex<BlindRotationUnit>,
}

struct SimKeyswitchKey {
    key: LweKeyswitchKey,
    unit: Mutex<KeyswitchUnit>,
}

/// The engine's [`Backend`] on the simulated RTL (see the module documentation).
pub struct SimBackend {
    instance: u64,
    config: SimConfig,
    bsks: ResidentKeys<SimBootstrapKey>,
    ksks: ResidentKeys<SimKeyswitchKey>,
    counters: Mutex<SimCounters>,
}

impl Default for SimBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl SimBackend {
    /// The backend with [`SimConfig::default`].
    pub fn new() -> Self {
        Self::with_config(SimConfig::default())
    }

    pub fn with_config(config: SimConfig) -> Self {
        let instance = next_backend_instance();
        Self {
            instance,
            config,
            bsks: ResidentKeys::new(instance, "bootstrap key"),
            ksks: ResidentKeys::new(instance, "keyswitch key"),
            counters: Mutex::new(SimCounters::default()),
        }
    }

    pub fn config(&self) -> SimConfig {
        self.config
    }

    /// What the units have done so far.
    pub fn counters(&self) -> SimCounters {
        *self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, f: impl FnOnce(&mut SimCounters)) {
        f(&mut self.counters.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// The blind-rotation unit for `key`: the built configuration of its polynomial size.
    fn br_unit(&self, key: &NttLweBootstrapKey) -> Result<BlindRotationUnit> {
        let n = key.polynomial_size().0;
        let lanes = br_configs()
            .into_iter()
            .find(|c| c.polynomial_size == n)
            .map(|c| c.lanes)
            .ok_or_else(|| {
                let built: Vec<String> = br_configs()
                    .iter()
                    .map(|c| c.polynomial_size.to_string())
                    .collect();
                Error::InvalidParameters(format!(
                    "sim backend: no blind-rotation unit for N = {n} (built: N = {})",
                    built.join(", ")
                ))
            })?;
        let unit = BlindRotationUnit::new(n, lanes, self.config.memory)?;
        unit.check_key(key)?;
        Ok(unit)
    }
}

impl Backend for SimBackend {
    fn name(&self) -> String {
        let m = self.config.memory;
        format!(
            "sim (Verilated RTL; key memory {} words/cycle, {} cycles latency)",
            m.words_per_cycle, m.latency
        )
    }

    fn upload_bootstrap_key(&self, bsk: &LweBootstrapKey) -> Result<BootstrapKeyHandle> {
        let key = convert_standard_lwe_bootstrap_key_to_ntt(bsk)?;
        let unit = self.br_unit(&key)?;
        let device_key = BlindRotationUnit::device_key(&key);
        let slot = self.bsks.insert(SimBootstrapKey {
            key,
            device_key,
            unit: Mutex::new(unit),
        });
        Ok(BootstrapKeyHandle::new(self.instance, slot, bsk))
    }

    fn upload_keyswitch_key(&self, ksk: &LweKeyswitchKey) -> Result<KeyswitchKeyHandle> {
        let lanes = self.config.keyswitch_lanes;
        let w = ksk.output_modulus_log();
        if !ks_configs()
            .iter()
            .any(|c| c.lanes == lanes && c.output_modulus_log == w)
        {
            return Err(Error::InvalidParameters(format!(
                "sim backend: no keyswitch unit with {lanes} lanes for output modulus 2^{w}"
            )));
        }
        let unit = KeyswitchUnit::for_key(ksk, lanes, self.config.memory)?;
        // The unit checks the key's shape on every batch; check it once here as well, so a key
        // it cannot take is refused at upload.
        unit.cycle_model(ksk, 1)?;
        let slot = self.ksks.insert(SimKeyswitchKey {
            key: ksk.clone(),
            unit: Mutex::new(unit),
        });
        Ok(KeyswitchKeyHandle::new(self.instance, slot, ksk))
    }

    fn blind_rotate_batch(
        &self,
        handle: &BootstrapKeyHandle,
        msed: &[u64],
        accumulators: &mut [u64],
    ) -> Result<()> {
        let batch = handle.check_batch(msed, accumulators)?;
        if batch == 0 {
            return Ok(());
        }
        let resident = self.bsks.get(handle.backend_instance(), handle.slot())?;
        let mut unit = resident.unit.lock().unwrap_or_else(|e| e.into_inner());
        let run =
            unit.blind_rotate_batch_with(&resident.key, &resident.device_key, msed, accumulators)?;
        self.count(|c| {
            c.blind_rotations += run.ciphertexts as u64;
            c.blind_rotation_cycles += run.cycles;
            c.key_words += run.key_words;
            c.wall_seconds += run.wall_seconds;
        });
        Ok(())
    }

    fn keyswitch_batch(
        &self,
        handle: &KeyswitchKeyHandle,
        inputs: &[u64],
        outputs: &mut [u64],
    ) -> Result<()> {
        let batch = handle.check_batch(inputs, outputs)?;
        if batch == 0 {
            return Ok(());
        }
        let resident = self.ksks.get(handle.backend_instance(), handle.slot())?;
        let mut unit = resident.unit.lock().unwrap_or_else(|e| e.into_inner());
        let run = unit.keyswitch_batch_into(&resident.key, inputs, outputs)?;
        self.count(|c| {
            c.keyswitches += run.ciphertexts as u64;
            c.keyswitch_cycles += run.cycles;
            c.key_words += run.key_words;
            c.wall_seconds += run.wall_seconds;
        });
        Ok(())
    }
}
