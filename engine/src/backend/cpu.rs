//! The reference backend: the engine's own algorithms, batched, on all cores with rayon.

use super::cpu_keyswitch::CpuKeyswitch;
use super::*;
use crate::algorithms::external_product::{cmux_rotate_assign, ExternalProductScratch};
use crate::algorithms::key_generation::convert_standard_lwe_bootstrap_key_to_ntt;
use crate::algorithms::polynomial::monomial_div_assign;
use crate::commons::decomposition::SignedDecomposer;
use crate::entities::NttLweBootstrapKey;
use crate::ntt;
use rayon::prelude::*;
use std::sync::Arc;

/// The CPU backend. Batched blind rotation reads each bootstrapping-key GGSW once per tile of
/// jobs sized for a core's caches ([`blind_rotate_tiled`]), and the batched keyswitch splits the *output columns* across threads so the 60 MB keyswitch key is
/// read once per batch, not once per ciphertext.
pub struct CpuBackend {
    instance: u64,
    bsks: ResidentKeys<NttLweBootstrapKey>,
    keyswitch: CpuKeyswitch,
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuBackend {
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

    fn bsk(&self, h: &BootstrapKeyHandle) -> Result<Arc<NttLweBootstrapKey>> {
        self.bsks.get(h.backend_instance, h.slot)
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        "cpu".into()
    }

    fn upload_bootstrap_key(&self, bsk: &LweBootstrapKey) -> Result<BootstrapKeyHandle> {
        let ntt_bsk = convert_standard_lwe_bootstrap_key_to_ntt(bsk)?;
        let slot = self.bsks.insert(ntt_bsk);
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
        let bsk = self.bsk(handle)?;
        let n = bsk.polynomial_size().0;
        let plan = ntt::plan_for(n)?;
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
            || ExternalProductScratch::new(bsk.glwe_size().0, n),
            |acc, i, rotation, scratch| {
                cmux_rotate_assign(acc, bsk.ggsw(i), rotation, &decomposer, &plan, scratch)
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

/// Bytes of accumulators one tile of the batched blind rotation keeps in a core's caches:
/// half of a 1 MiB L2, leaving the other half to the GGSW being applied (64 KiB on the
/// default set) and the external product's temporaries (about 130 KiB).
pub(crate) const BLIND_ROTATION_TILE_BYTES: usize = 512 * 1024;

/// The batched blind rotation both CPU backends run. The batch is cut into tiles, each small
/// enough for its accumulators to stay in one core's L2 ([`BLIND_ROTATION_TILE_BYTES`]) and
/// no larger than an equal share of the threads; each tile runs on one thread, with one
/// scratch, and applies GGSW `i` to every job of the tile before GGSW `i + 1`, so a GGSW is
/// fetched from memory once per tile (TFHE-rs fetches the whole key once per ciphertext).
/// `cmux(acc, i, rotation, scratch)` applies GGSW `i` with the job's rotation `a_i`;
/// accumulators are `acc_size`-word GLWE ciphertexts of polynomials of `n` words, `msed` the
/// modulus-switched inputs of `in_size` words each (mask, then body).
pub(crate) fn blind_rotate_tiled<S>(
    msed: &[u64],
    accumulators: &mut [u64],
    in_size: usize,
    n: usize,
    new_scratch: impl Fn() -> S + Sync,
    cmux: impl Fn(&mut [u64], usize, usize, &mut S) + Sync,
) {
    let batch = msed.len() / in_size;
    if batch == 0 {
        return;
    }
    let acc_size = accumulators.len() / batch;
    let threads = rayon::current_num_threads().max(1);
    let by_cache = (BLIND_ROTATION_TILE_BYTES / (acc_size * 8)).max(1);
    let tile = by_cache.min(batch.div_ceil(threads));
    accumulators
        .par_chunks_mut(tile * acc_size)
        .zip(msed.par_chunks(tile * in_size))
        .for_each(|(accs, ms)| {
            let mut scratch = new_scratch();
            for i in 0..in_size - 1 {
                for (acc, m) in accs
                    .chunks_exact_mut(acc_size)
                    .zip(ms.chunks_exact(in_size))
                {
                    cmux(acc, i, m[i] as usize, &mut scratch);
                }
            }
            for (acc, m) in accs
                .chunks_exact_mut(acc_size)
                .zip(ms.chunks_exact(in_size))
            {
                for poly in acc.chunks_exact_mut(n) {
                    monomial_div_assign(poly, m[in_size - 1] as usize);
                }
            }
        });
}

impl NttBackend for CpuBackend {
    fn ntt_forward_batch(&self, polynomial_size: PolynomialSize, data: &mut [u64]) -> Result<()> {
        check_poly_batch(polynomial_size, data)?;
        let plan = ntt::plan_for(polynomial_size.0)?;
        data.par_chunks_exact_mut(polynomial_size.0)
            .for_each(|p| plan.fwd(p));
        Ok(())
    }

    fn ntt_inverse_batch(&self, polynomial_size: PolynomialSize, data: &mut [u64]) -> Result<()> {
        check_poly_batch(polynomial_size, data)?;
        let plan = ntt::plan_for(polynomial_size.0)?;
        data.par_chunks_exact_mut(polynomial_size.0)
            .for_each(|p| plan.inv(p));
        Ok(())
    }
}
