//! The negacyclic FFT over f64 (TFHE-rs's FFT64, after Klemsa, "Fast and Error-Free Negacyclic
//! Integer Convolution using Extended Fourier Transform", eprint 2021/480): a real polynomial of
//! N coefficients is folded into N/2 complex points `a[i] + i·a[i + N/2]`, twisted by the 2N-th
//! roots of unity `ω^i`, and transformed by a cyclic FFT of size N/2 — `tfhe-fft`'s unordered
//! plan, whose AVX-512, AVX2+FMA and portable kernels are chosen when the plan is made. A
//! product in this domain is a negacyclic product of the polynomials.
//!
//! Unlike [`crate::ntt`], the arithmetic rounds: the backward transform returns the product up to
//! an error that grows with the magnitudes involved. The external product built on it
//! ([`crate::algorithms::fourier`]) therefore adds a small noise term of its own, which
//! [`crate::noise`] accounts for.
//!
//! ```
//! use glovebox_engine::fft::FftPlan;
//! let plan = FftPlan::new(1024)?;
//! let mut scratch = plan.scratch();
//! // X · X^1023 = X^1024 = −1 (negacyclic).
//! let mut a = vec![0u64; 1024];
//! a[1] = 1;
//! let mut b = vec![0u64; 1024];
//! b[1023] = 1 << 40;
//! let (mut fa, mut fb) = (plan.fourier_zeros(), plan.fourier_zeros());
//! plan.forward_integer(&mut fa, &a, &mut scratch);
//! plan.forward_torus(&mut fb, &b, &mut scratch);
//! for (x, y) in fa.iter_mut().zip(&fb) {
//!     *x *= *y;
//! }
//! let mut out = vec![0u64; 1024];
//! plan.add_backward_torus(&mut out, &mut fa, &mut scratch);
//! assert_eq!(out[0], (1u64 << 40).wrapping_neg());
//! assert!(out[1..].iter().all(|&x| x == 0));
//! # Ok::<(), glovebox_engine::Error>(())
//! ```

use crate::error::{Error, Result};
use dyn_stack::{PodBuffer, PodStack};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
pub use tfhe_fft::c64;
use tfhe_fft::unordered::{Method, Plan};

/// A negacyclic FFT plan for polynomials of N coefficients (N a power of two, at least 32).
pub struct FftPlan {
    n: usize,
    plan: Plan,
    /// `ω^i = exp(iπ i / N)` for i < N/2, real and imaginary parts.
    twist_re: Vec<f64>,
    twist_im: Vec<f64>,
}

/// Scratch memory for one thread's transforms with one plan.
pub struct FftScratch {
    mem: PodBuffer,
}

impl FftScratch {
    fn stack(&mut self) -> &mut PodStack {
        PodStack::new(&mut self.mem)
    }
}

impl FftPlan {
    /// The plan for `n` coefficients; tfhe-fft measures its kernels for 10 ms.
    pub fn new(n: usize) -> Result<Self> {
        if n < 32 || !n.is_power_of_two() {
            return Err(Error::InvalidParameters(format!(
                "FFT: polynomial size {n} is not a power of two of at least 32"
            )));
        }
        let half = n / 2;
        let plan = Plan::new(half, Method::Measure(Duration::from_millis(10)));
        let unit = std::f64::consts::PI / n as f64;
        let (twist_re, twist_im) = (0..half)
            .map(|i| {
                let (s, c) = (i as f64 * unit).sin_cos();
                (c, s)
            })
            .unzip();
        Ok(Self {
            n,
            plan,
            twist_re,
            twist_im,
        })
    }

    /// N.
    pub fn size(&self) -> usize {
        self.n
    }

    /// N/2: complex points per polynomial in the Fourier domain.
    pub fn fourier_size(&self) -> usize {
        self.n / 2
    }

    /// A polynomial of zeros in the Fourier domain.
    pub fn fourier_zeros(&self) -> Vec<c64> {
        vec![c64::new(0.0, 0.0); self.n / 2]
    }

    /// Scratch memory for this plan's transforms (one per thread).
    pub fn scratch(&self) -> FftScratch {
        FftScratch {
            mem: PodBuffer::new(self.plan.fft_scratch()),
        }
    }

    /// Forward transform of a polynomial on the torus: word `x` read as the signed fraction
    /// `x / 2^64` in [−1/2, 1/2).
    pub fn forward_torus(&self, out: &mut [c64], poly: &[u64], scratch: &mut FftScratch) {
        self.fold_twist(out, poly, 2f64.powi(-64));
        self.plan.fwd(out, scratch.stack());
    }

    /// Forward transform of a polynomial of small signed integers (two's complement words, such
    /// as gadget digits).
    pub fn forward_integer(&self, out: &mut [c64], poly: &[u64], scratch: &mut FftScratch) {
        self.fold_twist(out, poly, 1.0);
        self.plan.fwd(out, scratch.stack());
    }

    fn fold_twist(&self, out: &mut [c64], poly: &[u64], scale: f64) {
        let half = self.n / 2;
        assert_eq!(poly.len(), self.n, "polynomial size");
        assert_eq!(out.len(), half, "Fourier size");
        fold_twist(
            out,
            &poly[..half],
            &poly[half..],
            &self.twist_re,
            &self.twist_im,
            scale,
        );
    }

    /// `out += backward(fourier)` on the torus: the inverse transform, untwisted and unfolded,
    /// each coefficient's fractional part rounded to the nearest multiple of 2^−64.
    /// `fourier` is used as scratch.
    pub fn add_backward_torus(
        &self,
        out: &mut [u64],
        fourier: &mut [c64],
        scratch: &mut FftScratch,
    ) {
        let half = self.n / 2;
        assert_eq!(out.len(), self.n, "polynomial size");
        assert_eq!(fourier.len(), half, "Fourier size");
        self.plan.inv(fourier, scratch.stack());
        let (lo, hi) = out.split_at_mut(half);
        untwist_add_torus(
            lo,
            hi,
            fourier,
            &self.twist_re,
            &self.twist_im,
            1.0 / half as f64,
        );
    }
}

/// `out[i] = (re[i] + i·im[i]) · scale · ω^i`, the words read as signed integers: the AVX-512
/// kernel ([`avx512`]) where the CPU has it, else the plain loop compiled for AVX2 or portably.
fn fold_twist(out: &mut [c64], re: &[u64], im: &[u64], w_re: &[f64], w_im: &[f64], scale: f64) {
    #[cfg(target_arch = "x86_64")]
    if crate::commons::simd::has_avx512() && out.len().is_multiple_of(8) {
        // SAFETY: the CPU has AVX-512 F and DQ; the lengths are checked inside.
        return unsafe { avx512::fold_twist(out, re, im, w_re, w_im, scale) };
    }
    fold_twist_loop(out, re, im, w_re, w_im, scale)
}

/// `lo[i] += torus(Re(z_i)), hi[i] += torus(Im(z_i))` with `z_i = f[i] · scale · conj(ω^i)`,
/// dispatched as [`fold_twist`] is.
fn untwist_add_torus(
    lo: &mut [u64],
    hi: &mut [u64],
    f: &[c64],
    w_re: &[f64],
    w_im: &[f64],
    scale: f64,
) {
    #[cfg(target_arch = "x86_64")]
    if crate::commons::simd::has_avx512() && f.len().is_multiple_of(8) {
        // SAFETY: as in `fold_twist`.
        return unsafe { avx512::untwist_add_torus(lo, hi, f, w_re, w_im, scale) };
    }
    untwist_add_torus_loop(lo, hi, f, w_re, w_im, scale)
}

/// `acc[i] += a[i] · b[i]` (complex), dispatched as [`fold_twist`] is.
pub fn fourier_mul_add(acc: &mut [c64], a: &[c64], b: &[c64]) {
    #[cfg(target_arch = "x86_64")]
    if crate::commons::simd::has_avx512() && acc.len().is_multiple_of(4) {
        // SAFETY: as in `fold_twist`.
        return unsafe { avx512::fourier_mul_add(acc, a, b) };
    }
    fourier_mul_add_loop(acc, a, b)
}

/// `acc = Σ_t keys_t · digits_t` (complex, pointwise) over `terms` pairs, with `keys_t =
/// keys[t·stride ..][..len]` and `digits_t = digits[t·len ..][..len]` (`len = acc.len()`): the
/// external product's sum over levels and rows, each point summed in registers and stored once.
pub fn fourier_dot(acc: &mut [c64], keys: &[c64], stride: usize, digits: &[c64], terms: usize) {
    let len = acc.len();
    assert!(terms >= 1, "an empty sum");
    assert!(keys.len() >= (terms - 1) * stride + len && digits.len() >= terms * len);
    #[cfg(target_arch = "x86_64")]
    if crate::commons::simd::has_avx512() && len.is_multiple_of(4) {
        // SAFETY: as in `fold_twist`; the slice bounds are asserted above.
        return unsafe { avx512::fourier_dot(acc, keys, stride, digits, terms) };
    }
    for t in 0..terms {
        let (k, d) = (&keys[t * stride..][..len], &digits[t * len..][..len]);
        if t == 0 {
            acc.iter_mut().for_each(|x| *x = c64::new(0.0, 0.0));
        }
        fourier_mul_add_loop(acc, k, d);
    }
}

/// Asks the cache hierarchy for `data` ahead of its use (into L2: `prefetcht1`, one request per
/// 64-byte line); a no-op where the target has no such hint.
#[inline]
pub fn prefetch(data: &[c64]) {
    #[cfg(target_arch = "x86_64")]
    for i in (0..data.len()).step_by(4) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
        // SAFETY: a prefetch never faults, and the address is inside `data`.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(data.as_ptr().add(i) as *const i8) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

crate::multiversion! {
    /// The plain loop of [`fold_twist`] (the reference the AVX-512 kernel is tested against).
    pub(crate) fn fold_twist_loop(out: &mut [c64], re: &[u64], im: &[u64], w_re: &[f64], w_im: &[f64], scale: f64) {
        for ((((o, &a), &b), &c), &s) in out.iter_mut().zip(re).zip(im).zip(w_re).zip(w_im) {
            let (a, b) = (a as i64 as f64 * scale, b as i64 as f64 * scale);
            *o = c64::new(a * c - b * s, a * s + b * c);
        }
    }
}

crate::multiversion! {
    /// The plain loop of [`untwist_add_torus`].
    pub(crate) fn untwist_add_torus_loop(lo: &mut [u64], hi: &mut [u64], f: &[c64], w_re: &[f64], w_im: &[f64], scale: f64) {
        for ((((l, h), z), &c), &s) in lo.iter_mut().zip(hi.iter_mut()).zip(f).zip(w_re).zip(w_im) {
            let (c, s) = (c * scale, s * scale);
            let re = z.re * c + z.im * s;
            let im = z.im * c - z.re * s;
            *l = l.wrapping_add(from_torus(re));
            *h = h.wrapping_add(from_torus(im));
        }
    }
}

/// The word nearest to the fraction of `x` times 2^64 (TFHE-rs `FromTorus::from_torus`, with
/// ties to even instead of away from zero: one rounding instruction that vectorizes, where
/// `f64::round` is a library call per element; the two differ only on exact ties).
#[inline(always)]
pub fn from_torus(x: f64) -> u64 {
    let fract = x - x.round_ties_even();
    (fract * 2f64.powi(64)).round_ties_even() as i64 as u64
}

crate::multiversion! {
    /// The plain loop of [`fourier_mul_add`].
    pub(crate) fn fourier_mul_add_loop(acc: &mut [c64], a: &[c64], b: &[c64]) {
        for ((o, x), y) in acc.iter_mut().zip(a).zip(b) {
            o.re += x.re * y.re - x.im * y.im;
            o.im += x.re * y.im + x.im * y.re;
        }
    }
}

/// AVX-512 kernels for the conversions around the transform and the pointwise product, after
/// TFHE-rs's `fft64::math::fft::x86` (`convert_add_backward_torus_u64_v4` and friends): eight
/// complex points per iteration, de-interleaved with one permute per register, and the
/// f64 → i64 conversion done by `vcvtpd2qq` (round to nearest), which wraps an out-of-range
/// ±2^63 to −2^63 as the torus wants, where Rust's saturating `as` would need fix-ups.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::c64;
    use std::arch::x86_64::*;

    const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

    /// See [`super::fold_twist`]; `out.len()` a multiple of 8.
    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe fn fold_twist(
        out: &mut [c64],
        re: &[u64],
        im: &[u64],
        w_re: &[f64],
        w_im: &[f64],
        scale: f64,
    ) {
        let n = out.len();
        assert!(n.is_multiple_of(8) && re.len() == n && im.len() == n);
        assert!(w_re.len() == n && w_im.len() == n);
        let scale = _mm512_set1_pd(scale);
        // Interleave (re0..re7, im0..im7) into (re0 im0 .. re3 im3) and (re4 im4 .. re7 im7).
        let lo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
        let hi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
        let o = out.as_mut_ptr() as *mut f64;
        for i in (0..n).step_by(8) {
            // SAFETY: i + 8 <= n for every slice read, 2i + 16 <= 2n for `out`.
            unsafe {
                let a = _mm512_loadu_si512(re.as_ptr().add(i) as *const _);
                let b = _mm512_loadu_si512(im.as_ptr().add(i) as *const _);
                let a = _mm512_mul_pd(_mm512_cvtepi64_pd(a), scale);
                let b = _mm512_mul_pd(_mm512_cvtepi64_pd(b), scale);
                let c = _mm512_loadu_pd(w_re.as_ptr().add(i));
                let s = _mm512_loadu_pd(w_im.as_ptr().add(i));
                // (a + ib)(c + is) = (ac − bs) + i(as + bc)
                let x_re = _mm512_fmsub_pd(a, c, _mm512_mul_pd(b, s));
                let x_im = _mm512_fmadd_pd(a, s, _mm512_mul_pd(b, c));
                _mm512_storeu_pd(o.add(2 * i), _mm512_permutex2var_pd(x_re, lo, x_im));
                _mm512_storeu_pd(o.add(2 * i + 8), _mm512_permutex2var_pd(x_re, hi, x_im));
            }
        }
    }

    /// See [`super::untwist_add_torus`]; `f.len()` a multiple of 8.
    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe fn untwist_add_torus(
        lo: &mut [u64],
        hi: &mut [u64],
        f: &[c64],
        w_re: &[f64],
        w_im: &[f64],
        scale: f64,
    ) {
        let n = f.len();
        assert!(n.is_multiple_of(8) && lo.len() == n && hi.len() == n);
        assert!(w_re.len() == n && w_im.len() == n);
        let scale = _mm512_set1_pd(scale);
        let two_64 = _mm512_set1_pd(2f64.powi(64));
        let even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
        let odd = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
        let p = f.as_ptr() as *const f64;
        for i in (0..n).step_by(8) {
            // SAFETY: i + 8 <= n for every slice, 2i + 16 <= 2n for `f`.
            unsafe {
                let z0 = _mm512_loadu_pd(p.add(2 * i));
                let z1 = _mm512_loadu_pd(p.add(2 * i + 8));
                let z_re = _mm512_permutex2var_pd(z0, even, z1);
                let z_im = _mm512_permutex2var_pd(z0, odd, z1);
                let c = _mm512_mul_pd(_mm512_loadu_pd(w_re.as_ptr().add(i)), scale);
                let s = _mm512_mul_pd(_mm512_loadu_pd(w_im.as_ptr().add(i)), scale);
                // z · conj(ω) = (z_re c + z_im s) + i(z_im c − z_re s)
                let re = _mm512_fmadd_pd(z_re, c, _mm512_mul_pd(z_im, s));
                let im = _mm512_fmsub_pd(z_im, c, _mm512_mul_pd(z_re, s));
                let re = _mm512_sub_pd(re, _mm512_roundscale_pd::<NEAREST>(re));
                let im = _mm512_sub_pd(im, _mm512_roundscale_pd::<NEAREST>(im));
                let re = _mm512_cvt_roundpd_epi64::<NEAREST>(_mm512_mul_pd(re, two_64));
                let im = _mm512_cvt_roundpd_epi64::<NEAREST>(_mm512_mul_pd(im, two_64));
                let l = lo.as_mut_ptr().add(i) as *mut __m512i;
                let h = hi.as_mut_ptr().add(i) as *mut __m512i;
                _mm512_storeu_si512(l, _mm512_add_epi64(_mm512_loadu_si512(l), re));
                _mm512_storeu_si512(h, _mm512_add_epi64(_mm512_loadu_si512(h), im));
            }
        }
    }

    /// See [`super::fourier_dot`]; `acc.len()` a multiple of 4, bounds checked by the caller.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fourier_dot(
        acc: &mut [c64],
        keys: &[c64],
        stride: usize,
        digits: &[c64],
        terms: usize,
    ) {
        let len = acc.len();
        let (o, k, d) = (
            acc.as_mut_ptr() as *mut f64,
            keys.as_ptr() as *const f64,
            digits.as_ptr() as *const f64,
        );
        for i in (0..2 * len).step_by(8) {
            // SAFETY: 2·((terms − 1)·stride + len) words of `keys` and 2·terms·len of `digits`
            // exist (asserted by the caller), and i + 8 <= 2·len.
            unsafe {
                let mut sum = _mm512_setzero_pd();
                for t in 0..terms {
                    let x = _mm512_loadu_pd(k.add(2 * t * stride + i));
                    let y = _mm512_loadu_pd(d.add(2 * t * len + i));
                    let y_re = _mm512_movedup_pd(y);
                    let y_im = _mm512_permute_pd::<0xff>(y);
                    let x_swapped = _mm512_permute_pd::<0x55>(x);
                    let p = _mm512_fmaddsub_pd(x, y_re, _mm512_mul_pd(x_swapped, y_im));
                    sum = _mm512_add_pd(sum, p);
                }
                _mm512_storeu_pd(o.add(i), sum);
            }
        }
    }

    /// `acc += a · b` (complex), four points per register; `acc.len()` a multiple of 4.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fourier_mul_add(acc: &mut [c64], a: &[c64], b: &[c64]) {
        let n = acc.len();
        assert!(n.is_multiple_of(4) && a.len() == n && b.len() == n);
        let (o, x, y) = (
            acc.as_mut_ptr() as *mut f64,
            a.as_ptr() as *const f64,
            b.as_ptr() as *const f64,
        );
        for i in (0..2 * n).step_by(8) {
            // SAFETY: i + 8 <= 2n for every slice.
            unsafe {
                let x = _mm512_loadu_pd(x.add(i));
                let y = _mm512_loadu_pd(y.add(i));
                let y_re = _mm512_movedup_pd(y);
                let y_im = _mm512_permute_pd::<0xff>(y);
                let x_swapped = _mm512_permute_pd::<0x55>(x);
                // (x_re y_re − x_im y_im, x_im y_re + x_re y_im)
                let p = _mm512_fmaddsub_pd(x, y_re, _mm512_mul_pd(x_swapped, y_im));
                _mm512_storeu_pd(o.add(i), _mm512_add_pd(_mm512_loadu_pd(o.add(i)), p));
            }
        }
    }
}

/// The plan for `n` coefficients, made once per process (a plan measures its kernels).
pub fn plan_for(n: usize) -> Result<Arc<FftPlan>> {
    static PLANS: OnceLock<Mutex<HashMap<usize, Arc<FftPlan>>>> = OnceLock::new();
    let mut plans = PLANS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = plans.get(&n) {
        return Ok(p.clone());
    }
    let plan = Arc::new(FftPlan::new(n)?);
    plans.insert(n, plan.clone());
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The negacyclic product of an integer polynomial with small coefficients and a torus
    /// polynomial, exact on the integers (wrapping), against the FFT's: equal up to the
    /// rounding error of f64 (≈ 2^-53 times the product's magnitude, here ≈ 2^19: below 2^-28
    /// of the torus).
    #[test]
    fn product_matches_the_schoolbook_negacyclic_product() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for n in [32usize, 512, 2048] {
            let plan = FftPlan::new(n).unwrap();
            let mut scratch = plan.scratch();
            let a: Vec<u64> = (0..n).map(|_| rng.gen_range(-512i64..512) as u64).collect();
            let b: Vec<u64> = (0..n).map(|_| rng.gen()).collect();
            let mut want = vec![0u64; n];
            for i in 0..n {
                for j in 0..n {
                    let p = a[i].wrapping_mul(b[j]);
                    let k = i + j;
                    if k < n {
                        want[k] = want[k].wrapping_add(p);
                    } else {
                        want[k - n] = want[k - n].wrapping_sub(p);
                    }
                }
            }
            let (mut fa, mut fb) = (plan.fourier_zeros(), plan.fourier_zeros());
            plan.forward_integer(&mut fa, &a, &mut scratch);
            plan.forward_torus(&mut fb, &b, &mut scratch);
            let mut acc = plan.fourier_zeros();
            fourier_mul_add(&mut acc, &fa, &fb);
            let mut got = vec![0u64; n];
            plan.add_backward_torus(&mut got, &mut acc, &mut scratch);
            let worst = got
                .iter()
                .zip(&want)
                .map(|(g, w)| (g.wrapping_sub(*w) as i64).unsigned_abs())
                .max()
                .unwrap();
            assert!(
                worst < 1 << 36,
                "N = {n}: error {worst} (2^{:.1})",
                (worst as f64).log2()
            );
        }
    }

    /// The dispatched kernels (AVX-512 on a CPU that has it) against the plain loops: equal up
    /// to f64 rounding (fused multiply-adds round once where the loops round twice).
    #[test]
    fn kernels_agree_with_the_plain_loops() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let plan = FftPlan::new(2048).unwrap();
        let half = 1024;
        let c = |rng: &mut rand_chacha::ChaCha8Rng, m: f64| {
            c64::new(rng.gen_range(-m..m), rng.gen_range(-m..m))
        };
        let re: Vec<u64> = (0..half).map(|_| rng.gen()).collect();
        let im: Vec<u64> = (0..half).map(|_| rng.gen()).collect();
        let (mut fast, mut slow) = (plan.fourier_zeros(), plan.fourier_zeros());
        let scale = 2f64.powi(-64);
        fold_twist(&mut fast, &re, &im, &plan.twist_re, &plan.twist_im, scale);
        fold_twist_loop(&mut slow, &re, &im, &plan.twist_re, &plan.twist_im, scale);
        for (x, y) in fast.iter().zip(&slow) {
            assert!((x.re - y.re).abs() <= 1e-15 && (x.im - y.im).abs() <= 1e-15);
        }

        let a: Vec<c64> = (0..half).map(|_| c(&mut rng, 1e6)).collect();
        let b: Vec<c64> = (0..half).map(|_| c(&mut rng, 1e6)).collect();
        let start: Vec<c64> = (0..half).map(|_| c(&mut rng, 1e12)).collect();
        let (mut fast, mut slow) = (start.clone(), start.clone());
        fourier_mul_add(&mut fast, &a, &b);
        fourier_mul_add_loop(&mut slow, &a, &b);
        for (x, y) in fast.iter().zip(&slow) {
            assert!((x.re - y.re).abs() <= 1e-3 && (x.im - y.im).abs() <= 1e-3);
        }
        // Three terms, the keys strided as a GGSW's rows are.
        let keys: Vec<c64> = (0..3 * 2 * half).map(|_| c(&mut rng, 1e6)).collect();
        let digits: Vec<c64> = (0..3 * half).map(|_| c(&mut rng, 1e6)).collect();
        fourier_dot(&mut fast, &keys[half..], 2 * half, &digits, 3);
        for (i, x) in fast.iter().enumerate() {
            let want: c64 = (0..3)
                .map(|t| keys[half + t * 2 * half + i] * digits[t * half + i])
                .sum();
            assert!((x.re - want.re).abs() <= 1e-3 && (x.im - want.im).abs() <= 1e-3);
        }

        // Values of the backward transform's magnitude (N/2 · 2^20): the untwisted products
        // round at 2^−32 of the torus, so the words agree to 2^33.
        let f: Vec<c64> = (0..half).map(|_| c(&mut rng, 2f64.powi(30))).collect();
        let lo0: Vec<u64> = (0..half).map(|_| rng.gen()).collect();
        let hi0: Vec<u64> = (0..half).map(|_| rng.gen()).collect();
        let (mut lo_fast, mut hi_fast) = (lo0.clone(), hi0.clone());
        let (mut lo_slow, mut hi_slow) = (lo0, hi0);
        let inv = 1.0 / half as f64;
        untwist_add_torus(
            &mut lo_fast,
            &mut hi_fast,
            &f,
            &plan.twist_re,
            &plan.twist_im,
            inv,
        );
        untwist_add_torus_loop(
            &mut lo_slow,
            &mut hi_slow,
            &f,
            &plan.twist_re,
            &plan.twist_im,
            inv,
        );
        for (x, y) in lo_fast
            .iter()
            .chain(&hi_fast)
            .zip(lo_slow.iter().chain(&hi_slow))
        {
            assert!((x.wrapping_sub(*y) as i64).unsigned_abs() < 1 << 33);
        }
    }

    #[test]
    fn sizes_that_are_not_powers_of_two_are_refused() {
        assert!(FftPlan::new(48).is_err());
        assert!(FftPlan::new(16).is_err());
    }
}
