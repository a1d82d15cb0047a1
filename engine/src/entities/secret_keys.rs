use crate::commons::dimensions::*;
use crate::commons::random::CsprngGenerator;
use crate::error::{Error, Result};

/// A binary LWE secret key `s ∈ {0,1}^n`.
#[derive(Clone, PartialEq, Eq)]
pub struct LweSecretKey {
    data: Vec<u64>,
}

impl std::fmt::Debug for LweSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LweSecretKey {{ dimension: {}, .. }}", self.data.len())
    }
}

fn check_binary(entity: &'static str, data: &[u64]) -> Result<()> {
    match data.iter().position(|&x| x > 1) {
        None => Ok(()),
        Some(i) => Err(Error::MalformedBytes(format!(
            "{entity} is not binary: word {i} is {}",
            data[i]
        ))),
    }
}

impl LweSecretKey {
    /// A uniform binary key.
    pub fn generate(dimension: LweDimension, generator: &mut CsprngGenerator) -> Self {
        Self {
            data: (0..dimension.0).map(|_| generator.uniform_bit()).collect(),
        }
    }

    /// Wraps a container of 0/1 words.
    pub fn from_container(data: Vec<u64>) -> Result<Self> {
        check_binary("LWE secret key", &data)?;
        if data.is_empty() {
            return Err(Error::MalformedContainer {
                entity: "LWE secret key",
                expected: 1,
                got: 0,
            });
        }
        Ok(Self { data })
    }

    pub fn lwe_dimension(&self) -> LweDimension {
        LweDimension(self.data.len())
    }

    pub fn as_slice(&self) -> &[u64] {
        &self.data
    }

    pub fn into_container(self) -> Vec<u64> {
        self.data
    }
}

/// A binary GLWE secret key: `k` polynomials of `N` coefficients in {0,1}.
#[derive(Clone, PartialEq, Eq)]
pub struct GlweSecretKey {
    data: Vec<u64>,
    polynomial_size: PolynomialSize,
}

impl std::fmt::Debug for GlweSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GlweSecretKey {{ glwe_dimension: {}, polynomial_size: {}, .. }}",
            self.glwe_dimension().0,
            self.polynomial_size.0
        )
    }
}

impl GlweSecretKey {
    pub fn generate(
        glwe_dimension: GlweDimension,
        polynomial_size: PolynomialSize,
        generator: &mut CsprngGenerator,
    ) -> Self {
        Self {
            data: (0..glwe_dimension.0 * polynomial_size.0)
                .map(|_| generator.uniform_bit())
                .collect(),
            polynomial_size,
        }
    }

    pub fn from_container(data: Vec<u64>, polynomial_size: PolynomialSize) -> Result<Self> {
        check_binary("GLWE secret key", &data)?;
        if polynomial_size.0 == 0
            || data.is_empty()
            || !data.len().is_multiple_of(polynomial_size.0)
        {
            return Err(Error::MalformedContainer {
                entity: "GLWE secret key",
                expected: polynomial_size.0.max(1) * (data.len() / polynomial_size.0.max(1)).max(1),
                got: data.len(),
            });
        }
        Ok(Self {
            data,
            polynomial_size,
        })
    }

    pub fn glwe_dimension(&self) -> GlweDimension {
        GlweDimension(self.data.len() / self.polynomial_size.0)
    }

    pub fn polynomial_size(&self) -> PolynomialSize {
        self.polynomial_size
    }

    /// Polynomial `i` of the key.
    pub fn polynomial(&self, i: usize) -> &[u64] {
        &self.data[i * self.polynomial_size.0..(i + 1) * self.polynomial_size.0]
    }

    pub fn as_slice(&self) -> &[u64] {
        &self.data
    }

    /// The same words read as an LWE key of dimension k·N (the "big" key that decrypts
    /// sample-extracted ciphertexts).
    pub fn as_lwe_secret_key(&self) -> LweSecretKey {
        LweSecretKey {
            data: self.data.clone(),
        }
    }

    pub fn into_container(self) -> Vec<u64> {
        self.data
    }
}
