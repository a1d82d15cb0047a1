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
//!
//! Power-of-two twiddles: 2 has order 192 mod p (2^96 = −1), so every root of unity of order
//! dividing 64 is ±2^r with r < 96. Those are the twiddles of the blocks with index below 32
//! (Ψ_rev[i] for i < 32 is a root of order at most 64): the first five forward stages and the
//! last five inverse stages, all of them broadcast-twiddle stages. There the product is
//! [`mul_pow2`]: two shifts and the reduction, no 32-bit products, and the sign goes into the
//! butterfly (adds and subtracts swapped) for free.

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
    /// For the forward and inverse twiddle of index i < 64: `Some(e)` when it equals 2^e mod p
    /// (e < 192).
    fwd_pow2: Vec<Option<u8>>,
    inv_pow2: Vec<Option<u8>>,
}

/// Multiplication by a power-of-two twiddle ±2^r, r < 96, as the shifts [`mul_pow2`] needs.
#[derive(Clone, Copy)]
struct Pow2 {
    /// The twiddle is −2^r.
    negative: bool,
    /// r = 0, r < 64, or 64 ≤ r < 96.
    kind: Pow2Kind,
    /// Left and right shift counts (see [`mul_pow2`]).
    left: __m128i,
    right: __m128i,
}

#[derive(Clone, Copy)]
enum Pow2Kind {
    One,
    Low,
    High,
}

impl Pow2 {
    #[inline(always)]
    unsafe fn new(e: u8) -> Self {
        let negative = e >= 96;
        let r = if negative { e - 96 } else { e } as i64;
        let (kind, l) = match r {
            0 => (Pow2Kind::One, 0),
            1..=63 => (Pow2Kind::Low, r),
            _ => (Pow2Kind::High, r - 64),
        };
        Self {
            negative,
            kind,
            left: _mm_set_epi64x(0, l),
            // A count of 64 shifts everything out (l = 0 in the high case).
            right: _mm_set_epi64x(0, 64 - l),
        }
    }
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
        let pow2 = |tw: &[u64]| {
            tw.iter()
                .take(64)
                .map(|&w| crate::commons::modp::log2_power_of_two(w).map(|e| e as u8))
                .collect()
        };
        Self {
            fwd,
            inv,
            gather_u,
            gather_v,
            scatter_a,
            scatter_b,
            fwd_pow2: pow2(fwd_twiddles),
            inv_pow2: pow2(inv_twiddles),
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
    reduce128(lo, hi)
}

/// Canonical (hi · 2^64 + lo) mod p for any 64-bit lanes `lo`, `hi`.
#[inline(always)]
unsafe fn reduce128(lo: __m512i, hi: __m512i) -> __m512i {
    let mask32 = splat(EPSILON);
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

/// Canonical v · 2^r mod p (the sign of a ±2^r twiddle is the caller's), any 64-bit lanes:
/// - r < 64: v·2^r = (v >> (64 − r))·2^64 + (v << r), reduced as a 128-bit product;
/// - r = 64 + l, l < 32: v·2^l = h·2^64 + lo with h < 2^32, and 2^128 ≡ −2^32, so
///   v·2^r ≡ lo·2^64 − h·2^32, where h·2^32 < p.
#[inline(always)]
unsafe fn mul_pow2(v: __m512i, s: &Pow2) -> __m512i {
    match s.kind {
        Pow2Kind::One => {
            let big = _mm512_cmpge_epu64_mask(v, splat(P));
            _mm512_mask_sub_epi64(v, big, v, splat(P))
        }
        Pow2Kind::Low => reduce128(_mm512_sll_epi64(v, s.left), _mm512_srl_epi64(v, s.right)),
        Pow2Kind::High => {
            let lo = _mm512_sll_epi64(v, s.left);
            let h = _mm512_srl_epi64(v, s.right);
            sub(
                reduce128(_mm512_setzero_si512(), lo),
                _mm512_slli_epi64::<32>(h),
            )
        }
    }
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
            let base = 2 * i * t;
            if let Some(&Some(e)) = small.fwd_pow2.get(m + i) {
                let s = Pow2::new(e);
                let mut j = 0;
                while j < t {
                    let x = load(ptr.add(base + j));
                    let v = mul_pow2(load(ptr.add(base + j + t)), &s);
                    let (sum, diff) = (add(x, v), sub(x, v));
                    let (top, bottom) = if s.negative { (diff, sum) } else { (sum, diff) };
                    store(ptr.add(base + j), top);
                    store(ptr.add(base + j + t), bottom);
                    j += 8;
                }
                continue;
            }
            let s = splat(psi_rev[m + i]);
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
            let base = 2 * i * t;
            if let Some(&Some(e)) = small.inv_pow2.get(h + i) {
                let s = Pow2::new(e);
                let mut j = 0;
                while j < t {
                    let x = load(ptr.add(base + j));
                    let y = load(ptr.add(base + j + t));
                    // (x − y)·(−2^r) = (y − x)·2^r.
                    let d = if s.negative { sub(y, x) } else { sub(x, y) };
                    store(ptr.add(base + j), add(x, y));
                    store(ptr.add(base + j + t), mul_pow2(d, &s));
                    j += 8;
                }
                continue;
            }
            let s = splat(psi_inv_rev[h + i]);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commons::modp;
    use rand::{Rng, SeedableRng};

    #[test]
    fn twiddles_of_order_at_most_64_are_found_as_powers_of_two() {
        for n in [256, 2048, 16384] {
            let plan = crate::ntt::Plan::try_new_portable(n).unwrap();
            let small = SmallStages::new(n, plan.forward_twiddles(), plan.inverse_twiddles());
            for pow2 in [&small.fwd_pow2, &small.inv_pow2] {
                // Ψ_rev[i] for 1 ≤ i < 32 has order dividing 64; Ψ_rev[32..64] order 128.
                assert!(pow2[1..32].iter().all(Option::is_some), "n = {n}");
                assert!(pow2[32..64].iter().all(Option::is_none), "n = {n}");
            }
        }
    }

    #[test]
    fn multiplication_by_a_power_of_two_equals_the_product() {
        if !available() {
            return;
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(31);
        let mut lanes: Vec<u64> = vec![
            0,
            1,
            2,
            P - 1,
            P,
            P + 1,
            u64::MAX,
            1 << 32,
            EPSILON,
            1 << 63,
        ];
        lanes.extend((0..54).map(|_| rng.gen::<u64>()));
        for e in 0..192u8 {
            let w = modp::pow(2, u64::from(e));
            for chunk in lanes.chunks_exact(8) {
                let mut got = [0u64; 8];
                // SAFETY: AVX-512F is available (checked above).
                unsafe {
                    let s = Pow2::new(e);
                    let mut y = mul_pow2(load(chunk.as_ptr()), &s);
                    if s.negative {
                        y = sub(_mm512_setzero_si512(), y);
                    }
                    store(got.as_mut_ptr(), y);
                }
                for (g, &v) in got.iter().zip(chunk) {
                    assert_eq!(*g, modp::mul(v, w), "{v} * 2^{e}");
                }
            }
        }
    }
}
