//! Noise formulas: the variance each operation adds, in integer units of the native torus
//! (a variance of `v` means a standard deviation of `√v / 2^64` of the torus).
//!
//! The blind rotation formula is the standard one for binary keys and a signed, rounded
//! gadget decomposition (Chillotti–Gama–Georgieva–Izabachène, "TFHE: Fast Fully Homomorphic
//! Encryption over the Torus", J. Cryptology 2020, Theorem 4.1/Corollary 3.14; as implemented
//! in concrete-cpu's `variance_external_product_glwe`, without its FFT term: the NTT product is
//! exact, and the two switches between 2^64 and p add errors of about 2^−64 relative, far
//! below these terms).

use crate::parameters::Parameters;

/// Variance added by one external product with a GGSW encrypting a uniformly random bit
/// (a CMux step of the blind rotation).
pub fn cmux_variance(params: &Parameters) -> f64 {
    let l = params.pbs_level.0 as f64;
    let k = params.glwe_dimension.0 as f64;
    let n = params.polynomial_size.0 as f64;
    let b = 2f64.powi(params.pbs_base_log.0 as i32);
    let b2l = 2f64.powi(2 * (params.pbs_base_log.0 * params.pbs_level.0) as i32);
    let q2 = 2f64.powi(128);
    // The key's noise, amplified by the decomposed digits (|d| ≤ B/2, E[d²] = (B² + 2)/12).
    let key_term = l * (k + 1.0) * n * (b * b + 2.0) / 12.0 * params.glwe_noise.variance();
    // The decomposition's rounding of the bits below b·ℓ, through the binary GLWE key
    // (E[s²] = 1/2), times the GGSW message bit (E[m²] = 1/2).
    let rounding_term = (q2 - b2l) / (24.0 * b2l) * (1.0 + k * n / 2.0);
    key_term + rounding_term
}

/// Variance of the error of a PBS output (independent of the input's error as long as the
/// PBS decrypts correctly): n CMux steps.
pub fn pbs_output_variance(params: &Parameters) -> f64 {
    params.lwe_dimension.0 as f64 * cmux_variance(params)
}

/// Variance the f64 FFT's rounding adds to one external product ([`crate::fft`], the CPU FFT
/// backend), with a 53-bit mantissa on a 2^64 torus:
/// `0.00705 · 2^(2 (64 − 53)) · B² · ℓ^1.01827 · k^1.22003 · N^2.22003 · (k + 1)^1.01827`.
/// The FFT term of TFHE-rs 1.8.2's `pbs_variance_132_bits_security_gaussian_fft_mul`
/// (`core_crypto/commons/noise_formulas/lwe_programmable_bootstrap.rs`, fitted by Zama to
/// measurements of tfhe-fft, the transform this backend uses), in integer units. The older
/// concrete-cpu term (`2^−2.577 · 2^22 · ℓ B² N² (k+1)`) is a bound about 4.6 times larger on
/// the default set, and the measured noise does not reach it.
pub fn fft_rounding_variance(params: &Parameters) -> f64 {
    let l = params.pbs_level.0 as f64;
    let b = 2f64.powi(params.pbs_base_log.0 as i32);
    let n = params.polynomial_size.0 as f64;
    let k = params.glwe_dimension.0 as f64;
    0.00705
        * 2f64.powi(2 * (64 - 53))
        * b
        * b
        * l.powf(1.01827)
        * k.powf(1.22003)
        * n.powf(2.22003)
        * (k + 1.0).powf(1.01827)
}

/// Variance of the error of a PBS output on the CPU FFT backend: n CMux steps, each with the
/// FFT's rounding term.
pub fn pbs_output_variance_fft(params: &Parameters) -> f64 {
    params.lwe_dimension.0 as f64 * (cmux_variance(params) + fft_rounding_variance(params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parameters::PARAM_MESSAGE_2_CARRY_2_KS_PBS;

    #[test]
    fn default_parameters_pbs_noise_is_far_below_half_a_box() {
        let v = pbs_output_variance(&PARAM_MESSAGE_2_CARRY_2_KS_PBS);
        // σ ≈ 2^49, Δ/2 = 2^58.
        let sigma_log2 = v.sqrt().log2();
        assert!((48.0..50.0).contains(&sigma_log2), "{sigma_log2}");
    }
}
