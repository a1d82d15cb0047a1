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

crate::multiversion! {
    /// `out[i] = (re[i] + i·im[i]) · scale · ω^i`, the words read as signed integers.
    fn fold_twist(out: &mut [c64], re: &[u64], im: &[u64], w_re: &[f64], w_im: &[f64], scale: f64) {
        for ((((o, &a), &b), &c), &s) in out.iter_mut().zip(re).zip(im).zip(w_re).zip(w_im) {
            let (a, b) = (a as i64 as f64 * scale, b as i64 as f64 * scale);
            *o = c64::new(a * c - b * s, a * s + b * c);
        }
    }
}

crate::multiversion! {
    /// `lo[i] += torus(Re(z_i)), hi[i] += torus(Im(z_i))` with `z_i = f[i] · scale · conj(ω^i)`.
    fn untwist_add_torus(lo: &mut [u64], hi: &mut [u64], f: &[c64], w_re: &[f64], w_im: &[f64], scale: f64) {
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
    /// `acc[i] += a[i] · b[i]` (complex).
    pub fn fourier_mul_add(acc: &mut [c64], a: &[c64], b: &[c64]) {
        for ((o, x), y) in acc.iter_mut().zip(a).zip(b) {
            o.re += x.re * y.re - x.im * y.im;
            o.im += x.re * y.im + x.im * y.re;
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

    #[test]
    fn sizes_that_are_not_powers_of_two_are_refused() {
        assert!(FftPlan::new(48).is_err());
        assert!(FftPlan::new(16).is_err());
    }
}
