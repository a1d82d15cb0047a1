//! AVX-512 kernels (x86-64 with AVX-512F), chosen once when a [`super::Plan`] is built and
//! tested against the portable kernels in [`super::scalar`] word for word.
//!
//! Eight residues per 512-bit vector. The 64×64 → 128-bit product is built from four
//! 32×32 → 64-bit products (`vpmuludq`); the reduction uses 2^64 ≡ 2^32 − 1 and 2^96 ≡ −1,
//! so it needs only shifts, adds and one more 32-bit product. Every kernel takes canonical
//! residues and returns canonical residues.
//!
//! Butterfly stages with a half-block of at least 8 words vectorize across the half-block
//! (one broadcast twiddle per block); the last three stages (half-blocks of 4, 2, 1) gather
//! the butterfly operands of two vectors with one `vpermt2q` each and use per-stage twiddle
//! tables laid out in that gathered order.

#![allow(unsafe_op_in_unsafe_fn)]

use crate::commons::modp::{EPSILON, P};
use std::arch::x86_64::*;

/// Twiddles and permutations for the stages whose half-block is 4, 2 or 1 words.
#[derive(Clone, Debug)]
pub(super) struct SmallStages {
    /// For t = 4, 2, 1: twiddle of each butterfly, in gathered (U-lane) order; N/2 words each.
    fwd: [Vec<u64>; 3],
    inv: [Vec<u64>; 3],
    /// Gather indices (into the 16 words of two vectors) of the butterfly tops and bottoms,
    /// and the scatter indices that put them back.
    gather_u: [[u64; 8]; 3],
    gather_v: [[u64; 8]; 3],
    scatter_a: [[u64; 8]; 3],
    scatter_b: [[u64; 8]; 3],
}

pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

impl SmallStages {
    pub(super) fn new(n: usize, fwd_twiddles: &[u64], inv_twiddles: &[u64]) -> Self {
        let mut fwd: [Vec<u64>; 3] = Default::default();
        let mut inv: [Vec<u64>; 3] = Default::default();
        let mut gather_u = [[0u64; 8]; 3];
        let mut gather_v = [[0u64; 8]; 3];
        let mut scatter_a = [[0u64; 8]; 3];
        let mut scatter_b = [[0u64; 8]; 3];
        for (s, t) in [4usize, 2, 1].into_iter().enumerate() {
            // Forward stage with half-block t has m = N / (2t) blocks; so does the inverse.
            let m = n / (2 * t);
            let expand = |tw: &[u64]| -> Vec<u64> {
                (0..n / 2)
                    .map(|e| {
                        let (q, l) = (e / 8, e % 8);
                        tw[m + (8 / t) * q + l / t]
                    })
                    .collect()
            };
            fwd[s] = expand(fwd_twiddles);
            inv[s] = expand(inv_twiddles);
            let tops: Vec<u64> = (0..16u64)
                .filter(|p| (p % (2 * t as u64)) < t as u64)
                .collect();
            let bottoms: Vec<u64> = (0..16u64)
                .filter(|p| (p % (2 * t as u64)) >= t as u64)
                .collect();
            gather_u[s].copy_from_slice(&tops);
            gather_v[s].copy_from_slice(&bottoms);
            for p in 0..16u64 {
                let src = if let Some(r) = tops.iter().position(|&x| x == p) {
                    r as u64
                } else {
                    8 + bottoms.iter().position(|&x| x == p).unwrap() as u64
                };
                if p < 8 {
                    scatter_a[s][p as usize] = src;
                } else {
                    scatter_b[s][p as usize - 8] = src;
                }
            }
        }
        Self {
            fwd,
            inv,
            gather_u,
            gather_v,
            scatter_a,
            scatter_b,
        }
    }
}

#[inline(always)]
unsafe fn splat(x: u64) -> __m512i {
    _mm512_set1_epi64(x as i64)
}

/// Canonical a + b.
#[inline(always)]
unsafe fn add(a: __m512i, b: __m512i) -> __m512i {
    let s = _mm512_add_epi64(a, b);
    let wrapped = _mm512_cmplt_epu64_mask(s, a);
    let big = _mm512_cmpge_epu64_mask(s, splat(P));
    _mm512_mask_sub_epi64(s, wrapped | big, s, splat(P))
}

/// Canonical a − b.
#[inline(always)]
unsafe fn sub(a: __m512i, b: __m512i) -> __m512i {
    let d = _mm512_sub_epi64(a, b);
    let borrow = _mm512_cmplt_epu64_mask(a, b);
    _mm512_mask_add_epi64(d, borrow, d, splat(P))
}

/// Canonical a · b mod p for any 64-bit lanes.
#[inline(always)]
unsafe fn mul(a: __m512i, b: __m512i) -> __m512i {
    // 128-bit product from 32-bit halves.
    let a_hi = _mm512_srli_epi64::<32>(a);
    let b_hi = _mm512_srli_epi64::<32>(b);
    let ll = _mm512_mul_epu32(a, b);
    let lh = _mm512_mul_epu32(a, b_hi);
    let hl = _mm512_mul_epu32(a_hi, b);
    let hh = _mm512_mul_epu32(a_hi, b_hi);
    let mask32 = splat(EPSILON);
    // t0 = hl + (ll >> 32) < 2^64; t1 = lh + lo32(t0) < 2^64.
    let t0 = _mm512_add_epi64(hl, _mm512_srli_epi64::<32>(ll));
    let t1 = _mm512_add_epi64(lh, _mm512_and_si512(t0, mask32));
    let hi = _mm512_add_epi64(
        _mm512_add_epi64(hh, _mm512_srli_epi64::<32>(t0)),
        _mm512_srli_epi64::<32>(t1),
    );
    let lo = _mm512_or_si512(_mm512_and_si512(ll, mask32), _mm512_slli_epi64::<32>(t1));
    // Reduce: lo − hi_hi + hi_lo·(2^32 − 1).
    let hi_hi = _mm512_srli_epi64::<32>(hi);
    let t = _mm512_sub_epi64(lo, hi_hi);
    let borrow = _mm512_cmplt_epu64_mask(lo, hi_hi);
    let t = _mm512_mask_sub_epi64(t, borrow, t, mask32);
    // hi_lo · (2^32 − 1) = (hi_lo << 32) − hi_lo: shifts, keeping the multiplier port free.
    let u = _mm512_sub_epi64(_mm512_slli_epi64::<32>(hi), _mm512_and_si512(hi, mask32));
    let r = _mm512_add_epi64(t, u);
    let carry = _mm512_cmplt_epu64_mask(r, u);
    let r = _mm512_mask_add_epi64(r, carry, r, mask32);
    let big = _mm512_cmpge_epu64_mask(r, splat(P));
    _mm512_mask_sub_epi64(r, big, r, splat(P))
}

#[inline(always)]
unsafe fn load(p: *const u64) -> __m512i {
    _mm512_loadu_si512(p as *const __m512i)
}

#[inline(always)]
unsafe fn store(p: *mut u64, v: __m512i) {
    _mm512_storeu_si512(p as *mut __m512i, v)
}

#[inline(always)]
unsafe fn idx(i: &[u64; 8]) -> __m512i {
    load(i.as_ptr())
}

/// Forward transform (same network and output order as `scalar::fwd`). N ≥ 16.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn fwd(a: &mut [u64], psi_rev: &[u64], small: &SmallStages) {
    let n = a.len();
    let ptr = a.as_mut_ptr();
    let mut t = n;
    let mut m = 1;
    while t > 8 {
        t /= 2;
        for i in 0..m {
            let s = splat(psi_rev[m + i]);
            let base = 2 * i * t;
            let mut j = 0;
            while j < t {
                let x = load(ptr.add(base + j));
                let y = load(ptr.add(base + j + t));
                let v = mul(y, s);
                store(ptr.add(base + j), add(x, v));
                store(ptr.add(base + j + t), sub(x, v));
                j += 8;
            }
        }
        m *= 2;
    }
    for s in 0..3 {
        let (gu, gv, sa, sb) = (
            idx(&small.gather_u[s]),
            idx(&small.gather_v[s]),
            idx(&small.scatter_a[s]),
            idx(&small.scatter_b[s]),
        );
        let tw = small.fwd[s].as_ptr();
        let mut q = 0;
        while q < n / 16 {
            let pa = ptr.add(16 * q);
            let va = load(pa);
            let vb = load(pa.add(8));
            let u = _mm512_permutex2var_epi64(va, gu, vb);
            let v = mul(_mm512_permutex2var_epi64(va, gv, vb), load(tw.add(8 * q)));
            let x = add(u, v);
            let y = sub(u, v);
            store(pa, _mm512_permutex2var_epi64(x, sa, y));
            store(pa.add(8), _mm512_permutex2var_epi64(x, sb, y));
            q += 1;
        }
    }
}

/// Inverse transform without scaling (same network as `scalar::inv`). N ≥ 16.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn inv(a: &mut [u64], psi_inv_rev: &[u64], small: &SmallStages) {
    let n = a.len();
    let ptr = a.as_mut_ptr();
    for s in (0..3).rev() {
        let (gu, gv, sa, sb) = (
            idx(&small.gather_u[s]),
            idx(&small.gather_v[s]),
            idx(&small.scatter_a[s]),
            idx(&small.scatter_b[s]),
        );
        let tw = small.inv[s].as_ptr();
        let mut q = 0;
        while q < n / 16 {
            let pa = ptr.add(16 * q);
            let va = load(pa);
            let vb = load(pa.add(8));
            let u = _mm512_permutex2var_epi64(va, gu, vb);
            let v = _mm512_permutex2var_epi64(va, gv, vb);
            let x = add(u, v);
            let y = mul(sub(u, v), load(tw.add(8 * q)));
            store(pa, _mm512_permutex2var_epi64(x, sa, y));
            store(pa.add(8), _mm512_permutex2var_epi64(x, sb, y));
            q += 1;
        }
    }
    let mut t = 8;
    let mut m = n / 8;
    while m > 1 {
        let h = m / 2;
        for i in 0..h {
            let s = splat(psi_inv_rev[h + i]);
            let base = 2 * i * t;
            let mut j = 0;
            while j < t {
                let x = load(ptr.add(base + j));
                let y = load(ptr.add(base + j + t));
                store(ptr.add(base + j), add(x, y));
                store(ptr.add(base + j + t), mul(sub(x, y), s));
                j += 8;
            }
        }
        t *= 2;
        m = h;
    }
}

/// `acc += a · b`, lane-wise, canonical. Length a multiple of 8.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn mul_accumulate(acc: &mut [u64], a: &[u64], b: &[u64]) {
    let n = acc.len();
    let mut j = 0;
    while j < n {
        let c = load(acc.as_ptr().add(j));
        let p = mul(load(a.as_ptr().add(j)), load(b.as_ptr().add(j)));
        store(acc.as_mut_ptr().add(j), add(c, p));
        j += 8;
    }
}

/// `data *= factor`, lane-wise, canonical.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn scale(data: &mut [u64], factor: u64) {
    let f = splat(factor);
    let mut j = 0;
    while j < data.len() {
        let p = data.as_mut_ptr().add(j);
        store(p, mul(load(p), f));
        j += 8;
    }
}

/// `out[i] = Σ_t a[t][i] · b[t][i]`, canonical; every slice of `out`'s length, a multiple of 8.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn dot_product(out: &mut [u64], a: &[&[u64]], b: &[&[u64]]) {
    let n = out.len();
    let mut j = 0;
    while j < n {
        let mut acc = _mm512_setzero_si512();
        for (x, y) in a.iter().zip(b) {
            acc = add(acc, mul(load(x.as_ptr().add(j)), load(y.as_ptr().add(j))));
        }
        store(out.as_mut_ptr().add(j), acc);
        j += 8;
    }
}
