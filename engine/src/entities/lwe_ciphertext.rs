use super::check_len;
use crate::commons::dimensions::*;
use crate::error::{Error, Result};

/// An LWE ciphertext `(a_0, …, a_{n−1}, b)`: mask first, body last (TFHE-rs's layout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LweCiphertext {
    data: Vec<u64>,
}

impl LweCiphertext {
    /// The trivial (noiseless, zero-mask) encryption of `body` of dimension `n`.
    pub fn trivial(dimension: LweDimension, body: u64) -> Self {
        let mut data = vec![0u64; dimension.0 + 1];
        data[dimension.0] = body;
        Self { data }
    }

    pub fn zero(dimension: LweDimension) -> Self {
        Self::trivial(dimension, 0)
    }

    pub fn from_container(data: Vec<u64>) -> Result<Self> {
        if data.len() < 2 {
            return Err(Error::MalformedContainer {
                entity: "LWE ciphertext",
                expected: 2,
                got: data.len(),
            });
        }
        Ok(Self { data })
    }

    pub fn lwe_dimension(&self) -> LweDimension {
        LweDimension(self.data.len() - 1)
    }

    pub fn lwe_size(&self) -> LweSize {
        LweSize(self.data.len())
    }

    pub fn mask(&self) -> &[u64] {
        &self.data[..self.data.len() - 1]
    }

    pub fn body(&self) -> u64 {
        self.data[self.data.len() - 1]
    }

    pub fn body_mut(&mut self) -> &mut u64 {
        let i = self.data.len() - 1;
        &mut self.data[i]
    }

    pub fn as_slice(&self) -> &[u64] {
        &self.data
    }

    pub fn as_mut_slice(&mut self) -> &mut [u64] {
        &mut self.data
    }

    pub fn into_container(self) -> Vec<u64> {
        self.data
    }

    /// `self += other` (homomorphic addition).
    pub fn add_assign(&mut self, other: &LweCiphertext) -> Result<()> {
        crate::error::check_dim("LWE dimension", self.data.len() - 1, other.data.len() - 1)?;
        for (a, b) in self.data.iter_mut().zip(&other.data) {
            *a = a.wrapping_add(*b);
        }
        Ok(())
    }

    /// `self −= other` (homomorphic subtraction).
    pub fn sub_assign(&mut self, other: &LweCiphertext) -> Result<()> {
        crate::error::check_dim("LWE dimension", self.data.len() - 1, other.data.len() - 1)?;
        for (a, b) in self.data.iter_mut().zip(&other.data) {
            *a = a.wrapping_sub(*b);
        }
        Ok(())
    }

    /// `self ·= scalar` (multiplication by a clear integer).
    pub fn scalar_mul_assign(&mut self, scalar: u64) {
        for a in self.data.iter_mut() {
            *a = a.wrapping_mul(scalar);
        }
    }

    /// Adds a plaintext to the body.
    pub fn plaintext_add_assign(&mut self, plaintext: u64) {
        let b = self.body_mut();
        *b = b.wrapping_add(plaintext);
    }
}

/// Many LWE ciphertexts of one size, back to back in one container (for batches).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LweCiphertextList {
    data: Vec<u64>,
    lwe_size: LweSize,
}

impl LweCiphertextList {
    pub fn new(lwe_size: LweSize, count: usize) -> Self {
        Self {
            data: vec![0; lwe_size.0 * count],
            lwe_size,
        }
    }

    pub fn from_container(data: Vec<u64>, lwe_size: LweSize) -> Result<Self> {
        if lwe_size.0 < 2 || !data.len().is_multiple_of(lwe_size.0) {
            return Err(Error::MalformedContainer {
                entity: "LWE ciphertext list",
                expected: lwe_size.0.max(2) * (data.len() / lwe_size.0.max(2)),
                got: data.len(),
            });
        }
        Ok(Self { data, lwe_size })
    }

    /// Copies ciphertexts of one dimension into a list.
    pub fn from_ciphertexts(cts: &[LweCiphertext]) -> Result<Self> {
        let size = cts.first().map(|c| c.lwe_size()).unwrap_or(LweSize(2));
        let mut data = Vec::with_capacity(size.0 * cts.len());
        for c in cts {
            check_len("LWE ciphertext in a list", size.0, c.lwe_size().0)?;
            data.extend_from_slice(c.as_slice());
        }
        Ok(Self {
            data,
            lwe_size: size,
        })
    }

    pub fn lwe_size(&self) -> LweSize {
        self.lwe_size
    }

    pub fn count(&self) -> usize {
        self.data.len() / self.lwe_size.0
    }

    pub fn get(&self, i: usize) -> LweCiphertext {
        LweCiphertext {
            data: self.data[i * self.lwe_size.0..(i + 1) * self.lwe_size.0].to_vec(),
        }
    }

    pub fn to_ciphertexts(&self) -> Vec<LweCiphertext> {
        (0..self.count()).map(|i| self.get(i)).collect()
    }

    pub fn as_slice(&self) -> &[u64] {
        &self.data
    }

    pub fn as_mut_slice(&mut self) -> &mut [u64] {
        &mut self.data
    }

    pub fn into_container(self) -> Vec<u64> {
        self.data
    }
}
