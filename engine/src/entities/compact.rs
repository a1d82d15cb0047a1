use super::check_len;
use crate::commons::dimensions::*;
use crate::error::{Error, Result};

/// A compact (ring-LWE) public key of dimension n, a power of two (TFHE-rs's
/// `LweCompactPublicKey`): a uniform polynomial `a` and `b = a ⊛ s + e` in Z_2^64[X]/(X^n + 1),
/// ⊛ being the semi-reverse negacyclic convolution
/// ([`crate::algorithms::compact_pke::semi_reverse_negacyclic_convolution`]). Container:
/// `[a_0 .. a_(n−1), b_0 .. b_(n−1)]`, TFHE-rs's layout (its GLWE of dimension 1 and
/// polynomial size n).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LweCompactPublicKey {
    data: Vec<u64>,
}

impl LweCompactPublicKey {
    /// Wraps `[a, b]`; n = half the container's length, a power of two.
    pub fn from_container(data: Vec<u64>) -> Result<Self> {
        let n = data.len() / 2;
        if n == 0 || !n.is_power_of_two() {
            return Err(Error::InvalidParameters(format!(
                "compact public key of {} words: two polynomials of a power-of-two size",
                data.len()
            )));
        }
        check_len("compact public key", 2 * n, data.len())?;
        Ok(Self { data })
    }

    pub fn lwe_dimension(&self) -> LweDimension {
        LweDimension(self.data.len() / 2)
    }

    /// The mask polynomial `a`.
    pub fn mask(&self) -> &[u64] {
        &self.data[..self.data.len() / 2]
    }

    /// The body polynomial `b`.
    pub fn body(&self) -> &[u64] {
        &self.data[self.data.len() / 2..]
    }

    pub fn as_slice(&self) -> &[u64] {
        &self.data
    }

    pub fn into_container(self) -> Vec<u64> {
        self.data
    }
}

/// Several LWE ciphertexts of dimension n sharing masks, n to a mask (TFHE-rs's
/// `LweCompactCiphertextList`): ⌈count / n⌉ mask polynomials, then one body per ciphertext.
/// Ciphertext j of a bin expands to the mask X^j · A (negacyclic) and its body
/// ([`crate::algorithms::compact_pke::expand_lwe_compact_ciphertext_list`]). Container:
/// `[A_0 (n words), …, A_(M−1), body_0, …, body_(count−1)]`, TFHE-rs's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LweCompactCiphertextList {
    data: Vec<u64>,
    lwe_dimension: LweDimension,
    count: usize,
}

impl LweCompactCiphertextList {
    /// Masks needed for `count` ciphertexts of dimension `n`.
    pub fn mask_count(lwe_dimension: LweDimension, count: usize) -> usize {
        count.div_ceil(lwe_dimension.0.max(1))
    }

    /// Wraps a container of `count` ciphertexts of dimension `lwe_dimension` (a power of two).
    pub fn from_container(
        data: Vec<u64>,
        lwe_dimension: LweDimension,
        count: usize,
    ) -> Result<Self> {
        let n = lwe_dimension.0;
        if n == 0 || !n.is_power_of_two() {
            return Err(Error::InvalidParameters(format!(
                "compact ciphertext list of LWE dimension {n}: a power of two"
            )));
        }
        let expected = Self::mask_count(lwe_dimension, count)
            .checked_mul(n)
            .and_then(|m| m.checked_add(count))
            .ok_or_else(|| Error::InvalidParameters(format!("{count} ciphertexts")))?;
        check_len("compact ciphertext list", expected, data.len())?;
        Ok(Self {
            data,
            lwe_dimension,
            count,
        })
    }

    pub fn lwe_dimension(&self) -> LweDimension {
        self.lwe_dimension
    }

    /// Ciphertexts in the list.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Mask polynomial `m` (of ciphertexts m n .. (m + 1) n).
    pub fn mask(&self, m: usize) -> &[u64] {
        let n = self.lwe_dimension.0;
        &self.data[m * n..(m + 1) * n]
    }

    /// The bodies, one per ciphertext.
    pub fn bodies(&self) -> &[u64] {
        &self.data[self.data.len() - self.count..]
    }

    pub fn as_slice(&self) -> &[u64] {
        &self.data
    }

    pub fn into_container(self) -> Vec<u64> {
        self.data
    }
}
