//! The O(N²) negacyclic product over Z/pZ: the reference every NTT is tested against.

use crate::commons::modp;

/// `a · b mod (X^N + 1, p)` by schoolbook multiplication. Inputs need not be canonical.
///
/// ```
/// use glovebox_engine::ntt::reference::negacyclic_mul_naive;
/// // X · X^{N−1} = X^N = −1 in Z_p[X]/(X^N + 1).
/// let n = 4;
/// let mut x = vec![0u64; n];
/// x[1] = 1;
/// let mut y = vec![0u64; n];
/// y[n - 1] = 1;
/// let prod = negacyclic_mul_naive(&x, &y);
/// assert_eq!(prod, vec![glovebox_engine::commons::modp::P - 1, 0, 0, 0]);
/// ```
pub fn negacyclic_mul_naive(a: &[u64], b: &[u64]) -> Vec<u64> {
    let n = a.len();
    assert_eq!(n, b.len());
    let mut out = vec![0u64; n];
    for i in 0..n {
        if a[i] == 0 {
            continue;
        }
        for j in 0..n {
            let prod = modp::mul(a[i], b[j]);
            let k = i + j;
            if k < n {
                out[k] = modp::add(out[k], prod);
            } else {
                out[k - n] = modp::sub(out[k - n], prod);
            }
        }
    }
    out
}
