//! Generation of the evaluation keys and the conversion of the bootstrapping key to the NTT
//! domain.

use super::encryption::{encrypt_constant_ggsw_into, encrypt_lwe_into, PreparedGlweKey};
use crate::commons::dimensions::*;
use crate::commons::modp;
use crate::commons::random::{CsprngGenerator, MaskGenerator, NoiseDistribution, SeededEncryption};
use crate::entities::*;
use crate::error::Result;
use crate::ntt;
use rayon::prelude::*;

/// Generates the bootstrapping key: a GGSW encryption of each bit of `input_key` under
/// `output_key`, in parallel (one forked generator per GGSW). `progress` is called with the
/// number of GGSWs finished so far.
pub fn generate_lwe_bootstrap_key(
    input_key: &LweSecretKey,
    output_key: &GlweSecretKey,
    base_log: DecompositionBaseLog,
    level_count: DecompositionLevelCount,
    noise: NoiseDistribution,
    generator: &mut CsprngGenerator,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<LweBootstrapKey> {
    let prepared = PreparedGlweKey::new(output_key)?;
    let n = output_key.polynomial_size();
    let glwe_size = output_key.glwe_dimension().to_glwe_size();
    let ggsw_size = GgswCiphertext::size(glwe_size, n, level_count);
    let in_dim = input_key.lwe_dimension();
    let mut data = vec![0u64; in_dim.0 * ggsw_size];
    let mut generators: Vec<CsprngGenerator> = (0..in_dim.0).map(|_| generator.fork()).collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    data.par_chunks_exact_mut(ggsw_size)
        .zip(generators.par_iter_mut())
        .zip(input_key.as_slice().par_iter())
        .for_each(|((ggsw, g), &bit)| {
            encrypt_constant_ggsw_into(ggsw, &prepared, bit, base_log, level_count, noise, g);
            let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(d);
        });
    LweBootstrapKey::from_container(data, in_dim, glwe_size, n, base_log, level_count)
}

/// Converts a standard-domain bootstrapping key to the NTT domain: each polynomial is switched
/// from Z/2^64Z to Z/pZ as TFHE-rs's `convert_standard_lwe_bootstrap_key_to_ntt64` does,
/// transformed, and scaled by N^{−1} (see [`NttLweBootstrapKey`]).
pub fn convert_standard_lwe_bootstrap_key_to_ntt(
    bsk: &LweBootstrapKey,
) -> Result<NttLweBootstrapKey> {
    let n = bsk.polynomial_size().0;
    let plan = ntt::plan_for(n)?;
    let mut data = bsk.as_slice().to_vec();
    data.par_chunks_exact_mut(n).for_each(|poly| {
        for x in poly.iter_mut() {
            *x = modp::from_power_of_two(*x, 64);
        }
        plan.fwd(poly);
        plan.scale(poly, plan.n_inv());
    });
    Ok(NttLweBootstrapKey {
        data,
        input_lwe_dimension: bsk.input_lwe_dimension,
        glwe_size: bsk.glwe_size,
        polynomial_size: bsk.polynomial_size,
        base_log: bsk.base_log,
        level_count: bsk.level_count,
    })
}

/// The bootstrapping key in the Fourier domain ([`FourierLweBootstrapKey`]), for the CPU FFT
/// backend.
pub fn convert_standard_lwe_bootstrap_key_to_fourier(
    bsk: &LweBootstrapKey,
) -> Result<FourierLweBootstrapKey> {
    let n = bsk.polynomial_size().0;
    let plan = crate::fft::plan_for(n)?;
    let mut data = vec![crate::fft::c64::new(0.0, 0.0); bsk.as_slice().len() / 2];
    data.par_chunks_exact_mut(n / 2)
        .zip(bsk.as_slice().par_chunks_exact(n))
        .for_each_init(
            || plan.scratch(),
            |scratch, (f, poly)| plan.forward_torus(f, poly, scratch),
        );
    Ok(FourierLweBootstrapKey {
        data,
        input_lwe_dimension: bsk.input_lwe_dimension,
        glwe_size: bsk.glwe_size,
        polynomial_size: bsk.polynomial_size,
        base_log: bsk.base_log,
        level_count: bsk.level_count,
    })
}

/// Generates the keyswitch key from `input_key` to `output_key` with output modulus
/// 2^`output_modulus_log`: block `i`, entry `j` encrypts `s_i · 2^(64 − b·(ℓ − j))`.
pub fn generate_lwe_keyswitch_key(
    input_key: &LweSecretKey,
    output_key: &LweSecretKey,
    base_log: DecompositionBaseLog,
    level_count: DecompositionLevelCount,
    output_modulus_log: u32,
    noise: NoiseDistribution,
    generator: &mut CsprngGenerator,
) -> Result<LweKeyswitchKey> {
    let out_size = output_key.lwe_dimension().0 + 1;
    let block = level_count.0 * out_size;
    let mut data = vec![0u64; input_key.lwe_dimension().0 * block];
    let mut generators: Vec<CsprngGenerator> = (0..input_key.lwe_dimension().0)
        .map(|_| generator.fork())
        .collect();
    data.par_chunks_exact_mut(block)
        .zip(generators.par_iter_mut())
        .zip(input_key.as_slice().par_iter())
        .for_each(|((block, g), &s)| {
            for (j, ct) in block.chunks_exact_mut(out_size).enumerate() {
                let level = level_count.0 - j;
                let plaintext = s.wrapping_shl((64 - base_log.0 * level) as u32);
                encrypt_lwe_into(
                    ct,
                    output_key.as_slice(),
                    plaintext,
                    noise,
                    output_modulus_log,
                    g,
                );
            }
        });
    LweKeyswitchKey::from_container(
        data,
        input_key.lwe_dimension(),
        output_key.lwe_dimension(),
        base_log,
        level_count,
        output_modulus_log,
    )
}

/// [`generate_lwe_bootstrap_key`] with every mask drawn from `mask_seed` (stream `i` for GGSW
/// `i`) and every error from `generator`: the key travels as its bodies and the seed
/// ([`SeededLweBootstrapKey::decompress`] gives the full key back).
#[allow(clippy::too_many_arguments)]
pub fn generate_seeded_lwe_bootstrap_key(
    input_key: &LweSecretKey,
    output_key: &GlweSecretKey,
    base_log: DecompositionBaseLog,
    level_count: DecompositionLevelCount,
    noise: NoiseDistribution,
    mask_seed: [u8; 32],
    generator: &mut CsprngGenerator,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<SeededLweBootstrapKey> {
    let prepared = PreparedGlweKey::new(output_key)?;
    let n = output_key.polynomial_size();
    let glwe_size = output_key.glwe_dimension().to_glwe_size();
    let ggsw_size = GgswCiphertext::size(glwe_size, n, level_count);
    let per_ggsw = SeededLweBootstrapKey::bodies_per_ggsw(glwe_size, n, level_count);
    let in_dim = input_key.lwe_dimension();
    let mut bodies = vec![0u64; in_dim.0 * per_ggsw];
    let mut generators: Vec<CsprngGenerator> = (0..in_dim.0).map(|_| generator.fork()).collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let row = glwe_size.0 * n.0;
    bodies
        .par_chunks_exact_mut(per_ggsw)
        .zip(generators.par_iter_mut())
        .zip(input_key.as_slice().par_iter())
        .enumerate()
        .for_each_init(
            || vec![0u64; ggsw_size],
            |ggsw, (i, ((out, g), &bit))| {
                let mut masks = MaskGenerator::new(mask_seed, i as u64);
                let mut randomness = SeededEncryption {
                    mask: &mut masks,
                    noise: g,
                };
                encrypt_constant_ggsw_into(
                    ggsw,
                    &prepared,
                    bit,
                    base_log,
                    level_count,
                    noise,
                    &mut randomness,
                );
                for (body, full) in out.chunks_exact_mut(n.0).zip(ggsw.chunks_exact(row)) {
                    body.copy_from_slice(&full[row - n.0..]);
                }
                let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress(d);
            },
        );
    SeededLweBootstrapKey::from_container(
        bodies,
        mask_seed,
        in_dim,
        glwe_size,
        n,
        base_log,
        level_count,
    )
}

/// [`generate_lwe_keyswitch_key`] with every mask drawn from `mask_seed` (stream `i` for
/// block `i`) and every error from `generator`.
#[allow(clippy::too_many_arguments)]
pub fn generate_seeded_lwe_keyswitch_key(
    input_key: &LweSecretKey,
    output_key: &LweSecretKey,
    base_log: DecompositionBaseLog,
    level_count: DecompositionLevelCount,
    output_modulus_log: u32,
    noise: NoiseDistribution,
    mask_seed: [u8; 32],
    generator: &mut CsprngGenerator,
) -> Result<SeededLweKeyswitchKey> {
    crate::entities::check_keyswitch_decomposition(base_log, level_count, output_modulus_log)?;
    let out_size = output_key.lwe_dimension().0 + 1;
    let levels = level_count.0;
    let mut bodies = vec![0u64; input_key.lwe_dimension().0 * levels];
    let mut generators: Vec<CsprngGenerator> = (0..input_key.lwe_dimension().0)
        .map(|_| generator.fork())
        .collect();
    bodies
        .par_chunks_exact_mut(levels)
        .zip(generators.par_iter_mut())
        .zip(input_key.as_slice().par_iter())
        .enumerate()
        .for_each(|(i, ((out, g), &s))| {
            let mut masks = MaskGenerator::new(mask_seed, i as u64);
            let mut randomness = SeededEncryption {
                mask: &mut masks,
                noise: g,
            };
            let mut ct = vec![0u64; out_size];
            for (j, body) in out.iter_mut().enumerate() {
                let level = levels - j;
                let plaintext = s.wrapping_shl((64 - base_log.0 * level) as u32);
                encrypt_lwe_into(
                    &mut ct,
                    output_key.as_slice(),
                    plaintext,
                    noise,
                    output_modulus_log,
                    &mut randomness,
                );
                *body = ct[out_size - 1];
            }
        });
    SeededLweKeyswitchKey::from_container(
        bodies,
        mask_seed,
        input_key.lwe_dimension(),
        output_key.lwe_dimension(),
        base_log,
        level_count,
        output_modulus_log,
    )
}
