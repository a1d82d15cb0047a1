//! The keyswitch both CPU backends run ([`super::CpuBackend`], [`super::CpuFftBackend`]):
//! exact, the same words on either, so they share the keys it keeps and the code.

use super::*;
use crate::algorithms::keyswitch::{initial_body, sub_scaled_assign};
use crate::commons::decomposition::SignedDecomposer;
use rayon::prelude::*;

/// The keyswitch keys a CPU backend keeps, and the batched keyswitch over them.
pub(crate) struct CpuKeyswitch {
    instance: u64,
    keys: ResidentKeys<LweKeyswitchKey>,
}

impl CpuKeyswitch {
    /// The keyswitch of backend `instance`.
    pub fn new(instance: u64) -> Self {
        Self {
            instance,
            keys: ResidentKeys::new(instance, "keyswitch key"),
        }
    }

    /// Keeps `ksk` (the CPU reads it in its standard layout); returns its handle.
    pub fn upload(&self, ksk: &LweKeyswitchKey) -> KeyswitchKeyHandle {
        let slot = self.keys.insert(ksk.clone());
        KeyswitchKeyHandle::new(self.instance, slot, ksk)
    }

    /// Keys resident now.
    pub fn resident(&self) -> usize {
        self.keys.resident()
    }

    /// [`Backend::release_keyswitch_key`] on the CPU.
    pub fn release(&self, handle: &KeyswitchKeyHandle) -> Result<()> {
        self.keys.remove(handle.backend_instance, handle.slot)
    }

    /// [`Backend::keyswitch_batch`] on the CPU.
    pub fn keyswitch_batch(
        &self,
        handle: &KeyswitchKeyHandle,
        inputs: &[u64],
        outputs: &mut [u64],
    ) -> Result<()> {
        let Some(batch) = handle.nonempty_batch(inputs, outputs)? else {
            return Ok(());
        };
        let ksk = self.keys.get(handle.backend_instance, handle.slot)?;
        keyswitch_batch_on_cpu(&ksk, inputs, outputs, batch)
    }
}

/// The batched keyswitch both CPU backends run (exact: the same words on either): the digits
/// of every input first, then each thread owns a range of output columns for the whole batch
/// and streams the key's matching columns once, so the key is read once per batch, not once
/// per ciphertext.
fn keyswitch_batch_on_cpu(
    ksk: &LweKeyswitchKey,
    inputs: &[u64],
    outputs: &mut [u64],
    batch: usize,
) -> Result<()> {
    let n_in = ksk.input_lwe_dimension().0;
    let out_size = ksk.output_lwe_dimension().0 + 1;
    let levels = ksk.decomposition_level_count().0;
    let decomposer = SignedDecomposer::new(
        ksk.decomposition_base_log(),
        ksk.decomposition_level_count(),
    );
    // Digits of every input: batch × n_in × ℓ, level ℓ first (the key's row order).
    let mut digits = vec![0u64; batch * n_in * levels];
    digits
        .par_chunks_exact_mut(n_in * levels)
        .zip(inputs.par_chunks_exact(n_in + 1))
        .for_each(|(d, input)| {
            for (i, &a) in input[..n_in].iter().enumerate() {
                let mut state = decomposer.init_state(a);
                for l in 0..levels {
                    d[i * levels + l] = decomposer.next_digit(&mut state);
                }
            }
        });
    // Each thread owns a range of output columns for the whole batch and streams the
    // key's matching columns once (two ranges per thread, for balance; on one thread, whole
    // rows, the one sequential stream the hardware prefetcher follows best).
    let threads = rayon::current_num_threads().max(1);
    let tasks = if threads == 1 { 1 } else { threads * 2 };
    let cols_per_task = out_size.div_ceil(tasks).max(16);
    let column_ranges: Vec<(usize, usize)> = (0..out_size)
        .step_by(cols_per_task)
        .map(|c0| (c0, (c0 + cols_per_task).min(out_size)))
        .collect();
    let key = ksk.as_slice();
    let partials: Vec<Vec<u64>> = column_ranges
        .par_iter()
        .map(|&(c0, c1)| {
            let w = c1 - c0;
            let mut acc = vec![0u64; batch * w];
            for i in 0..n_in {
                for l in 0..levels {
                    let row =
                        &key[(i * levels + l) * out_size + c0..(i * levels + l) * out_size + c1];
                    for (j, acc_j) in acc.chunks_exact_mut(w).enumerate() {
                        let d = digits[(j * n_in + i) * levels + l];
                        if d != 0 {
                            sub_scaled_assign(acc_j, row, d);
                        }
                    }
                }
            }
            acc
        })
        .collect();
    for (j, out) in outputs.chunks_exact_mut(out_size).enumerate() {
        for (&(c0, c1), part) in column_ranges.iter().zip(&partials) {
            let w = c1 - c0;
            out[c0..c1].copy_from_slice(&part[j * w..(j + 1) * w]);
        }
        let body = &mut out[out_size - 1];
        *body = body.wrapping_add(initial_body(ksk, inputs[j * (n_in + 1) + n_in]));
    }
    Ok(())
}
