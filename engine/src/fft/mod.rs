//! The negacyclic FFT over f64 (TFHE-rs's FFT64, after Klemsa, "Fast and Error-Free Negacyclic
//! Integer Convolution using Extended Fourier Transform", eprint 2021/480): a real polynomial of
//! N coefficients is folded into N/2 complex points `a[i] + i·a[i + N/2]`, twisted by the 2N-th
//! roots of unity `ω^i`, and transformed by a cyclic FFT of size N/2 — `tfhe-fft`'s unordered
//! plan, whose AVX-512, AVX2+FMA and portable kernels are chosen when the plan is made. A
//! product in this domain is a negacyclic product of the polynomials.
//!
//! As [`crate::ntt`] is: the plan ([`FftPlan`]) chooses its kernels once, when it is made;
//! the kernels sit in their own modules (`avx512`, and `portable`, the reference for it);
//! [`reference`] holds the exact schoolbook product the transforms are tested against.
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
//! let mut product = plan.fourier_zeros();
//! plan.mul_add(&mut product, &fa, &fb);
//! let mut out = vec![0u64; 1024];
//! plan.add_backward_torus(&mut out, &mut product, &mut scratch);
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

#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;
pub mod reference;

/// A negacyclic FFT plan for polynomials of N coefficients (N a power of two, at least 32).
/// The kernels around the transform (fold and twist, untwist and round, the pointwise
/// products) are chosen once, when the plan is made, as [`crate::ntt::Plan`] chooses its
/// butterflies.
pub struct FftPlan {
    n: usize,
    plan: Plan,
    /// `ω^i = exp(iπ i / N)` for i < N/2, real and imaginary parts.
    twist_re: Vec<f64>,
    twist_im: Vec<f64>,
    /// The kernels chosen when the plan was made.
    kernel: Kernel,
}

/// The kernels a plan runs, chosen once at plan time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    /// Plain loops, compiled for AVX2 + FMA or the baseline ([`portable`]): always built,
    /// the reference for the others.
    Portable,
    /// AVX-512 F and DQ, eight complex points per iteration ([`avx512`]).
    #[cfg(target_arch = "x86_64")]
    Avx512,
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
    /// The plan for `n` coefficients, with the fastest kernels this CPU runs (AVX-512 where it
    /// has it and `GLOVEBOX_SIMD` does not cap it); tfhe-fft measures its own for 10 ms.
    pub fn new(n: usize) -> Result<Self> {
        let mut plan = Self::new_portable(n)?;
        #[cfg(target_arch = "x86_64")]
        if crate::commons::simd::has_avx512() {
            plan.kernel = Kernel::Avx512;
        }
        Ok(plan)
    }

    /// A plan that always runs the portable kernels (the reference for the AVX-512 ones).
    pub fn new_portable(n: usize) -> Result<Self> {
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
            kernel: Kernel::Portable,
        })
    }

    /// The name of the kernels this plan runs (`"portable"` or `"avx512"`).
    pub fn kernel_name(&self) -> &'static str {
        match self.kernel {
            Kernel::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => "avx512",
        }
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
        let (re, im) = poly.split_at(half);
        let (w_re, w_im) = (&self.twist_re[..], &self.twist_im[..]);
        match self.kernel {
            Kernel::Portable => portable::fold_twist(out, re, im, w_re, w_im, scale),
            // SAFETY: chosen only on a CPU with AVX-512 F and DQ; N/2 >= 16 points, a
            // multiple of 8; the lengths are asserted above.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { avx512::fold_twist(out, re, im, w_re, w_im, scale) },
        }
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
        let (w_re, w_im, scale) = (&self.twist_re[..], &self.twist_im[..], 1.0 / half as f64);
        match self.kernel {
            Kernel::Portable => portable::untwist_add_torus(lo, hi, fourier, w_re, w_im, scale),
            // SAFETY: as in `fold_twist`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe {
                avx512::untwist_add_torus(lo, hi, fourier, w_re, w_im, scale)
            },
        }
    }

    /// `acc[i] += a[i] · b[i]` (complex, pointwise), over N/2 points.
    pub fn mul_add(&self, acc: &mut [c64], a: &[c64], b: &[c64]) {
        let half = self.n / 2;
        assert!(
            acc.len() == half && a.len() == half && b.len() == half,
            "Fourier size"
        );
        match self.kernel {
            Kernel::Portable => portable::mul_add(acc, a, b),
            // SAFETY: as in `fold_twist`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { avx512::fourier_mul_add(acc, a, b) },
        }
    }

    /// `acc = Σ_t keys_t · digits_t` (complex, pointwise) over `terms` pairs, with `keys_t =
    /// keys[t·stride ..][..N/2]` and `digits_t = digits[t·N/2 ..][..N/2]`: the external
    /// product's sum over levels and rows, each point summed in registers and stored once.
    pub fn dot(&self, acc: &mut [c64], keys: &[c64], stride: usize, digits: &[c64], terms: usize) {
        let len = self.n / 2;
        assert_eq!(acc.len(), len, "Fourier size");
        assert!(terms >= 1, "an empty sum");
        assert!(keys.len() >= (terms - 1) * stride + len && digits.len() >= terms * len);
        match self.kernel {
            Kernel::Portable => portable::dot(acc, keys, stride, digits, terms),
            // SAFETY: as in `fold_twist`; the slice bounds are asserted above.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { avx512::fourier_dot(acc, keys, stride, digits, terms) },
        }
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

/// The word nearest to the fraction of `x` times 2^64 (TFHE-rs `FromTorus::from_torus`, with
/// ties to even instead of away from zero: one rounding instruction that vectorizes, where
/// `f64::round` is a library call per element; the two differ only on exact ties).
#[inline(always)]
pub fn from_torus(x: f64) -> u64 {
    let fract = x - x.round_ties_even();
    (fract * 2f64.powi(64)).round_ties_even() as i64 as u64
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
    /// polynomial, exact on the integers (wrapping, [`reference`]), against the FFT's, on the
    /// chosen kernels and the portable ones: equal up to the rounding error of f64 (≈ 2^-53
    /// times the product's magnitude, here ≈ 2^19: below 2^-28 of the torus).
    #[test]
    fn product_matches_the_schoolbook_negacyclic_product() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for n in [32usize, 512, 2048] {
            let a: Vec<u64> = (0..n).map(|_| rng.gen_range(-512i64..512) as u64).collect();
            let b: Vec<u64> = (0..n).map(|_| rng.gen()).collect();
            let want = reference::negacyclic_mul_wrapping(&a, &b);
            for plan in [FftPlan::new(n).unwrap(), FftPlan::new_portable(n).unwrap()] {
                let mut scratch = plan.scratch();
                let (mut fa, mut fb) = (plan.fourier_zeros(), plan.fourier_zeros());
                plan.forward_integer(&mut fa, &a, &mut scratch);
                plan.forward_torus(&mut fb, &b, &mut scratch);
                let mut acc = plan.fourier_zeros();
                plan.mul_add(&mut acc, &fa, &fb);
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
                    "N = {n}, {}: error {worst} (2^{:.1})",
                    plan.kernel_name(),
                    (worst as f64).log2()
                );
            }
        }
    }

    /// The chosen kernels (AVX-512 on a CPU that has it) against the portable ones, each step
    /// alone: equal up to f64 rounding (fused multiply-adds round once where the loops round
    /// twice). On a CPU without AVX-512 both plans run the portable kernels, and the test
    /// says so.
    #[test]
    fn kernels_agree_with_the_portable_kernels() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let (fast_plan, slow_plan) = (
            FftPlan::new(2048).unwrap(),
            FftPlan::new_portable(2048).unwrap(),
        );
        if fast_plan.kernel == Kernel::Portable {
            // Past libtest's capture, so that it shows in every run.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "NOTE kernels_agree_with_the_portable_kernels: no AVX-512 on this CPU, both \
                 plans run the portable kernels"
            );
        }
        let half = 1024;
        let c = |rng: &mut rand_chacha::ChaCha8Rng, m: f64| {
            c64::new(rng.gen_range(-m..m), rng.gen_range(-m..m))
        };
        let poly: Vec<u64> = (0..2 * half).map(|_| rng.gen()).collect();
        let (mut fast, mut slow) = (fast_plan.fourier_zeros(), slow_plan.fourier_zeros());
        fast_plan.fold_twist(&mut fast, &poly, 2f64.powi(-64));
        slow_plan.fold_twist(&mut slow, &poly, 2f64.powi(-64));
        for (x, y) in fast.iter().zip(&slow) {
            assert!((x.re - y.re).abs() <= 1e-15 && (x.im - y.im).abs() <= 1e-15);
        }

        let a: Vec<c64> = (0..half).map(|_| c(&mut rng, 1e6)).collect();
        let b: Vec<c64> = (0..half).map(|_| c(&mut rng, 1e6)).collect();
        let start: Vec<c64> = (0..half).map(|_| c(&mut rng, 1e12)).collect();
        let (mut fast, mut slow) = (start.clone(), start.clone());
        fast_plan.mul_add(&mut fast, &a, &b);
        slow_plan.mul_add(&mut slow, &a, &b);
        for (x, y) in fast.iter().zip(&slow) {
            assert!((x.re - y.re).abs() <= 1e-3 && (x.im - y.im).abs() <= 1e-3);
        }
        // Three terms, the keys strided as a GGSW's rows are, against the sum written out.
        let keys: Vec<c64> = (0..3 * 2 * half).map(|_| c(&mut rng, 1e6)).collect();
        let digits: Vec<c64> = (0..3 * half).map(|_| c(&mut rng, 1e6)).collect();
        for plan in [&fast_plan, &slow_plan] {
            plan.dot(&mut fast, &keys[half..], 2 * half, &digits, 3);
            for (i, x) in fast.iter().enumerate() {
                let want: c64 = (0..3)
                    .map(|t| keys[half + t * 2 * half + i] * digits[t * half + i])
                    .sum();
                assert!((x.re - want.re).abs() <= 1e-3 && (x.im - want.im).abs() <= 1e-3);
            }
        }

        // Values of the backward transform's magnitude (N/2 · 2^20), through the untwisting
        // alone (the inverse FFT is the same tfhe-fft plan in both): the untwisted products
        // round at 2^−32 of the torus, so the words agree to 2^33.
        let f: Vec<c64> = (0..half).map(|_| c(&mut rng, 2f64.powi(30))).collect();
        let out0: Vec<u64> = (0..2 * half).map(|_| rng.gen()).collect();
        let untwist = |plan: &FftPlan| {
            let mut out = out0.clone();
            let (lo, hi) = out.split_at_mut(half);
            let (w_re, w_im, inv) = (&plan.twist_re[..], &plan.twist_im[..], 1.0 / half as f64);
            match plan.kernel {
                Kernel::Portable => portable::untwist_add_torus(lo, hi, &f, w_re, w_im, inv),
                // SAFETY: chosen only where the CPU has AVX-512 F and DQ; 1024 points.
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512 => unsafe { avx512::untwist_add_torus(lo, hi, &f, w_re, w_im, inv) },
            }
            out
        };
        for (x, y) in untwist(&fast_plan).iter().zip(&untwist(&slow_plan)) {
            assert!((x.wrapping_sub(*y) as i64).unsigned_abs() < 1 << 33);
        }
    }

    #[test]
    fn sizes_that_are_not_powers_of_two_are_refused() {
        assert!(FftPlan::new(48).is_err());
        assert!(FftPlan::new(16).is_err());
    }
}
