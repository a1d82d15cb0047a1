//! The CPU FFT backend: the blind rotation's external products in the Fourier domain over f64
//! ([`crate::fft`], TFHE-rs's FFT64 arithmetic), the keyswitch as the CPU backend's (exact).
//!
//! **Contract.** Not bit for bit: the FFT rounds, so the rotated accumulators differ from the
//! exact ones ([`super::CpuBackend`], the NTT) by a small noise term of their own. What it
//! promises is what TFHE-rs's FFT64 promises: every message decrypts to f(m) with the failure
//! probability of the parameter set, the output noise that [`crate::noise`] predicts with the
//! FFT's rounding term included. Use [`super::CpuBackend`] where results must equal the
//! accelerators' word for word.
//!
//! ```no_run
//! use glovebox_engine::prelude::*;
//! let client = ClientKey::new(&PARAM_MESSAGE_2_CARRY_2_KS_PBS)?;
//! let server = client.server_key()?;
//! let backend = CpuFftBackend::new();
//! let resident = server.upload(&backend)?;
//! let table = server.generate_lookup_table(|m| (m + 1) % 4);
//! let out = resident.apply_lookup_table_batch(&[&client.encrypt(2)?], &[&table])?;
//! assert_eq!(client.decrypt(&out[0])?, 3);
//! # Ok::<(), glovebox_engine::Error>(())
//! ```

use super::cpu::blind_rotate_tiled;
use super::cpu_keyswitch::CpuKeyswitch;
use super::*;
use crate::algorithms::fourier::{fourier_cmux_rotate_assign, FourierScratch};
use crate::algorithms::key_generation::convert_standard_lwe_bootstrap_key_to_fourier;
use crate::commons::decomposition::SignedDecomposer;
use crate::entities::FourierLweBootstrapKey;
use crate::fft;

/// The CPU FFT backend (see the module documentation). Batched blind rotation reads each
/// Fourier-domain GGSW once per tile of jobs sized for a core's caches, in the loop the CPU
/// backend runs (`blind_rotate_tiled`).
pub struct CpuFftBackend {
    instance: u64,
    bsks: ResidentKeys<FourierLweBootstrapKey>,
    keyswitch: CpuKeyswitch,
}

impl Default for CpuFftBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuFftBackend {
    pub fn new() -> Self {
        let instance = next_backend_instance();
        Self {
            instance,
            bsks: ResidentKeys::new(instance, "bootstrap key"),
            keyswitch: CpuKeyswitch::new(instance),
        }
    }

    /// Keys resident now: (bootstrapping keys, keyswitch keys).
    pub fn resident_keys(&self) -> (usize, usize) {
        (self.bsks.resident(), self.keyswitch.resident())
    }
}

impl Backend for CpuFftBackend {
    fn name(&self) -> String {
        "cpu-fft".into()
    }

    fn upload_bootstrap_key(&self, bsk: &LweBootstrapKey) -> Result<BootstrapKeyHandle> {
        let key = convert_standard_lwe_bootstrap_key_to_fourier(bsk)?;
        let slot = self.bsks.insert(key);
        Ok(BootstrapKeyHandle::new(self.instance, slot, bsk))
    }

    fn upload_keyswitch_key(&self, ksk: &LweKeyswitchKey) -> Result<KeyswitchKeyHandle> {
        Ok(self.keyswitch.upload(ksk))
    }

    fn release_bootstrap_key(&self, bsk: &BootstrapKeyHandle) -> Result<()> {
        self.bsks.remove(bsk.backend_instance, bsk.slot)
    }

    fn release_keyswitch_key(&self, ksk: &KeyswitchKeyHandle) -> Result<()> {
        self.keyswitch.release(ksk)
    }

    fn blind_rotate_batch(
        &self,
        handle: &BootstrapKeyHandle,
        msed: &[u64],
        accumulators: &mut [u64],
    ) -> Result<()> {
        if handle.nonempty_batch(msed, accumulators)?.is_none() {
            return Ok(());
        }
        let bsk = self.bsks.get(handle.backend_instance, handle.slot)?;
        let n = bsk.polynomial_size().0;
        let plan = fft::plan_for(n)?;
        let in_size = bsk.input_lwe_dimension().0 + 1;
        let decomposer = SignedDecomposer::new(
            bsk.decomposition_base_log(),
            bsk.decomposition_level_count(),
        );
        blind_rotate_tiled(
            msed,
            accumulators,
            in_size,
            n,
            || FourierScratch::new(bsk.glwe_size().0, &plan),
            |acc, i, rotation, scratch| {
                let next = if i + 2 < in_size {
                    bsk.ggsw(i + 1)
                } else {
                    &[]
                };
                fourier_cmux_rotate_assign(
                    acc,
                    bsk.ggsw(i),
                    rotation,
                    &decomposer,
                    &plan,
                    scratch,
                    next,
                )
            },
        );
        Ok(())
    }

    fn keyswitch_batch(
        &self,
        handle: &KeyswitchKeyHandle,
        inputs: &[u64],
        outputs: &mut [u64],
    ) -> Result<()> {
        self.keyswitch.keyswitch_batch(handle, inputs, outputs)
    }
}
