//! Portable radix-2 kernels (always built; the reference for any SIMD kernel).

use crate::commons::modp;

/// Longa–Naehrig Algorithm 1 (merged negacyclic Cooley–Tukey, natural → bit-reversed).
pub(super) fn fwd(a: &mut [u64], psi_rev: &[u64]) {
    let n = a.len();
    let mut t = n;
    let mut m = 1;
    while m < n {
        t /= 2;
        for i in 0..m {
            let s = psi_rev[m + i];
            let (lo, hi) = a[2 * i * t..2 * i * t + 2 * t].split_at_mut(t);
            for (x, y) in lo.iter_mut().zip(hi.iter_mut()) {
                let u = *x;
                let v = modp::mul(*y, s);
                *x = modp::add(u, v);
                *y = modp::sub(u, v);
            }
        }
        m *= 2;
    }
}

/// Longa–Naehrig Algorithm 2 (merged negacyclic Gentleman–Sande, bit-reversed → natural),
/// without the final scaling by N^{−1}.
pub(super) fn inv(a: &mut [u64], psi_inv_rev: &[u64]) {
    let n = a.len();
    let mut t = 1;
    let mut m = n;
    while m > 1 {
        let h = m / 2;
        for i in 0..h {
            let s = psi_inv_rev[h + i];
            let (lo, hi) = a[2 * i * t..2 * i * t + 2 * t].split_at_mut(t);
            for (x, y) in lo.iter_mut().zip(hi.iter_mut()) {
                let u = *x;
                let v = *y;
                *x = modp::add(u, v);
                *y = modp::mul(modp::sub(u, v), s);
            }
        }
        t *= 2;
        m = h;
    }
}

pub(super) fn mul_accumulate(acc: &mut [u64], a: &[u64], b: &[u64]) {
    for ((c, x), y) in acc.iter_mut().zip(a).zip(b) {
        *c = modp::add(*c, modp::mul(*x, *y));
    }
}

pub(super) fn dot_product(out: &mut [u64], a: &[&[u64]], b: &[&[u64]]) {
    for (i, o) in out.iter_mut().enumerate() {
        let mut acc = 0u64;
        for (x, y) in a.iter().zip(b) {
            acc = modp::add(acc, modp::mul(x[i], y[i]));
        }
        *o = acc;
    }
}
