//! Compressed (seeded) evaluation keys: the bodies of every ciphertext, and the public seed
//! their masks were drawn from ([`MaskGenerator`]), as TFHE-rs's `SeededLweBootstrapKey` and
//! `SeededLweKeyswitchKey`. A seeded key is about half the bootstrapping key (its masks are k
//! of its k + 1 polynomials per row) and 1/(n + 1) of the keyswitch key; the receiver
//! regenerates the masks once ([`SeededLweBootstrapKey::decompress`]).
//!
//! Security is the standard keys' (the masks of an LWE/GLWE sample are public and uniform; a
//! seed expanded by ChaCha20 is indistinguishable from them), the same argument TFHE-rs makes
//! for its compressed server keys.

use super::{check_len, GgswCiphertext, LweBootstrapKey, LweKeyswitchKey};
use crate::commons::dimensions::*;
use crate::commons::random::MaskGenerator;
use crate::error::Result;
use rayon::prelude::*;

/// A bootstrapping key without its masks: GGSW `i`'s masks are stream `i` of the generator
/// keyed by `mask_seed`, drawn row by row (k·N words per GLWE row) in the key's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeededLweBootstrapKey {
    bodies: Vec<u64>,
    mask_seed: [u8; 32],
    input_lwe_dimension: LweDimension,
    glwe_size: GlweSize,
    polynomial_size: PolynomialSize,
    base_log: DecompositionBaseLog,
    level_count: DecompositionLevelCount,
}

impl SeededLweBootstrapKey {
    /// Words of bodies per GGSW: (k + 1) rows per level, one polynomial each.
    pub fn bodies_per_ggsw(
        glwe_size: GlweSize,
        polynomial_size: PolynomialSize,
        level_count: DecompositionLevelCount,
    ) -> usize {
        level_count.0 * glwe_size.0 * polynomial_size.0
    }

    pub fn from_container(
        bodies: Vec<u64>,
        mask_seed: [u8; 32],
        input_lwe_dimension: LweDimension,
        glwe_size: GlweSize,
        polynomial_size: PolynomialSize,
        base_log: DecompositionBaseLog,
        level_count: DecompositionLevelCount,
    ) -> Result<Self> {
        check_len(
            "seeded LWE bootstrap key",
            input_lwe_dimension.0 * Self::bodies_per_ggsw(glwe_size, polynomial_size, level_count),
            bodies.len(),
        )?;
        Ok(Self {
            bodies,
            mask_seed,
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
    pub fn mask_seed(&self) -> [u8; 32] {
        self.mask_seed
    }
    /// The bodies, GGSW by GGSW, row by row.
    pub fn as_slice(&self) -> &[u64] {
        &self.bodies
    }

    /// The full key: every mask regenerated from the seed (in parallel, one stream per GGSW).
    pub fn decompress(&self) -> Result<LweBootstrapKey> {
        let n = self.polynomial_size.0;
        let k1 = self.glwe_size.0;
        let ggsw_size =
            GgswCiphertext::size(self.glwe_size, self.polynomial_size, self.level_count);
        let per_ggsw =
            Self::bodies_per_ggsw(self.glwe_size, self.polynomial_size, self.level_count);
        let mut data = vec![0u64; self.input_lwe_dimension.0 * ggsw_size];
        data.par_chunks_exact_mut(ggsw_size)
            .zip(self.bodies.par_chunks_exact(per_ggsw))
            .enumerate()
            .for_each(|(i, (ggsw, bodies))| {
                let mut masks = MaskGenerator::new(self.mask_seed, i as u64);
                for (row, body) in ggsw.chunks_exact_mut(k1 * n).zip(bodies.chunks_exact(n)) {
                    let (mask, b) = row.split_at_mut((k1 - 1) * n);
                    for x in mask {
                        *x = masks.uniform_u64();
                    }
                    b.copy_from_slice(body);
                }
            });
        LweBootstrapKey::from_container(
            data,
            self.input_lwe_dimension,
            self.glwe_size,
            self.polynomial_size,
            self.base_log,
            self.level_count,
        )
    }
}

/// A keyswitch key without its masks: block `i`'s masks are stream `i` of the generator keyed
/// by `mask_seed`, n_out words per level (kept in the top `output_modulus_log` bits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeededLweKeyswitchKey {
    bodies: Vec<u64>,
    mask_seed: [u8; 32],
    input_lwe_dimension: LweDimension,
    output_lwe_dimension: LweDimension,
    base_log: DecompositionBaseLog,
    level_count: DecompositionLevelCount,
    output_modulus_log: u32,
}

impl SeededLweKeyswitchKey {
    pub fn from_container(
        bodies: Vec<u64>,
        mask_seed: [u8; 32],
        input_lwe_dimension: LweDimension,
        output_lwe_dimension: LweDimension,
        base_log: DecompositionBaseLog,
        level_count: DecompositionLevelCount,
        output_modulus_log: u32,
    ) -> Result<Self> {
        check_len(
            "seeded LWE keyswitch key",
            input_lwe_dimension.0 * level_count.0,
            bodies.len(),
        )?;
        super::check_keyswitch_decomposition(base_log, level_count, output_modulus_log)?;
        Ok(Self {
            bodies,
            mask_seed,
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
    pub fn output_modulus_log(&self) -> u32 {
        self.output_modulus_log
    }
    pub fn mask_seed(&self) -> [u8; 32] {
        self.mask_seed
    }
    /// The bodies, block by block, level ℓ first.
    pub fn as_slice(&self) -> &[u64] {
        &self.bodies
    }

    /// The full key, every mask regenerated from the seed (one stream per block).
    pub fn decompress(&self) -> Result<LweKeyswitchKey> {
        let out_size = self.output_lwe_dimension.0 + 1;
        let levels = self.level_count.0;
        let low_mask = low_mask(self.output_modulus_log);
        let mut data = vec![0u64; self.input_lwe_dimension.0 * levels * out_size];
        data.par_chunks_exact_mut(levels * out_size)
            .zip(self.bodies.par_chunks_exact(levels))
            .enumerate()
            .for_each(|(i, (block, bodies))| {
                let mut masks = MaskGenerator::new(self.mask_seed, i as u64);
                for (ct, &body) in block.chunks_exact_mut(out_size).zip(bodies) {
                    let (mask, b) = ct.split_at_mut(out_size - 1);
                    for x in mask {
                        *x = masks.uniform_u64() & low_mask;
                    }
                    b[0] = body;
                }
            });
        LweKeyswitchKey::from_container(
            data,
            self.input_lwe_dimension,
            self.output_lwe_dimension,
            self.base_log,
            self.level_count,
            self.output_modulus_log,
        )
    }
}

/// The words of a torus of 2^`modulus_log` elements embedded in the top bits of a `u64`.
pub(crate) fn low_mask(modulus_log: u32) -> u64 {
    if modulus_log >= 64 {
        u64::MAX
    } else {
        !((1u64 << (64 - modulus_log)) - 1)
    }
}
