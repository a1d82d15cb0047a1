//! Negacyclic number-theoretic transform over p = 2^64 − 2^32 + 1.
//!
//! A [`Plan`] for size N precomputes the powers of a primitive 2N-th root of unity ψ once.
//! [`Plan::fwd`] maps a polynomial of Z_p[X]/(X^N + 1) to its evaluations at the odd powers
//! of ψ, **in bit-reversed order**; [`Plan::inv`] maps them back (input bit-reversed, output in
//! natural order). Products of polynomials are pointwise products in between, whatever the
//! order, so callers never need to permute.
//!
//! The forward transform is the merged Cooley–Tukey butterfly network of Longa & Naehrig
//! ("Speeding up the Number Theoretic Transform for Faster Ideal Lattice-Based Cryptography",
//! 2016, Algorithm 1); the inverse is their Gentleman–Sande network (Algorithm 2). The
//! reference for tests is [`reference::negacyclic_mul_naive`].
//!
//! ```
//! use glovebox_engine::ntt::{Plan, reference::negacyclic_mul_naive};
//! let plan = Plan::try_new(256).unwrap();
//! let a: Vec<u64> = (0..256).map(|i| i * i + 1).collect();
//! let b: Vec<u64> = (0..256).map(|i| 3 * i + 7).collect();
//! let (mut fa, mut fb) = (a.clone(), b.clone());
//! plan.fwd(&mut fa);
//! plan.fwd(&mut fb);
//! let mut prod = vec![0u64; 256];
//! plan.mul_accumulate(&mut prod, &fa, &fb);
//! plan.inv(&mut prod);
//! assert_eq!(prod, negacyclic_mul_naive(&a, &b));
//! ```

#[cfg(target_arch = "x86_64")]
mod avx512;
pub mod reference;
mod scalar;

use crate::commons::modp;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The shared plan for size `n` (built on first use, then reused by every caller).
pub fn plan_for(n: usize) -> Result<Arc<Plan>> {
    static PLANS: OnceLock<Mutex<HashMap<usize, Arc<Plan>>>> = OnceLock::new();
    let plans = PLANS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut guard = plans.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = guard.get(&n) {
        return Ok(p.clone());
    }
    let plan = Arc::new(Plan::try_new(n)?);
    guard.insert(n, plan.clone());
    Ok(plan)
}

/// Smallest supported transform size.
pub const MIN_SIZE: usize = 256;
/// Largest supported transform size.
pub const MAX_SIZE: usize = 16384;

/// A negacyclic NTT of one size, with its twiddles.
#[derive(Clone, Debug)]
pub struct Plan {
    n: usize,
    /// ψ^{bitrev(i)}, i < N (Longa–Naehrig's Ψ_rev), canonical.
    fwd_twiddles: Vec<u64>,
    /// ψ^{−bitrev(i)}, i < N, canonical.
    inv_twiddles: Vec<u64>,
    /// N^{−1} mod p.
    n_inv: u64,
    /// The kernel chosen when the plan was built.
    kernel: Kernel,
}

/// The butterfly kernels a plan runs, chosen once at plan time.
#[derive(Clone, Debug)]
enum Kernel {
    /// Portable radix-2 code: always built, the reference for the others.
    Scalar,
    /// AVX-512F, eight residues per vector.
    #[cfg(target_arch = "x86_64")]
    Avx512(avx512::SmallStages),
}

impl Plan {
    /// A plan for size `n`: a power of two in [`MIN_SIZE`, `MAX_SIZE`].
    pub fn try_new(n: usize) -> Result<Self> {
        let mut plan = Self::try_new_portable(n)?;
        #[cfg(target_arch = "x86_64")]
        if avx512::available() && std::env::var_os("GLOVEBOX_NTT_PORTABLE").is_none() {
            plan.kernel = Kernel::Avx512(avx512::SmallStages::new(
                n,
                &plan.fwd_twiddles,
                &plan.inv_twiddles,
            ));
        }
        Ok(plan)
    }

    /// A plan that always runs the portable kernels (the reference for the SIMD kernels;
    /// `GLOVEBOX_NTT_PORTABLE=1` makes [`Plan::try_new`] choose them too).
    pub fn try_new_portable(n: usize) -> Result<Self> {
        Self::check_size(n)?;
        let log_n = n.trailing_zeros();
        let psi = modp::primitive_root_of_unity(2 * n as u64);
        let psi_inv = modp::inv(psi);
        let mut fwd_twiddles = vec![0u64; n];
        let mut inv_twiddles = vec![0u64; n];
        let (mut p, mut q) = (1u64, 1u64);
        for i in 0..n {
            let r = i.reverse_bits() >> (usize::BITS - log_n);
            fwd_twiddles[r] = p;
            inv_twiddles[r] = q;
            p = modp::mul(p, psi);
            q = modp::mul(q, psi_inv);
        }
        Ok(Self {
            n,
            fwd_twiddles,
            inv_twiddles,
            n_inv: modp::inv(n as u64),
            kernel: Kernel::Scalar,
        })
    }

    /// The name of the kernel this plan runs (`"scalar"` or `"avx512"`).
    pub fn kernel_name(&self) -> &'static str {
        match self.kernel {
            Kernel::Scalar => "scalar",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(_) => "avx512",
        }
    }

    /// `Ok` for the sizes a plan can be built for.
    pub fn check_size(n: usize) -> Result<()> {
        if !n.is_power_of_two() || !(MIN_SIZE..=MAX_SIZE).contains(&n) {
            return Err(Error::UnsupportedPolynomialSize(n));
        }
        Ok(())
    }

    /// The transform size N.
    pub fn size(&self) -> usize {
        self.n
    }

    /// N^{−1} mod p.
    pub fn n_inv(&self) -> u64 {
        self.n_inv
    }

    /// The forward twiddles ψ^{bitrev(i)}, i < N (Longa–Naehrig's Ψ_rev), canonical: what a
    /// device kernel needs to run the same butterfly network as [`Plan::fwd`].
    pub fn forward_twiddles(&self) -> &[u64] {
        &self.fwd_twiddles
    }

    /// The inverse twiddles ψ^{−bitrev(i)}, i < N, canonical (for [`Plan::inv`]'s network).
    pub fn inverse_twiddles(&self) -> &[u64] {
        &self.inv_twiddles
    }

    fn check_len(&self, len: usize) {
        assert_eq!(
            len, self.n,
            "NTT input of {len} words for a plan of size {}",
            self.n
        );
    }

    /// In-place forward transform. Input: canonical residues in natural order. Output:
    /// canonical, bit-reversed order.
    ///
    /// # Panics
    /// If `data.len()` differs from the plan's size (an internal contract; the public
    /// entry points check sizes and return [`Error`]s).
    pub fn fwd(&self, data: &mut [u64]) {
        self.check_len(data.len());
        match &self.kernel {
            Kernel::Scalar => scalar::fwd(data, &self.fwd_twiddles),
            // SAFETY: the kernel is only chosen when the CPU reports AVX-512F.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(small) => unsafe { avx512::fwd(data, &self.fwd_twiddles, small) },
        }
    }

    /// In-place inverse transform **without** the final multiplication by N^{−1}, for callers
    /// that folded N^{−1} into an operand. Input bit-reversed, output natural order; canonical.
    pub fn inv_unnormalized(&self, data: &mut [u64]) {
        self.check_len(data.len());
        match &self.kernel {
            Kernel::Scalar => scalar::inv(data, &self.inv_twiddles),
            // SAFETY: as in `fwd`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(small) => unsafe { avx512::inv(data, &self.inv_twiddles, small) },
        }
    }

    /// In-place inverse transform: `inv(fwd(a)) == a`.
    pub fn inv(&self, data: &mut [u64]) {
        self.inv_unnormalized(data);
        self.scale(data, self.n_inv);
    }

    /// Multiplies every coefficient by `factor` (canonical output).
    pub fn scale(&self, data: &mut [u64], factor: u64) {
        match &self.kernel {
            // SAFETY: as in `fwd`; the slice is walked in whole vectors only.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(_) if data.len().is_multiple_of(8) => unsafe {
                avx512::scale(data, factor)
            },
            _ => {
                for x in data.iter_mut() {
                    *x = modp::mul(*x, factor);
                }
            }
        }
    }

    /// `acc[i] += a[i] · b[i] mod p`, all canonical.
    pub fn mul_accumulate(&self, acc: &mut [u64], a: &[u64], b: &[u64]) {
        self.check_len(acc.len());
        assert!(a.len() == acc.len() && b.len() == acc.len());
        match &self.kernel {
            Kernel::Scalar => scalar::mul_accumulate(acc, a, b),
            // SAFETY: as in `fwd`; all three slices have N ≥ 256 words (checked above).
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(_) => unsafe { avx512::mul_accumulate(acc, a, b) },
        }
    }

    /// `out[i] = Σ_t a[t][i] · b[t][i] mod p` (the NTT-domain inner product of the external
    /// product), all canonical.
    pub fn dot_product(&self, out: &mut [u64], a: &[&[u64]], b: &[&[u64]]) {
        self.check_len(out.len());
        assert!(a.len() == b.len() && a.iter().chain(b).all(|x| x.len() == out.len()));
        match &self.kernel {
            Kernel::Scalar => scalar::dot_product(out, a, b),
            // SAFETY: as in `fwd`; every slice has N ≥ 256 words (checked above).
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(_) => unsafe { avx512::dot_product(out, a, b) },
        }
    }

    /// The negacyclic product of two polynomials with canonical coefficients.
    pub fn negacyclic_mul(&self, a: &[u64], b: &[u64]) -> Vec<u64> {
        let mut fa = a.to_vec();
        let mut fb = b.to_vec();
        self.fwd(&mut fa);
        self.fwd(&mut fb);
        let mut prod = vec![0u64; self.n];
        self.mul_accumulate(&mut prod, &fa, &fb);
        self.inv(&mut prod);
        prod
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_poly(rng: &mut impl Rng, n: usize) -> Vec<u64> {
        (0..n).map(|_| rng.gen_range(0..modp::P)).collect()
    }

    #[test]
    fn rejects_unsupported_sizes() {
        for n in [0, 1, 128, 300, 32768, 1000] {
            assert_eq!(
                Plan::try_new(n).unwrap_err(),
                Error::UnsupportedPolynomialSize(n)
            );
        }
    }

    #[test]
    fn forward_inverse_is_identity_for_every_size() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut n = MIN_SIZE;
        while n <= MAX_SIZE {
            let plan = Plan::try_new(n).unwrap();
            for _ in 0..3 {
                let a = random_poly(&mut rng, n);
                let mut b = a.clone();
                plan.fwd(&mut b);
                assert_ne!(a, b);
                plan.inv(&mut b);
                assert_eq!(a, b, "n = {n}");
            }
            n *= 2;
        }
    }

    #[test]
    fn ntt_product_equals_naive_product_for_every_size() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let mut n = MIN_SIZE;
        while n <= MAX_SIZE {
            let plan = Plan::try_new(n).unwrap();
            let mut a = random_poly(&mut rng, n);
            let b = random_poly(&mut rng, n);
            // Edge values in the inputs.
            a[0] = modp::P - 1;
            a[1] = 1 << 32;
            a[2] = 0;
            assert_eq!(
                plan.negacyclic_mul(&a, &b),
                reference::negacyclic_mul_naive(&a, &b),
                "n = {n}"
            );
            n *= 2;
        }
    }

    #[test]
    fn fast_kernel_equals_portable_kernel_word_for_word() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(14);
        let mut n = MIN_SIZE;
        while n <= MAX_SIZE {
            let fast = Plan::try_new(n).unwrap();
            let portable = Plan::try_new_portable(n).unwrap();
            assert_eq!(portable.kernel_name(), "scalar");
            for round in 0..4 {
                let mut a = random_poly(&mut rng, n);
                if round == 0 {
                    // Edge values: 0, 1, p − 1, 2^32, 2^32 − 1, 2^63.
                    for (i, v) in [0, 1, modp::P - 1, 1 << 32, (1 << 32) - 1, 1 << 63]
                        .into_iter()
                        .enumerate()
                    {
                        a[i * 7 % n] = v;
                    }
                }
                if round == 1 {
                    a.fill(modp::P - 1);
                }
                let (mut x, mut y) = (a.clone(), a.clone());
                fast.fwd(&mut x);
                portable.fwd(&mut y);
                assert_eq!(x, y, "fwd n = {n} ({})", fast.kernel_name());
                let b = random_poly(&mut rng, n);
                let (mut ax, mut ay) = (b.clone(), b.clone());
                fast.mul_accumulate(&mut ax, &x, &a);
                portable.mul_accumulate(&mut ay, &y, &a);
                assert_eq!(ax, ay, "mul_accumulate n = {n}");
                let (mut dx, mut dy) = (vec![0; n], vec![0; n]);
                fast.dot_product(&mut dx, &[&x, &b, &a], &[&a, &x, &b]);
                portable.dot_product(&mut dy, &[&y, &b, &a], &[&a, &y, &b]);
                assert_eq!(dx, dy, "dot_product n = {n}");
                fast.inv(&mut x);
                portable.inv(&mut y);
                assert_eq!(x, y, "inv n = {n}");
                assert_eq!(x, a);
            }
            n *= 2;
        }
    }

    #[test]
    fn forward_evaluates_at_odd_powers_of_psi() {
        // fwd output slot bitrev(i) holds a(ψ^{2i+1}).
        let n = 256;
        let plan = Plan::try_new(n).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
        let a = random_poly(&mut rng, n);
        let mut fa = a.clone();
        plan.fwd(&mut fa);
        let psi = modp::primitive_root_of_unity(2 * n as u64);
        for i in [0usize, 1, 5, 100, 255] {
            let x = modp::pow(psi, 2 * i as u64 + 1);
            let mut eval = 0u64;
            for c in a.iter().rev() {
                eval = modp::add(modp::mul(eval, x), *c);
            }
            let slot = i.reverse_bits() >> (usize::BITS - 8);
            assert_eq!(fa[slot], eval);
        }
    }
}
