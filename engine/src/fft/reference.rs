//! The O(N²) negacyclic product on the torus: the exact result every FFT product is compared
//! with (the FFT's is within its rounding error of it).

/// `a · b mod X^N + 1` with wrapping 64-bit arithmetic: `a` small signed integers (two's
/// complement words, such as gadget digits), `b` a torus polynomial.
///
/// ```
/// use glovebox_engine::fft::reference::negacyclic_mul_wrapping;
/// // X · X^3 = X^4 = −1 in Z[X]/(X^4 + 1).
/// let prod = negacyclic_mul_wrapping(&[0, 1, 0, 0], &[0, 0, 0, 5]);
/// assert_eq!(prod, vec![5u64.wrapping_neg(), 0, 0, 0]);
/// ```
pub fn negacyclic_mul_wrapping(a: &[u64], b: &[u64]) -> Vec<u64> {
    let n = a.len();
    assert_eq!(n, b.len(), "polynomial sizes");
    let mut out = vec![0u64; n];
    for (i, &x) in a.iter().enumerate() {
        if x == 0 {
            continue;
        }
        for (j, &y) in b.iter().enumerate() {
            let p = x.wrapping_mul(y);
            let k = i + j;
            if k < n {
                out[k] = out[k].wrapping_add(p);
            } else {
                out[k - n] = out[k - n].wrapping_sub(p);
            }
        }
    }
    out
}
