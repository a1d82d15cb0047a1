//! AVX-512 kernels for the conversions around the transform and the pointwise product, after
//! TFHE-rs's `fft64::math::fft::x86` (`convert_add_backward_torus_u64_v4` and friends): eight
//! complex points per iteration, de-interleaved with one permute per register, and the
//! f64 → i64 conversion done by `vcvtpd2qq` (round to nearest), which wraps an out-of-range
//! ±2^63 to −2^63 as the torus wants, where Rust's saturating `as` would need fix-ups.
//!
//! Only [`super::FftPlan`] calls these, and only when it chose them at plan time (the CPU has
//! AVX-512 F and DQ, and the transform's N/2 points are a multiple of 8).

use super::c64;
use std::arch::x86_64::*;

const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

/// See [`super::portable::fold_twist`]; `out.len()` a multiple of 8.
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

/// See [`super::portable::untwist_add_torus`]; `f.len()` a multiple of 8.
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

/// See [`super::FftPlan::dot`]; `acc.len()` a multiple of 4, bounds checked by the caller.
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
