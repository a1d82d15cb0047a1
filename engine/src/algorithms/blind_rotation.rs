//! Blind rotation (CGGI 2016, Algorithm 3; TFHE-rs `blind_rotate_ntt64_bnf_assign`) and sample
//! extraction.

use super::external_product::{cmux_rotate_assign, ExternalProductScratch};
use super::polynomial::monomial_div_assign;
use crate::commons::decomposition::SignedDecomposer;
use crate::entities::NttLweBootstrapKey;
use crate::ntt::Plan;

/// Rotates the accumulator `acc` (a GLWE ciphertext) by `X^{−b + Σ a_i s_i}` where
/// `msed = (a_0, …, a_{n−1}, b)` is the modulus-switched input (values in `[0, 2N)`).
pub fn blind_rotate_assign(
    acc: &mut [u64],
    msed: &[u64],
    bsk: &NttLweBootstrapKey,
    plan: &Plan,
    scratch: &mut ExternalProductScratch,
) {
    let decomposer = SignedDecomposer::new(
        bsk.decomposition_base_log(),
        bsk.decomposition_level_count(),
    );
    let n = bsk.input_lwe_dimension().0;
    for (i, &a) in msed[..n].iter().enumerate() {
        cmux_rotate_assign(acc, bsk.ggsw(i), a as usize, &decomposer, plan, scratch);
    }
    let b = msed[n] as usize;
    for poly in acc.chunks_exact_mut(plan.size()) {
        monomial_div_assign(poly, b);
    }
}

/// Sample extraction at coefficient `index` (< N): the LWE ciphertext of coefficient `index`
/// of the GLWE's plaintext, under the GLWE key read as an LWE key. With `index = 0` this is
/// [`extract_lwe_sample_into`]; other indexes serve lookup tables that hold several functions
/// (one blind rotation, several outputs). TFHE-rs: `extract_lwe_sample_from_glwe_ciphertext`
/// with `MonomialDegree(index)`.
pub fn extract_lwe_sample_at_into(out: &mut [u64], glwe: &[u64], n: usize, index: usize) {
    let k = glwe.len() / n - 1;
    let c = index;
    for j in 0..k {
        let a = &glwe[j * n..(j + 1) * n];
        let o = &mut out[j * n..(j + 1) * n];
        // (a·s)[c] = Σ_{i ≤ c} a[c − i]·s[i] − Σ_{i > c} a[N + c − i]·s[i]
        for i in 0..=c {
            o[i] = a[c - i];
        }
        for i in c + 1..n {
            o[i] = a[n + c - i].wrapping_neg();
        }
    }
    out[k * n] = glwe[k * n + c];
}

/// Extracts the constant coefficient of a GLWE ciphertext as an LWE ciphertext under the
/// GLWE key read as an LWE key of dimension k·N (TFHE-rs `extract_lwe_sample_from_glwe_ciphertext`
/// with `MonomialDegree(0)`): mask `j` becomes `(A_j[0], −A_j[N−1], …, −A_j[1])`.
pub fn extract_lwe_sample_into(out: &mut [u64], glwe: &[u64], n: usize) {
    let k = glwe.len() / n - 1;
    for j in 0..k {
        let a = &glwe[j * n..(j + 1) * n];
        let o = &mut out[j * n..(j + 1) * n];
        o[0] = a[0];
        for i in 1..n {
            o[i] = a[n - i].wrapping_neg();
        }
    }
    out[k * n] = glwe[k * n];
}
