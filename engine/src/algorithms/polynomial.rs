//! Polynomial arithmetic in Z/2^64Z[X]/(X^N + 1).

use crate::commons::modp;
use crate::ntt::Plan;

/// `out = a · X^d` for `d ∈ [0, 2N)` (a negacyclic rotation).
pub fn monomial_mul(out: &mut [u64], a: &[u64], d: usize) {
    let n = a.len();
    let (d, negate) = if d >= n { (d - n, true) } else { (d, false) };
    // X^d · a: coefficient i of a moves to i + d, wrapping with a sign flip.
    for i in 0..n - d {
        let v = a[i];
        out[i + d] = if negate { v.wrapping_neg() } else { v };
    }
    for i in n - d..n {
        let v = a[i];
        out[i + d - n] = if negate { v } else { v.wrapping_neg() };
    }
}

/// `a ← a · X^d` in place, `d ∈ [0, 2N)`.
pub fn monomial_mul_assign(a: &mut [u64], d: usize) {
    let src = a.to_vec();
    monomial_mul(a, &src, d);
}

/// `a ← a · X^{−d}` in place, `d ∈ [0, 2N)`.
pub fn monomial_div_assign(a: &mut [u64], d: usize) {
    let n = a.len();
    monomial_mul_assign(a, (2 * n - d) % (2 * n));
}

/// A binary polynomial prepared for exact products mod 2^64: its forward NTT.
pub struct BinaryPolynomialNtt {
    ntt: Vec<u64>,
}

impl BinaryPolynomialNtt {
    pub fn new(plan: &Plan, s: &[u64]) -> Self {
        let mut ntt = s.to_vec();
        plan.fwd(&mut ntt);
        Self { ntt }
    }
}

/// `acc ← acc + a · s mod (X^N + 1, 2^64)` for an arbitrary `a` and a binary `s`, exactly.
///
/// `a` is split into 32-bit halves; each half times `s` has coefficients of absolute value
/// below N·2^32 ≤ 2^46 < p/2, so its NTT product over p, read as a signed integer, is the
/// exact integer product.
pub fn add_mul_by_binary(acc: &mut [u64], a: &[u64], s: &BinaryPolynomialNtt, plan: &Plan) {
    let n = a.len();
    let mut lo: Vec<u64> = a.iter().map(|&x| x & 0xFFFF_FFFF).collect();
    let mut hi: Vec<u64> = a.iter().map(|&x| x >> 32).collect();
    for half in [&mut lo, &mut hi] {
        plan.fwd(half);
        for (x, y) in half.iter_mut().zip(&s.ntt) {
            *x = modp::mul(*x, *y);
        }
        plan.inv(half);
    }
    let signed = |r: u64| -> u64 {
        if r > modp::P / 2 {
            r.wrapping_sub(modp::P)
        } else {
            r
        }
    };
    for i in 0..n {
        let v = signed(lo[i]).wrapping_add(signed(hi[i]) << 32);
        acc[i] = acc[i].wrapping_add(v);
    }
}

/// Schoolbook `a · b mod (X^N + 1, 2^64)`: the reference for tests.
pub fn wrapping_mul_naive(a: &[u64], b: &[u64]) -> Vec<u64> {
    let n = a.len();
    let mut out = vec![0u64; n];
    for i in 0..n {
        for j in 0..n {
            let p = a[i].wrapping_mul(b[j]);
            if i + j < n {
                out[i + j] = out[i + j].wrapping_add(p);
            } else {
                out[i + j - n] = out[i + j - n].wrapping_sub(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn binary_product_is_exact() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
        for n in [256usize, 2048] {
            let plan = Plan::try_new(n).unwrap();
            let a: Vec<u64> = (0..n).map(|_| rng.gen()).collect();
            let s: Vec<u64> = (0..n).map(|_| rng.gen_range(0..2)).collect();
            let mut acc = vec![0u64; n];
            add_mul_by_binary(&mut acc, &a, &BinaryPolynomialNtt::new(&plan, &s), &plan);
            assert_eq!(acc, wrapping_mul_naive(&a, &s));
        }
    }

    #[test]
    fn monomials() {
        let n = 256;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(22);
        let a: Vec<u64> = (0..n).map(|_| rng.gen()).collect();
        for d in [0usize, 1, 7, 255, 256, 300, 511] {
            let mut mono = vec![0u64; n];
            if d < n {
                mono[d] = 1;
            } else {
                mono[d - n] = u64::MAX;
            }
            let mut out = vec![0u64; n];
            monomial_mul(&mut out, &a, d);
            assert_eq!(out, wrapping_mul_naive(&a, &mono), "d = {d}");
            let mut back = out.clone();
            monomial_div_assign(&mut back, d);
            assert_eq!(back, a);
        }
    }
}
