//! LWE, GLWE and GGSW encryption and decryption (TFHE-rs conventions: the body is
//! `⟨a, s⟩ + m + e`, decryption is `b − ⟨a, s⟩`).

use super::polynomial::{add_mul_by_binary, BinaryPolynomialNtt};
use crate::commons::dimensions::*;
use crate::commons::random::{CsprngGenerator, EncryptionRandomness, NoiseDistribution};
use crate::entities::*;
use crate::error::{check_dim, Result};
use crate::ntt;

/// Encrypts `plaintext` (already scaled onto the torus) under `key`, on a ciphertext modulus
/// of 2^`modulus_log` held in the top bits of each word (64: the native torus).
///
/// ```
/// use glovebox_engine::prelude::*;
/// let mut g = CsprngGenerator::from_os_entropy();
/// let sk = LweSecretKey::generate(LweDimension(630), &mut g);
/// let noise = NoiseDistribution::TUniform { bound_log2: 20 };
/// let ct = encrypt_lwe_ciphertext(&sk, 3 << 60, noise, 64, &mut g);
/// let phase = decrypt_lwe_ciphertext(&sk, &ct).unwrap();
/// assert_eq!((phase.wrapping_add(1 << 59)) >> 60, 3);
/// ```
pub fn encrypt_lwe_ciphertext(
    key: &LweSecretKey,
    plaintext: u64,
    noise: NoiseDistribution,
    modulus_log: u32,
    generator: &mut CsprngGenerator,
) -> LweCiphertext {
    let n = key.lwe_dimension().0;
    let mut data = vec![0u64; n + 1];
    encrypt_lwe_into(
        &mut data,
        key.as_slice(),
        plaintext,
        noise,
        modulus_log,
        generator,
    );
    LweCiphertext::from_container(data).expect("n + 1 ≥ 2 words")
}

pub(crate) fn encrypt_lwe_into(
    out: &mut [u64],
    key: &[u64],
    plaintext: u64,
    noise: NoiseDistribution,
    modulus_log: u32,
    generator: &mut impl EncryptionRandomness,
) {
    let n = key.len();
    let low_mask = crate::entities::low_mask(modulus_log);
    let mut body = 0u64;
    for (a, s) in out[..n].iter_mut().zip(key) {
        *a = generator.mask_word() & low_mask;
        body = body.wrapping_add(a.wrapping_mul(*s));
    }
    body = body
        .wrapping_add(plaintext)
        .wrapping_add(generator.noise_sample(noise, modulus_log));
    out[n] = body;
}

/// The phase `b − ⟨a, s⟩` of an LWE ciphertext: message plus error.
pub fn decrypt_lwe_ciphertext(key: &LweSecretKey, ct: &LweCiphertext) -> Result<u64> {
    check_dim("LWE dimension", key.lwe_dimension().0, ct.lwe_dimension().0)?;
    let dot = ct
        .mask()
        .iter()
        .zip(key.as_slice())
        .fold(0u64, |acc, (a, s)| acc.wrapping_add(a.wrapping_mul(*s)));
    Ok(ct.body().wrapping_sub(dot))
}

/// The binary GLWE key, prepared (forward NTT of each polynomial) for fast exact products.
pub struct PreparedGlweKey<'a> {
    key: &'a GlweSecretKey,
    polys: Vec<BinaryPolynomialNtt>,
    plan: std::sync::Arc<ntt::Plan>,
}

impl<'a> PreparedGlweKey<'a> {
    pub fn new(key: &'a GlweSecretKey) -> Result<Self> {
        let plan = ntt::plan_for(key.polynomial_size().0)?;
        let polys = (0..key.glwe_dimension().0)
            .map(|j| BinaryPolynomialNtt::new(&plan, key.polynomial(j)))
            .collect();
        Ok(Self { key, polys, plan })
    }

    /// Encrypts in place: the body of `ct` holds the plaintext polynomial on entry; the mask
    /// is overwritten with fresh uniform polynomials.
    pub fn encrypt_glwe_assign(
        &self,
        ct: &mut [u64],
        noise: NoiseDistribution,
        generator: &mut impl EncryptionRandomness,
    ) {
        let n = self.key.polynomial_size().0;
        let k = self.key.glwe_dimension().0;
        let (mask, body) = ct.split_at_mut(k * n);
        generator.fill_mask(mask);
        for b in body.iter_mut() {
            *b = b.wrapping_add(generator.noise_sample(noise, 64));
        }
        for j in 0..k {
            add_mul_by_binary(body, &mask[j * n..(j + 1) * n], &self.polys[j], &self.plan);
        }
    }

    /// The phase polynomial `B − Σ A_j·S_j` of a GLWE ciphertext.
    pub fn decrypt_glwe(&self, ct: &GlweCiphertext) -> Result<Vec<u64>> {
        check_dim(
            "polynomial size",
            self.key.polynomial_size().0,
            ct.polynomial_size().0,
        )?;
        check_dim(
            "GLWE dimension",
            self.key.glwe_dimension().0 + 1,
            ct.glwe_size().0,
        )?;
        let k = self.key.glwe_dimension().0;
        let mut dot = vec![0u64; ct.polynomial_size().0];
        for j in 0..k {
            add_mul_by_binary(&mut dot, ct.polynomial(j), &self.polys[j], &self.plan);
        }
        Ok(ct
            .body()
            .iter()
            .zip(&dot)
            .map(|(b, d)| b.wrapping_sub(*d))
            .collect())
    }
}

/// Encrypts the constant `message` (a small integer, e.g. a key bit) as a GGSW ciphertext
/// under the GLWE key, in TFHE-rs's layout: level matrix `q` holds level ℓ − q; row `r < k`
/// encrypts `−message · 2^(64 − b·level) · S_r`, the last row `message · 2^(64 − b·level)`.
pub fn encrypt_constant_ggsw_ciphertext(
    key: &PreparedGlweKey<'_>,
    message: u64,
    base_log: DecompositionBaseLog,
    level_count: DecompositionLevelCount,
    noise: NoiseDistribution,
    generator: &mut CsprngGenerator,
) -> GgswCiphertext {
    let n = key.key.polynomial_size();
    let glwe_size = key.key.glwe_dimension().to_glwe_size();
    let mut data = vec![0u64; GgswCiphertext::size(glwe_size, n, level_count)];
    encrypt_constant_ggsw_into(
        &mut data,
        key,
        message,
        base_log,
        level_count,
        noise,
        generator,
    );
    GgswCiphertext::from_container(data, glwe_size, n, base_log, level_count).expect("sized above")
}

pub(crate) fn encrypt_constant_ggsw_into(
    out: &mut [u64],
    key: &PreparedGlweKey<'_>,
    message: u64,
    base_log: DecompositionBaseLog,
    level_count: DecompositionLevelCount,
    noise: NoiseDistribution,
    generator: &mut impl EncryptionRandomness,
) {
    let n = key.key.polynomial_size().0;
    let k1 = key.key.glwe_dimension().0 + 1;
    let row_len = k1 * n;
    for (q, level_matrix) in out.chunks_exact_mut(k1 * row_len).enumerate() {
        let level = level_count.0 - q;
        // factor = (−message) · 2^(64 − b·level), TFHE-rs's ggsw_encryption_multiplicative_factor.
        let factor = message.wrapping_neg() << (64 - base_log.0 * level);
        for (r, row) in level_matrix.chunks_exact_mut(row_len).enumerate() {
            let body = &mut row[(k1 - 1) * n..];
            if r < k1 - 1 {
                for (b, s) in body.iter_mut().zip(key.key.polynomial(r)) {
                    *b = s.wrapping_mul(factor);
                }
            } else {
                body.fill(0);
                body[0] = factor.wrapping_neg();
            }
            key.encrypt_glwe_assign(row, noise, generator);
        }
    }
}
