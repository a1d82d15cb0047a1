//! The external product GGSW ⊡ GLWE and the CMux, with the products in the NTT domain over
//! p = 2^64 − 2^32 + 1 and everything else on the native torus: TFHE-rs's ntt64 "bnf" variant
//! (`add_external_product_ntt64_bnf_assign`, `cmux_ntt64_bnf_assign`), reproduced bit for bit.
//!
//! For each level (least significant first) and each row `r`, the signed digits of GLWE
//! polynomial `r` are lifted to Z/pZ, transformed, and multiplied-accumulated with row `r` of
//! the level matrix. The sum is exact mod p, so the order of accumulation never changes the
//! result. One inverse transform per output polynomial, then the switch from Z/pZ back to
//! Z/2^64Z (`round(x·2^64/p)`), added to the output.

use super::polynomial::monomial_mul;
use crate::commons::decomposition::SignedDecomposer;
use crate::commons::modp;
use crate::ntt::Plan;

/// Scratch space for one external product, allocated once and reused (never in the hot loop).
pub struct ExternalProductScratch {
    diff: Vec<u64>,
    states: Vec<u64>,
    digits: Vec<u64>,
    acc_ntt: Vec<u64>,
}

impl ExternalProductScratch {
    /// Scratch for GLWE ciphertexts of `glwe_size` polynomials of `n` coefficients.
    pub fn new(glwe_size: usize, n: usize) -> Self {
        Self {
            diff: vec![0; glwe_size * n],
            states: vec![0; glwe_size * n],
            digits: vec![0; n],
            acc_ntt: vec![0; glwe_size * n],
        }
    }
}

/// `out ← out + ggsw ⊡ glwe`. `ggsw` is an NTT-domain GGSW (as in [`crate::entities::NttLweBootstrapKey`]),
/// `out` and `glwe` are GLWE ciphertexts of `k + 1` polynomials of `plan.size()` words.
pub fn add_external_product_assign(
    out: &mut [u64],
    ggsw: &[u64],
    glwe: &[u64],
    decomposer: &SignedDecomposer,
    plan: &Plan,
    scratch: &mut ExternalProductScratch,
) {
    let n = plan.size();
    let k1 = glwe.len() / n;
    let ExternalProductScratch {
        states,
        digits,
        acc_ntt,
        ..
    } = scratch;
    for (s, x) in states.iter_mut().zip(glwe) {
        *s = decomposer.init_state(*x);
    }
    acc_ntt.fill(0);
    let level_matrix_len = k1 * k1 * n;
    for level_matrix in ggsw.chunks_exact(level_matrix_len) {
        for (r, ggsw_row) in level_matrix.chunks_exact(k1 * n).enumerate() {
            for (d, s) in digits.iter_mut().zip(&mut states[r * n..(r + 1) * n]) {
                *d = modp::from_signed(decomposer.next_digit(s));
            }
            plan.fwd(digits);
            for (acc, key_poly) in acc_ntt.chunks_exact_mut(n).zip(ggsw_row.chunks_exact(n)) {
                plan.mul_accumulate(acc, key_poly, digits);
            }
        }
    }
    for (o, acc) in out.chunks_exact_mut(n).zip(acc_ntt.chunks_exact_mut(n)) {
        plan.inv_unnormalized(acc);
        for (x, y) in o.iter_mut().zip(acc.iter()) {
            *x = x.wrapping_add(modp::to_native_torus(*y));
        }
    }
}

/// The CMux of the blind rotation: `acc ← acc + ggsw ⊡ (acc·X^rotation − acc)`, i.e. the
/// accumulator rotated by `X^rotation` if the GGSW encrypts 1 and unchanged if it encrypts 0.
/// `rotation ∈ [0, 2N)`; a zero rotation is skipped (as TFHE-rs does).
pub fn cmux_rotate_assign(
    acc: &mut [u64],
    ggsw: &[u64],
    rotation: usize,
    decomposer: &SignedDecomposer,
    plan: &Plan,
    scratch: &mut ExternalProductScratch,
) {
    if rotation == 0 {
        return;
    }
    let n = plan.size();
    let mut diff = std::mem::take(&mut scratch.diff);
    for (d, a) in diff.chunks_exact_mut(n).zip(acc.chunks_exact(n)) {
        monomial_mul(d, a, rotation);
        for (x, y) in d.iter_mut().zip(a) {
            *x = x.wrapping_sub(*y);
        }
    }
    add_external_product_assign(acc, ggsw, &diff, decomposer, plan, scratch);
    scratch.diff = diff;
}
