use crate::commons::dimensions::*;
use crate::error::{Error, Result};

/// A GLWE ciphertext: `k` mask polynomials then the body polynomial, `N` words each
/// (TFHE-rs's layout). A lookup table (the PBS accumulator) is a trivial GLWE ciphertext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlweCiphertext {
    data: Vec<u64>,
    polynomial_size: PolynomialSize,
}

impl GlweCiphertext {
    pub fn zero(glwe_size: GlweSize, polynomial_size: PolynomialSize) -> Self {
        Self {
            data: vec![0; glwe_size.0 * polynomial_size.0],
            polynomial_size,
        }
    }

    /// The trivial encryption of the polynomial `body`.
    pub fn trivial(glwe_size: GlweSize, body: &[u64]) -> Self {
        let n = body.len();
        let mut ct = Self::zero(glwe_size, PolynomialSize(n));
        ct.body_mut().copy_from_slice(body);
        ct
    }

    pub fn from_container(data: Vec<u64>, polynomial_size: PolynomialSize) -> Result<Self> {
        let n = polynomial_size.0;
        if n == 0 || data.len() < 2 * n || !data.len().is_multiple_of(n) {
            return Err(Error::MalformedContainer {
                entity: "GLWE ciphertext",
                expected: 2 * n.max(1) * (data.len() / (2 * n.max(1))).max(1),
                got: data.len(),
            });
        }
        Ok(Self {
            data,
            polynomial_size,
        })
    }

    pub fn polynomial_size(&self) -> PolynomialSize {
        self.polynomial_size
    }

    pub fn glwe_size(&self) -> GlweSize {
        GlweSize(self.data.len() / self.polynomial_size.0)
    }

    pub fn polynomial(&self, i: usize) -> &[u64] {
        let n = self.polynomial_size.0;
        &self.data[i * n..(i + 1) * n]
    }

    pub fn body(&self) -> &[u64] {
        let n = self.polynomial_size.0;
        &self.data[self.data.len() - n..]
    }

    pub fn body_mut(&mut self) -> &mut [u64] {
        let n = self.polynomial_size.0;
        let len = self.data.len();
        &mut self.data[len - n..]
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
