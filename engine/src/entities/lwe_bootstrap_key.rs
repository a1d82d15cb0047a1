use super::{check_len, GgswCiphertext};
use crate::commons::dimensions::*;
use crate::error::Result;

/// The bootstrapping key in the standard domain (words on the native torus): one GGSW
/// encryption of each bit of the small LWE key under the GLWE key. Layout identical to
/// TFHE-rs's `LweBootstrapKey`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LweBootstrapKey {
    data: Vec<u64>,
    pub(crate) input_lwe_dimension: LweDimension,
    pub(crate) glwe_size: GlweSize,
    pub(crate) polynomial_size: PolynomialSize,
    pub(crate) base_log: DecompositionBaseLog,
    pub(crate) level_count: DecompositionLevelCount,
}

impl LweBootstrapKey {
    pub fn from_container(
        data: Vec<u64>,
        input_lwe_dimension: LweDimension,
        glwe_size: GlweSize,
        polynomial_size: PolynomialSize,
        base_log: DecompositionBaseLog,
        level_count: DecompositionLevelCount,
    ) -> Result<Self> {
        check_len(
            "LWE bootstrap key",
            input_lwe_dimension.0 * GgswCiphertext::size(glwe_size, polynomial_size, level_count),
            data.len(),
        )?;
        Ok(Self {
            data,
            input_lwe_dimension,
            glwe_size,
            polynomial_size,
            base_log,
            level_count,
        })
    }

    pub fn input_lwe_dimension(&self) -> LweDimension {
        self.input_lwe_dimension
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
    /// Words of one GGSW.
    pub fn ggsw_size(&self) -> usize {
        GgswCiphertext::size(self.glwe_size, self.polynomial_size, self.level_count)
    }
    /// The GGSW encrypting key bit `i`, as words.
    pub fn ggsw(&self, i: usize) -> &[u64] {
        let s = self.ggsw_size();
        &self.data[i * s..(i + 1) * s]
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

/// The bootstrapping key in the NTT domain over p = 2^64 − 2^32 + 1: every standard-domain
/// polynomial switched from Z/2^64Z to Z/pZ (`round(x·p/2^64)`, as TFHE-rs's ntt64 "bnf"
/// conversion), transformed by [`crate::ntt::Plan::fwd`] (bit-reversed order) and multiplied
/// by N^{−1} so that the inverse transform in the external product needs no scaling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NttLweBootstrapKey {
    pub(crate) data: Vec<u64>,
    pub(crate) input_lwe_dimension: LweDimension,
    pub(crate) glwe_size: GlweSize,
    pub(crate) polynomial_size: PolynomialSize,
    pub(crate) base_log: DecompositionBaseLog,
    pub(crate) level_count: DecompositionLevelCount,
}

impl NttLweBootstrapKey {
    pub fn input_lwe_dimension(&self) -> LweDimension {
        self.input_lwe_dimension
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
    pub fn ggsw_size(&self) -> usize {
        GgswCiphertext::size(self.glwe_size, self.polynomial_size, self.level_count)
    }
    /// The NTT-domain GGSW of key bit `i`.
    pub fn ggsw(&self, i: usize) -> &[u64] {
        let s = self.ggsw_size();
        &self.data[i * s..(i + 1) * s]
    }
    pub fn as_slice(&self) -> &[u64] {
        &self.data
    }
}

/// The bootstrapping key in the Fourier domain over f64 ([`crate::fft`]): every standard-domain
/// polynomial read on the torus (`x / 2^64`, signed) and transformed, N/2 complex points per
/// polynomial, in the standard key's order (TFHE-rs's `FourierLweBootstrapKey`).
#[derive(Clone, Debug, PartialEq)]
pub struct FourierLweBootstrapKey {
    pub(crate) data: Vec<crate::fft::c64>,
    pub(crate) input_lwe_dimension: LweDimension,
    pub(crate) glwe_size: GlweSize,
    pub(crate) polynomial_size: PolynomialSize,
    pub(crate) base_log: DecompositionBaseLog,
    pub(crate) level_count: DecompositionLevelCount,
}

impl FourierLweBootstrapKey {
    pub fn input_lwe_dimension(&self) -> LweDimension {
        self.input_lwe_dimension
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
    /// Complex points per GGSW: ℓ (k+1)² N/2.
    pub fn ggsw_size(&self) -> usize {
        GgswCiphertext::size(self.glwe_size, self.polynomial_size, self.level_count) / 2
    }
    /// The Fourier-domain GGSW of key bit `i`.
    pub fn ggsw(&self, i: usize) -> &[crate::fft::c64] {
        let s = self.ggsw_size();
        &self.data[i * s..(i + 1) * s]
    }
    pub fn as_slice(&self) -> &[crate::fft::c64] {
        &self.data
    }
}
