//! The external product and the CMux in the Fourier domain over f64 (TFHE-rs's FFT64:
//! `add_external_product_assign` of `fft_impl::fft64::crypto::ggsw`): the same gadget
//! decomposition as [`super::external_product`], the digit polynomials transformed as integers,
//! multiplied-accumulated with the Fourier-domain key ([`FourierLweBootstrapKey`]), and one
//! backward transform per output polynomial, rounded back onto the torus. Approximate: the
//! result differs from the exact product by the FFT's rounding (see [`crate::fft`]), a noise
//! term that [`crate::noise`] predicts.
//!
//! [`FourierLweBootstrapKey`]: crate::entities::FourierLweBootstrapKey

use super::external_product::{init_states, next_digits, rotate_minus_self};
use super::polynomial::monomial_div_assign;
use crate::commons::decomposition::SignedDecomposer;
use crate::entities::FourierLweBootstrapKey;
use crate::fft::{c64, prefetch, FftPlan, FftScratch};

/// Scratch space for one Fourier external product, allocated once per thread.
pub struct FourierScratch {
    diff: Vec<u64>,
    states: Vec<u64>,
    digit: Vec<u64>,
    digits: Vec<c64>,
    acc: Vec<c64>,
    fft: FftScratch,
}

impl FourierScratch {
    /// Scratch for GLWE ciphertexts of `glwe_size` polynomials with `plan`'s N.
    pub fn new(glwe_size: usize, plan: &FftPlan) -> Self {
        let n = plan.size();
        Self {
            diff: vec![0; glwe_size * n],
            states: vec![0; glwe_size * n],
            digit: vec![0; n],
            digits: Vec::new(),
            acc: plan.fourier_zeros(),
            fft: plan.scratch(),
        }
    }
}

/// `out ← out + ggsw ⊡ glwe` with a Fourier-domain GGSW (one of
/// [`FourierLweBootstrapKey::ggsw`]).
pub fn add_fourier_external_product_assign(
    out: &mut [u64],
    ggsw: &[c64],
    glwe: &[u64],
    decomposer: &SignedDecomposer,
    plan: &FftPlan,
    scratch: &mut FourierScratch,
) {
    external_product_prefetching(out, ggsw, glwe, decomposer, plan, scratch, &[]);
}

/// [`add_fourier_external_product_assign`], asking for `next` (the GGSW the caller applies
/// after this one) in equal shares before each transform, so that its fetch from memory
/// overlaps the transforms' arithmetic instead of stalling the next product.
fn external_product_prefetching(
    out: &mut [u64],
    ggsw: &[c64],
    glwe: &[u64],
    decomposer: &SignedDecomposer,
    plan: &FftPlan,
    scratch: &mut FourierScratch,
    next: &[c64],
) {
    let n = plan.size();
    let half = n / 2;
    let k1 = glwe.len() / n;
    let FourierScratch {
        states,
        digit,
        digits,
        acc,
        fft,
        ..
    } = scratch;
    init_states(states, glwe, decomposer);
    // Digit polynomial (level q, row r) at index q (k+1) + r, levels least significant first
    // (the key's stored order), each transformed as small integers.
    let levels = ggsw.len() / (k1 * k1 * half);
    let terms = levels * k1;
    let mut next = next.chunks(next.len().div_ceil(terms + k1).max(1));
    digits.resize(terms * half, c64::new(0.0, 0.0));
    for (t, f) in digits.chunks_exact_mut(half).enumerate() {
        let r = t % k1;
        next_digits(digit, &mut states[r * n..(r + 1) * n], decomposer);
        prefetch(next.next().unwrap_or_default());
        plan.forward_integer(f, digit, fft);
    }
    // Output polynomial j: Σ over (level, row) t of key polynomial (t, j) times digits t.
    for (j, o) in out.chunks_exact_mut(n).enumerate() {
        plan.dot(acc, &ggsw[j * half..], k1 * half, digits, terms);
        prefetch(next.next().unwrap_or_default());
        plan.add_backward_torus(o, acc, fft);
    }
}

/// The CMux of the blind rotation in the Fourier domain: `acc ← acc + ggsw ⊡ (acc·X^rotation −
/// acc)`; a zero rotation is skipped (as TFHE-rs does).
///
/// `next` is the GGSW applied after this one (or empty): it is prefetched while this one's
/// transforms run.
pub fn fourier_cmux_rotate_assign(
    acc: &mut [u64],
    ggsw: &[c64],
    rotation: usize,
    decomposer: &SignedDecomposer,
    plan: &FftPlan,
    scratch: &mut FourierScratch,
    next: &[c64],
) {
    if rotation == 0 {
        return;
    }
    let n = plan.size();
    let mut diff = std::mem::take(&mut scratch.diff);
    for (d, a) in diff.chunks_exact_mut(n).zip(acc.chunks_exact(n)) {
        rotate_minus_self(d, a, rotation);
    }
    external_product_prefetching(acc, ggsw, &diff, decomposer, plan, scratch, next);
    scratch.diff = diff;
}

/// Blind rotation with the Fourier-domain key: `acc` rotated by `X^{−b + Σ a_i s_i}` for the
/// modulus-switched `msed = (a_0, …, a_{n−1}, b)`, up to the FFT's rounding noise.
pub fn fourier_blind_rotate_assign(
    acc: &mut [u64],
    msed: &[u64],
    bsk: &FourierLweBootstrapKey,
    plan: &FftPlan,
    scratch: &mut FourierScratch,
) {
    let decomposer = SignedDecomposer::new(
        bsk.decomposition_base_log(),
        bsk.decomposition_level_count(),
    );
    let n = bsk.input_lwe_dimension().0;
    for (i, &a) in msed[..n].iter().enumerate() {
        let next = if i + 1 < n { bsk.ggsw(i + 1) } else { &[] };
        fourier_cmux_rotate_assign(
            acc,
            bsk.ggsw(i),
            a as usize,
            &decomposer,
            plan,
            scratch,
            next,
        );
    }
    let b = msed[n] as usize;
    for poly in acc.chunks_exact_mut(plan.size()) {
        monomial_div_assign(poly, b);
    }
}
