use super::check_len;
use crate::commons::dimensions::*;
use crate::error::{Error, Result};

/// The LWE keyswitch key: for each input key element `s_i` and each level, an LWE encryption
/// under the output key of `s_i · 2^(64 − b·level)`. Block `i` holds ℓ ciphertexts, level ℓ
/// first (TFHE-rs's layout). With an output modulus 2^w < 2^64 every word is a multiple of
/// 2^(64 − w) (the ciphertexts live in the top `w` bits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LweKeyswitchKey {
    data: Vec<u64>,
    input_lwe_dimension: LweDimension,
    output_lwe_dimension: LweDimension,
    base_log: DecompositionBaseLog,
    level_count: DecompositionLevelCount,
    output_modulus_log: u32,
}

impl LweKeyswitchKey {
    pub fn from_container(
        data: Vec<u64>,
        input_lwe_dimension: LweDimension,
        output_lwe_dimension: LweDimension,
        base_log: DecompositionBaseLog,
        level_count: DecompositionLevelCount,
        output_modulus_log: u32,
    ) -> Result<Self> {
        check_len(
            "LWE keyswitch key",
            input_lwe_dimension.0 * level_count.0 * (output_lwe_dimension.0 + 1),
            data.len(),
        )?;
        check_keyswitch_decomposition(base_log, level_count, output_modulus_log)?;
        Ok(Self {
            data,
            input_lwe_dimension,
            output_lwe_dimension,
            base_log,
            level_count,
            output_modulus_log,
        })
    }

    pub fn input_lwe_dimension(&self) -> LweDimension {
        self.input_lwe_dimension
    }
    pub fn output_lwe_dimension(&self) -> LweDimension {
        self.output_lwe_dimension
    }
    pub fn decomposition_base_log(&self) -> DecompositionBaseLog {
        self.base_log
    }
    pub fn decomposition_level_count(&self) -> DecompositionLevelCount {
        self.level_count
    }
    /// log2 of the output ciphertext modulus (64 for the native torus).
    pub fn output_modulus_log(&self) -> u32 {
        self.output_modulus_log
    }
    /// The ℓ ciphertexts (each n_out + 1 words) of input element `i`.
    pub fn block(&self, i: usize) -> &[u64] {
        let s = self.level_count.0 * (self.output_lwe_dimension.0 + 1);
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

/// A keyswitch decomposition must fit its output modulus (and the modulus a word).
pub(crate) fn check_keyswitch_decomposition(
    base_log: DecompositionBaseLog,
    level_count: DecompositionLevelCount,
    output_modulus_log: u32,
) -> Result<()> {
    if output_modulus_log == 0
        || output_modulus_log > 64
        || base_log.0 == 0
        || level_count.0 == 0
        || base_log.0 * level_count.0 > output_modulus_log as usize
    {
        return Err(Error::InvalidParameters(format!(
            "keyswitch decomposition {}x{} with output modulus 2^{output_modulus_log}",
            base_log.0, level_count.0
        )));
    }
    Ok(())
}
