use super::check_len;
use crate::commons::dimensions::*;
use crate::error::Result;

/// A GGSW ciphertext: ℓ level matrices of (k+1) rows, each row a GLWE ciphertext of (k+1)
/// polynomials. Stored level matrix `j` holds decomposition level ℓ − j (the least
/// significant level first), as in TFHE-rs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GgswCiphertext {
    data: Vec<u64>,
    glwe_size: GlweSize,
    polynomial_size: PolynomialSize,
    base_log: DecompositionBaseLog,
    level_count: DecompositionLevelCount,
}

impl GgswCiphertext {
    /// Words in one GGSW of this shape.
    pub fn size(
        glwe_size: GlweSize,
        n: PolynomialSize,
        level_count: DecompositionLevelCount,
    ) -> usize {
        level_count.0 * glwe_size.0 * glwe_size.0 * n.0
    }

    pub fn from_container(
        data: Vec<u64>,
        glwe_size: GlweSize,
        polynomial_size: PolynomialSize,
        base_log: DecompositionBaseLog,
        level_count: DecompositionLevelCount,
    ) -> Result<Self> {
        check_len(
            "GGSW ciphertext",
            Self::size(glwe_size, polynomial_size, level_count),
            data.len(),
        )?;
        Ok(Self {
            data,
            glwe_size,
            polynomial_size,
            base_log,
            level_count,
        })
    }

    pub fn glwe_size(&self) -> GlweSize {
        self.glwe_size
    }
    pub fn polynomial_size(&self) -> PolynomialSize {
        self.polynomial_size
    }
    pub fn decomposition_base_log(&self) -> DecompositionBaseLog {
        self.base_log
    }
    pub fn decomposition_level_count(&self) -> DecompositionLevelCount {
        self.level_count
    }
    pub fn as_slice(&self) -> &[u64] {
        &self.data
    }
    pub fn into_container(self) -> Vec<u64> {
        self.data
    }
}
