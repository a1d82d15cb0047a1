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
            digits: Vec::new(),
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
    init_states(states, glwe, decomposer);
    // All ℓ·(k+1) digit polynomials, transformed: row `r` of stored level matrix `q` at
    // index q·(k+1) + r (levels popped least significant first, the stored order).
    let levels = ggsw.len() / (k1 * k1 * n);
    digits.resize(levels * k1 * n, 0);
    for (t, d) in digits.chunks_exact_mut(n).enumerate() {
        let r = t % k1;
        next_digits_mod_p(d, &mut states[r * n..(r + 1) * n], decomposer);
        plan.fwd(d);
    }
    // Output polynomial j: Σ over (level, row) of key polynomial (q, r, j) times digits (q, r).
    let digit_polys: Vec<&[u64]> = digits.chunks_exact(n).collect();
    for (j, (o, acc)) in out
        .chunks_exact_mut(n)
        .zip(acc_ntt.chunks_exact_mut(n))
        .enumerate()
    {
        let key_polys: Vec<&[u64]> = (0..levels * k1)
            .map(|t| &ggsw[(t * k1 + j) * n..(t * k1 + j + 1) * n])
            .collect();
        plan.dot_product(acc, &key_polys, &digit_polys);
        plan.inv_unnormalized(acc);
        add_switched_to_native_torus(o, acc);
    }
}

crate::multiversion! {
    /// `states[i] = decomposer.init_state(glwe[i])`.
    pub(crate) fn init_states(states: &mut [u64], glwe: &[u64], decomposer: &SignedDecomposer) {
        for (s, x) in states.iter_mut().zip(glwe) {
            *s = decomposer.init_state(*x);
        }
    }
}

crate::multiversion! {
    /// Pops the next digit of every state (two's-complement words).
    pub(crate) fn next_digits(digits: &mut [u64], states: &mut [u64], decomposer: &SignedDecomposer) {
        for (d, s) in digits.iter_mut().zip(states.iter_mut()) {
            *d = decomposer.next_digit(s);
        }
    }
}

crate::multiversion! {
    /// Pops the next digit of every state and lifts it to Z/pZ.
    fn next_digits_mod_p(digits: &mut [u64], states: &mut [u64], decomposer: &SignedDecomposer) {
        for (d, s) in digits.iter_mut().zip(states.iter_mut()) {
            *d = modp::from_signed(decomposer.next_digit(s));
        }
    }
}

crate::multiversion! {
    /// `out += round(acc · 2^64 / p)` (the switch from Z/pZ back to the native torus).
    fn add_switched_to_native_torus(out: &mut [u64], acc: &[u64]) {
        for (x, y) in out.iter_mut().zip(acc) {
            *x = x.wrapping_add(modp::to_native_torus(*y));
        }
    }
}

crate::multiversion! {
    /// `diff = a · X^rotation − a` for one polynomial.
    pub(crate) fn rotate_minus_self(diff: &mut [u64], a: &[u64], rotation: usize) {
        monomial_mul(diff, a, rotation);
        for (x, y) in diff.iter_mut().zip(a) {
            *x = x.wrapping_sub(*y);
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
        rotate_minus_self(d, a, rotation);
    }
    add_external_product_assign(acc, ggsw, &diff, decomposer, plan, scratch);
    scratch.diff = diff;
}
