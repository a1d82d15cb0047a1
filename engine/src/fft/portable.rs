//! The portable kernels: plain loops, each compiled for AVX-512, AVX2 + FMA and the baseline
//! and chosen at run time ([`crate::multiversion!`]). They are the kernels of a plan on a CPU
//! without AVX-512 and the reference the AVX-512 kernels ([`super::avx512`]) are tested
//! against.

use super::c64;

crate::multiversion! {
    /// `out[i] = (re[i] + i·im[i]) · scale · ω^i`, the words read as signed integers.
    pub(crate) fn fold_twist(out: &mut [c64], re: &[u64], im: &[u64], w_re: &[f64], w_im: &[f64], scale: f64) {
        for ((((o, &a), &b), &c), &s) in out.iter_mut().zip(re).zip(im).zip(w_re).zip(w_im) {
            let (a, b) = (a as i64 as f64 * scale, b as i64 as f64 * scale);
            *o = c64::new(a * c - b * s, a * s + b * c);
        }
    }
}

crate::multiversion! {
    /// `lo[i] += torus(Re(z_i)), hi[i] += torus(Im(z_i))` with `z_i = f[i] · scale · conj(ω^i)`.
    pub(crate) fn untwist_add_torus(lo: &mut [u64], hi: &mut [u64], f: &[c64], w_re: &[f64], w_im: &[f64], scale: f64) {
        for ((((l, h), z), &c), &s) in lo.iter_mut().zip(hi.iter_mut()).zip(f).zip(w_re).zip(w_im) {
            let (c, s) = (c * scale, s * scale);
            let re = z.re * c + z.im * s;
            let im = z.im * c - z.re * s;
            *l = l.wrapping_add(super::from_torus(re));
            *h = h.wrapping_add(super::from_torus(im));
        }
    }
}

crate::multiversion! {
    /// `acc[i] += a[i] · b[i]` (complex).
    pub(crate) fn mul_add(acc: &mut [c64], a: &[c64], b: &[c64]) {
        for ((o, x), y) in acc.iter_mut().zip(a).zip(b) {
            o.re += x.re * y.re - x.im * y.im;
            o.im += x.re * y.im + x.im * y.re;
        }
    }
}

/// `acc = Σ_t keys_t · digits_t` (see [`super::FftPlan::dot`]).
pub(crate) fn dot(acc: &mut [c64], keys: &[c64], stride: usize, digits: &[c64], terms: usize) {
    let len = acc.len();
    acc.iter_mut().for_each(|x| *x = c64::new(0.0, 0.0));
    for t in 0..terms {
        mul_add(acc, &keys[t * stride..][..len], &digits[t * len..][..len]);
    }
}
