//! The modulus switch from Z/2^64Z to Z/2NZ that precedes the blind rotation.

use crate::entities::LweCiphertext;
use crate::parameters::ModulusSwitchType;

/// `round(x · 2^log_modulus / 2^64) mod 2^log_modulus` (TFHE-rs `modulus_switch`).
#[inline(always)]
pub fn modulus_switch(x: u64, log_modulus: u32) -> u64 {
    if log_modulus == 64 {
        return x;
    }
    x.wrapping_add(1u64 << (64 - log_modulus - 1)) >> (64 - log_modulus)
}

/// The value TFHE-rs's centered-mean modulus switch adds to the body before switching:
/// the sum of halves of the mask rounding errors, minus half a step
/// (`centered_binary_ms_body_correction_to_add`).
pub fn centered_body_correction(mask: &[u64], log_modulus: u32) -> u64 {
    let round = |a: u64| modulus_switch(a, log_modulus) << (64 - log_modulus);
    let mut sum_half_errors = 0u64;
    let mut sum_halving_errors_doubled = 0i64;
    for &a in mask {
        let signed_error = round(a).wrapping_sub(a) as i64;
        let half_error = signed_error / 2;
        let halving_error_doubled = 2 * half_error - signed_error;
        sum_half_errors = sum_half_errors.wrapping_add(half_error as u64);
        sum_halving_errors_doubled += halving_error_doubled;
    }
    let sum_halving_errors = (sum_halving_errors_doubled / 2) as u64;
    let sum_half_errors = sum_half_errors.wrapping_sub(sum_halving_errors);
    let half_case = 1u64 << (64 - log_modulus - 1);
    sum_half_errors.wrapping_sub(half_case)
}

/// Switches an LWE ciphertext to Z/2^log_modulus Z: mask then body, each in `[0, 2^log_modulus)`.
pub fn lwe_modulus_switch_into(
    out: &mut [u64],
    ct: &LweCiphertext,
    log_modulus: u32,
    kind: ModulusSwitchType,
) {
    let mask = ct.mask();
    for (o, &a) in out.iter_mut().zip(mask) {
        *o = modulus_switch(a, log_modulus);
    }
    let correction = match kind {
        ModulusSwitchType::Standard => 0,
        ModulusSwitchType::CenteredMeanNoiseReduction => {
            centered_body_correction(mask, log_modulus)
        }
    };
    out[mask.len()] = modulus_switch(ct.body().wrapping_add(correction), log_modulus);
}

/// Allocating variant of [`lwe_modulus_switch_into`].
pub fn lwe_modulus_switch(
    ct: &LweCiphertext,
    log_modulus: u32,
    kind: ModulusSwitchType,
) -> Vec<u64> {
    let mut out = vec![0u64; ct.lwe_size().0];
    lwe_modulus_switch_into(&mut out, ct, log_modulus, kind);
    out
}

/// Switches a batch of LWE ciphertexts, `lwe_size` words each, packed in `inputs`, into `out`
/// (the blind rotation's input) with [`lwe_modulus_switch_into`].
pub fn lwe_modulus_switch_batch_into(
    out: &mut [u64],
    inputs: &[u64],
    lwe_size: usize,
    log_modulus: u32,
    kind: ModulusSwitchType,
) -> crate::error::Result<()> {
    crate::error::check_dim("switched words", inputs.len(), out.len())?;
    for (m, s) in out
        .chunks_exact_mut(lwe_size)
        .zip(inputs.chunks_exact(lwe_size))
    {
        let lwe = LweCiphertext::from_container(s.to_vec())?;
        lwe_modulus_switch_into(m, &lwe, log_modulus, kind);
    }
    Ok(())
}
