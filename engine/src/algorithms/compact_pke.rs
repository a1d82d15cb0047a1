//! Public-key encryption, TFHE-rs's compact way: a ring-LWE public key
//! ([`LweCompactPublicKey`]) from which anyone encrypts several messages as one
//! [`LweCompactCiphertextList`] (one mask polynomial for up to n messages), which the server
//! expands into ordinary LWE ciphertexts under the public key's secret key. Word for word
//! TFHE-rs 1.8's `generate_lwe_compact_public_key`,
//! `encrypt_lwe_compact_ciphertext_list_with_compact_public_key` and
//! `expand_lwe_compact_ciphertext_list` (`core_crypto::algorithms`), given the same random
//! draws.
//!
//! ```
//! use glovebox_engine::algorithms::compact_pke::*;
//! use glovebox_engine::prelude::*;
//! let mut g = CsprngGenerator::from_seed([7; 32]);
//! let noise = NoiseDistribution::TUniform { bound_log2: 17 };
//! let sk = LweSecretKey::generate(LweDimension(64), &mut g);
//! let pk = generate_lwe_compact_public_key(&sk, noise, &mut g)?;
//! let delta = 1u64 << 60;
//! let list = encrypt_lwe_compact_ciphertext_list(&pk, &[3 * delta, 9 * delta], noise, noise, &mut g)?;
//! let cts = expand_lwe_compact_ciphertext_list(&list)?;
//! let m: Vec<u64> = cts
//!     .iter()
//!     .map(|ct| (decrypt_lwe_ciphertext(&sk, ct).unwrap().wrapping_add(delta / 2)) >> 60)
//!     .collect();
//! assert_eq!(m, [3, 9]);
//! # Ok::<(), glovebox_engine::Error>(())
//! ```

use crate::algorithms::polynomial::{add_mul_by_binary, monomial_mul, BinaryPolynomialNtt};
use crate::commons::dimensions::LweDimension;
use crate::commons::random::{CsprngGenerator, NoiseDistribution};
use crate::entities::{LweCiphertext, LweCompactCiphertextList, LweCompactPublicKey, LweSecretKey};
use crate::error::{Error, Result};

/// `u ⊛ v = u · rev(v) mod (X^n + 1)` over Z_2^64, rev(v)_i = v_(n−1−i) (TFHE-rs's
/// `slice_semi_reverse_negacyclic_convolution`):
/// `out[k] = Σ_(i≤k) u_i v_(n−1−k+i) − Σ_(i>k) u_i v_(i−k−1)`, so `out[n − 1] = ⟨u, v⟩`.
///
/// ```
/// use glovebox_engine::algorithms::compact_pke::semi_reverse_negacyclic_convolution;
/// let mut out = [0u64; 3];
/// semi_reverse_negacyclic_convolution(&mut out, &[1, 2, 3], &[4, 5, 6]);
/// assert_eq!(out.map(|x| x as i64), [-17, 5, 32]);
/// ```
pub fn semi_reverse_negacyclic_convolution(out: &mut [u64], u: &[u64], v: &[u64]) {
    let n = out.len();
    debug_assert!(u.len() == n && v.len() == n);
    for (k, o) in out.iter_mut().enumerate() {
        let mut acc = 0u64;
        for (i, &ui) in u.iter().enumerate() {
            if i <= k {
                acc = acc.wrapping_add(ui.wrapping_mul(v[n - 1 - k + i]));
            } else {
                acc = acc.wrapping_sub(ui.wrapping_mul(v[i - k - 1]));
            }
        }
        *o = acc;
    }
}

/// [`semi_reverse_negacyclic_convolution`] for a binary `v` (a secret key, an encryption's
/// `r`), exactly and in O(n log n): `u · rev(v)` through the NTT over p
/// ([`add_mul_by_binary`]). The same words as the schoolbook form, which stays as its reference
/// and serves sizes below the NTT's smallest ([`crate::ntt::MIN_SIZE`]).
pub fn semi_reverse_negacyclic_convolution_by_binary(
    out: &mut [u64],
    u: &[u64],
    v: &[u64],
) -> Result<()> {
    let n = out.len();
    debug_assert!(u.len() == n && v.len() == n && v.iter().all(|&b| b <= 1));
    if n < crate::ntt::MIN_SIZE {
        semi_reverse_negacyclic_convolution(out, u, v);
        return Ok(());
    }
    let plan = crate::ntt::plan_for(n)?;
    let rev: Vec<u64> = v.iter().rev().copied().collect();
    out.fill(0);
    add_mul_by_binary(out, u, &BinaryPolynomialNtt::new(&plan, &rev), &plan);
    Ok(())
}

fn check_power_of_two(n: usize) -> Result<()> {
    if n == 0 || !n.is_power_of_two() {
        return Err(Error::InvalidParameters(format!(
            "compact public-key dimension {n}: a power of two"
        )));
    }
    Ok(())
}

/// A compact public key of `secret_key` (binary, of a power-of-two dimension n): `a` uniform,
/// `b = a ⊛ s + e` with `e` drawn from `noise` coefficient by coefficient.
pub fn generate_lwe_compact_public_key(
    secret_key: &LweSecretKey,
    noise: NoiseDistribution,
    generator: &mut CsprngGenerator,
) -> Result<LweCompactPublicKey> {
    let n = secret_key.lwe_dimension().0;
    check_power_of_two(n)?;
    let mut data = vec![0u64; 2 * n];
    let (a, b) = data.split_at_mut(n);
    generator.fill_uniform(a);
    semi_reverse_negacyclic_convolution_by_binary(b, a, secret_key.as_slice())?;
    for x in b.iter_mut() {
        *x = x.wrapping_add(generator.noise(noise, 64));
    }
    LweCompactPublicKey::from_container(data)
}

/// Encrypts `plaintexts` (already encoded on the torus) as one compact list under `key`: for
/// each bin of up to n plaintexts a binary `r`, the mask `A = a ⊛ r + e1` and, with
/// `C = b ⊛ r`, the bodies `C[n − 1 − j] + e2_j + m_j`; `e1` from `mask_noise`, `e2` from
/// `body_noise` (TFHE-rs draws `r` for every bin first, then `e1` for every bin, then `e2`).
pub fn encrypt_lwe_compact_ciphertext_list(
    key: &LweCompactPublicKey,
    plaintexts: &[u64],
    mask_noise: NoiseDistribution,
    body_noise: NoiseDistribution,
    generator: &mut CsprngGenerator,
) -> Result<LweCompactCiphertextList> {
    let n = key.lwe_dimension().0;
    let count = plaintexts.len();
    let masks = LweCompactCiphertextList::mask_count(key.lwe_dimension(), count);
    let r: Vec<u64> = (0..masks * n).map(|_| generator.uniform_bit()).collect();
    let e1: Vec<u64> = (0..masks * n)
        .map(|_| generator.noise(mask_noise, 64))
        .collect();
    let e2: Vec<u64> = (0..count)
        .map(|_| generator.noise(body_noise, 64))
        .collect();
    let mut data = vec![0u64; masks * n + count];
    let (mask_words, bodies) = data.split_at_mut(masks * n);
    let mut c = vec![0u64; n];
    for (m, mask) in mask_words.chunks_exact_mut(n).enumerate() {
        let r_m = &r[m * n..(m + 1) * n];
        semi_reverse_negacyclic_convolution_by_binary(mask, key.mask(), r_m)?;
        for (x, &e) in mask.iter_mut().zip(&e1[m * n..(m + 1) * n]) {
            *x = x.wrapping_add(e);
        }
        semi_reverse_negacyclic_convolution_by_binary(&mut c, key.body(), r_m)?;
        let first = m * n;
        for j in 0..n.min(count - first) {
            bodies[first + j] = c[n - 1 - j]
                .wrapping_add(e2[first + j])
                .wrapping_add(plaintexts[first + j]);
        }
    }
    LweCompactCiphertextList::from_container(data, LweDimension(n), count)
}

/// The list's ciphertexts as ordinary LWE ciphertexts of dimension n under the public key's
/// secret key: ciphertext j of bin m has the mask X^j · A_m (negacyclic) and its body.
pub fn expand_lwe_compact_ciphertext_list(
    list: &LweCompactCiphertextList,
) -> Result<Vec<LweCiphertext>> {
    let n = list.lwe_dimension().0;
    let bodies = list.bodies();
    (0..list.count())
        .map(|idx| {
            let (m, j) = (idx / n, idx % n);
            let a = list.mask(m);
            let mut data = vec![0u64; n + 1];
            monomial_mul(&mut data[..n], a, j);
            data[n] = bodies[idx];
            LweCiphertext::from_container(data)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::encryption::decrypt_lwe_ciphertext;
    use crate::algorithms::polynomial::wrapping_mul_naive;

    #[test]
    fn convolution_matches_its_definition_as_a_product() {
        // u ⊛ v = u · rev(v) mod X^n + 1, checked by a plain negacyclic product.
        let mut g = CsprngGenerator::from_seed([1; 32]);
        let n = 16;
        let u: Vec<u64> = (0..n).map(|_| g.uniform_u64()).collect();
        let v: Vec<u64> = (0..n).map(|_| g.uniform_u64()).collect();
        let rev: Vec<u64> = v.iter().rev().copied().collect();
        let want = wrapping_mul_naive(&u, &rev);
        let mut got = vec![0u64; n];
        semi_reverse_negacyclic_convolution(&mut got, &u, &v);
        assert_eq!(got, want);
    }

    /// The NTT form equals the schoolbook form word for word on a binary `v`, at the compact
    /// key's size.
    #[test]
    fn binary_convolution_equals_the_schoolbook_form() {
        let mut g = CsprngGenerator::from_seed([4; 32]);
        for n in [16usize, 2048] {
            let u: Vec<u64> = (0..n).map(|_| g.uniform_u64()).collect();
            let v: Vec<u64> = (0..n).map(|_| g.uniform_bit()).collect();
            let mut want = vec![0u64; n];
            semi_reverse_negacyclic_convolution(&mut want, &u, &v);
            let mut got = vec![1u64; n];
            semi_reverse_negacyclic_convolution_by_binary(&mut got, &u, &v).unwrap();
            assert_eq!(got, want);
        }
    }

    /// Several bins, the last one partial; every message decrypts under the secret key with
    /// the noise of a fresh encryption (TUniform(17) terms times a binary key of n = 256).
    #[test]
    fn lists_of_several_bins_expand_and_decrypt() {
        let mut g = CsprngGenerator::from_seed([2; 32]);
        let noise = NoiseDistribution::TUniform { bound_log2: 17 };
        let n = 256;
        let sk = LweSecretKey::generate(LweDimension(n), &mut g);
        let pk = generate_lwe_compact_public_key(&sk, noise, &mut g).unwrap();
        // b[n − 1] − ⟨a, s⟩ is the key's own noise.
        let dot = pk
            .mask()
            .iter()
            .zip(sk.as_slice())
            .fold(0u64, |acc, (&a, &s)| acc.wrapping_add(a.wrapping_mul(s)));
        let e = pk.body()[n - 1].wrapping_sub(dot) as i64;
        assert!(e.unsigned_abs() <= 1 << 17);
        let delta = 1u64 << 60;
        let messages: Vec<u64> = (0..2 * n + 37).map(|i| (i as u64 * 7) % 16).collect();
        let plaintexts: Vec<u64> = messages.iter().map(|&m| m * delta).collect();
        let list =
            encrypt_lwe_compact_ciphertext_list(&pk, &plaintexts, noise, noise, &mut g).unwrap();
        assert_eq!(list.as_slice().len(), 3 * n + messages.len());
        let cts = expand_lwe_compact_ciphertext_list(&list).unwrap();
        let mut worst = 0u64;
        for (ct, &p) in cts.iter().zip(&plaintexts) {
            let err = decrypt_lwe_ciphertext(&sk, ct).unwrap().wrapping_sub(p) as i64;
            worst = worst.max(err.unsigned_abs());
        }
        // |⟨e, r⟩ + e1·s + e2| ≤ (2n + 1) 2^17 ≪ Δ / 2.
        assert!(worst <= (2 * n as u64 + 1) << 17, "{worst}");
        assert!(worst < delta / 2);
    }

    #[test]
    fn dimensions_that_are_not_powers_of_two_are_refused() {
        let mut g = CsprngGenerator::from_seed([3; 32]);
        let sk = LweSecretKey::generate(LweDimension(100), &mut g);
        let noise = NoiseDistribution::TUniform { bound_log2: 17 };
        assert!(matches!(
            generate_lwe_compact_public_key(&sk, noise, &mut g),
            Err(Error::InvalidParameters(_))
        ));
        assert!(LweCompactCiphertextList::from_container(vec![0; 10], LweDimension(6), 4).is_err());
        assert!(LweCompactCiphertextList::from_container(vec![0; 10], LweDimension(8), 3).is_err());
        assert!(LweCompactCiphertextList::from_container(vec![0; 11], LweDimension(8), 3).is_ok());
    }
}
