//! Parameter sets, each with its source and its security level.
//!
//! Only sets with a stated security level of at least 128 bits are offered for real use;
//! [`TEST_PARAMS_INSECURE`] is for fast logic tests and says so in its name and its
//! [`SecurityLevel`].

use crate::commons::dimensions::*;
use crate::commons::random::NoiseDistribution;
use crate::error::{Error, Result};

/// How the blind rotation input is switched from Z/2^64Z to Z/2NZ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModulusSwitchType {
    /// Round every coefficient: `round(x · 2N / 2^64)`.
    Standard,
    /// TFHE-rs's `CenteredMeanNoiseReduction`: subtract from the body the expected mask
    /// rounding error (half of each mask element's rounding error) and half a step, so that the
    /// switched phase is centered on the lookup table's boxes.
    CenteredMeanNoiseReduction,
}

/// The security of a parameter set, with the source of the figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityLevel {
    /// At least `bits` bits of security against the best known attacks, as `source` states.
    Secure { bits: u32, source: &'static str },
    /// Not secure: for tests only.
    Insecure { reason: &'static str },
}

/// A complete TFHE parameter set: shapes, noise, decompositions, encoding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Parameters {
    /// A stable name (also used to detect ciphertexts from other parameters).
    pub name: &'static str,
    /// `n`: dimension of the small LWE key (the blind rotation input).
    pub lwe_dimension: LweDimension,
    /// `k`.
    pub glwe_dimension: GlweDimension,
    /// `N`.
    pub polynomial_size: PolynomialSize,
    /// Noise of encryptions under the small LWE key (the keyswitch key).
    pub lwe_noise: NoiseDistribution,
    /// Noise of encryptions under the GLWE key (bootstrapping key, fresh ciphertexts).
    pub glwe_noise: NoiseDistribution,
    pub pbs_base_log: DecompositionBaseLog,
    pub pbs_level: DecompositionLevelCount,
    pub ks_base_log: DecompositionBaseLog,
    pub ks_level: DecompositionLevelCount,
    /// log2 of the modulus of the keyswitch output (64: the native torus; the HPU set uses 21).
    pub ks_output_modulus_log: u32,
    pub message_modulus: u64,
    pub carry_modulus: u64,
    pub modulus_switch: ModulusSwitchType,
    /// log2 of the probability that one PBS decrypts wrongly, as the source states it.
    pub log2_p_fail: f64,
    /// The 2-norm of the linear combination `Σ kᵢ·ctᵢ` of nominal ciphertexts (fresh
    /// encryptions or PBS outputs) that `log2_p_fail` was computed for: a bootstrap whose
    /// input has a larger norm (`sqrt(Σ kᵢ²)`) fails more often than the set promises. TFHE-rs's
    /// optimizer states it beside each set ("2-norm = 5"), and TFHE-rs bounds it by its
    /// `max_noise_level`.
    pub max_noise_norm: u64,
    pub security: SecurityLevel,
    /// Where these numbers come from.
    pub source: &'static str,
}

const TFHE_RS_SECURITY: &str = "TFHE-rs 1.8 documentation (\"Security and cryptography\"): \
    default parameter sets guarantee 128-bit security, estimated with the lattice estimator \
    (Albrecht, Player, Scott 2015), and p_fail <= 2^-128 for the 2M128 sets";

/// TFHE-rs's default `PARAM_MESSAGE_2_CARRY_2_KS_PBS` (= `V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128`,
/// defined as V1_4's): 2 bits of message, 2 bits of carry, ciphertexts under the GLWE
/// ("big") key, keyswitch then PBS.
pub const PARAM_MESSAGE_2_CARRY_2_KS_PBS: Parameters = Parameters {
    name: "PARAM_MESSAGE_2_CARRY_2_KS_PBS",
    lwe_dimension: LweDimension(918),
    glwe_dimension: GlweDimension(1),
    polynomial_size: PolynomialSize(2048),
    lwe_noise: NoiseDistribution::TUniform { bound_log2: 45 },
    glwe_noise: NoiseDistribution::TUniform { bound_log2: 17 },
    pbs_base_log: DecompositionBaseLog(23),
    pbs_level: DecompositionLevelCount(1),
    ks_base_log: DecompositionBaseLog(4),
    ks_level: DecompositionLevelCount(4),
    ks_output_modulus_log: 64,
    message_modulus: 4,
    carry_modulus: 4,
    modulus_switch: ModulusSwitchType::CenteredMeanNoiseReduction,
    log2_p_fail: -129.581,
    max_noise_norm: 5,
    security: SecurityLevel::Secure {
        bits: 128,
        source: TFHE_RS_SECURITY,
    },
    source: "tfhe 1.8.2, shortint/parameters/v1_4/classic/tuniform/p_fail_2_minus_128/ks_pbs.rs",
};

/// TFHE-rs's FPGA (HPU) set `V1_8_HPU_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128`: the
/// keyswitch outputs ciphertexts modulo 2^21 (noise TUniform(3) on that modulus), which the
/// HPU stores in 32-bit words. Here they live in the top 21 bits of a `u64`.
pub const V1_8_HPU_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128: Parameters = Parameters {
    name: "V1_8_HPU_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128",
    lwe_dimension: LweDimension(879),
    glwe_dimension: GlweDimension(1),
    polynomial_size: PolynomialSize(2048),
    lwe_noise: NoiseDistribution::TUniform { bound_log2: 3 },
    glwe_noise: NoiseDistribution::TUniform { bound_log2: 17 },
    pbs_base_log: DecompositionBaseLog(23),
    pbs_level: DecompositionLevelCount(1),
    ks_base_log: DecompositionBaseLog(2),
    ks_level: DecompositionLevelCount(8),
    ks_output_modulus_log: 21,
    message_modulus: 4,
    carry_modulus: 4,
    modulus_switch: ModulusSwitchType::CenteredMeanNoiseReduction,
    log2_p_fail: -128.0,
    max_noise_norm: 5,
    security: SecurityLevel::Secure {
        bits: 128,
        source: TFHE_RS_SECURITY,
    },
    source: "tfhe 1.8.2, shortint/parameters/v1_8/hpu.rs",
};

/// A small, **insecure** set for fast logic tests (n = 128, N = 512, two PBS levels so that
/// multi-level decomposition is exercised). Never use it for data.
pub const TEST_PARAMS_INSECURE: Parameters = Parameters {
    name: "TEST_PARAMS_INSECURE",
    lwe_dimension: LweDimension(128),
    glwe_dimension: GlweDimension(1),
    polynomial_size: PolynomialSize(512),
    lwe_noise: NoiseDistribution::TUniform { bound_log2: 30 },
    glwe_noise: NoiseDistribution::TUniform { bound_log2: 10 },
    pbs_base_log: DecompositionBaseLog(15),
    pbs_level: DecompositionLevelCount(2),
    ks_base_log: DecompositionBaseLog(3),
    ks_level: DecompositionLevelCount(5),
    ks_output_modulus_log: 64,
    message_modulus: 4,
    carry_modulus: 4,
    modulus_switch: ModulusSwitchType::CenteredMeanNoiseReduction,
    log2_p_fail: -60.0,
    max_noise_norm: 5,
    security: SecurityLevel::Insecure {
        reason: "dimensions far too small; for logic tests only",
    },
    source: "Glovebox test set (p_fail estimated from the noise formulas, not a security claim)",
};

/// Every named parameter set.
pub const ALL: [&Parameters; 3] = [
    &PARAM_MESSAGE_2_CARRY_2_KS_PBS,
    &V1_8_HPU_PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128,
    &TEST_PARAMS_INSECURE,
];

impl Parameters {
    /// Looks a set up by name.
    pub fn by_name(name: &str) -> Result<&'static Parameters> {
        ALL.iter()
            .copied()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::InvalidParameters(format!("no parameter set named `{name}`")))
    }

    /// Checks that the engine can run this set.
    pub fn validate(&self) -> Result<()> {
        let n = self.polynomial_size.0;
        if !n.is_power_of_two() || !(crate::ntt::MIN_SIZE..=crate::ntt::MAX_SIZE).contains(&n) {
            return Err(Error::UnsupportedPolynomialSize(n));
        }
        let bad = |s: String| Err(Error::InvalidParameters(s));
        if self.lwe_dimension.0 == 0 || self.glwe_dimension.0 == 0 {
            return bad("LWE and GLWE dimensions must be positive".into());
        }
        for (what, b, l) in [
            ("pbs", self.pbs_base_log.0, self.pbs_level.0),
            ("ks", self.ks_base_log.0, self.ks_level.0),
        ] {
            if b == 0 || l == 0 || b * l >= 64 {
                return bad(format!(
                    "{what} decomposition {b}x{l} must have 0 < base_log·level < 64"
                ));
            }
        }
        // The NTT product of a digit (|d| ≤ 2^(b−1)) and a key word (< p) summed over
        // ℓ·(k+1)·N terms is exact mod p by construction; nothing more to check there.
        if self.ks_output_modulus_log == 0 || self.ks_output_modulus_log > 64 {
            return bad("keyswitch output modulus must be 2^1 ..= 2^64".into());
        }
        if self.ks_base_log.0 * self.ks_level.0 > self.ks_output_modulus_log as usize {
            return bad("keyswitch decomposition exceeds its output modulus".into());
        }
        let space = self.message_modulus * self.carry_modulus;
        if !space.is_power_of_two() || space < 2 || space as usize > n {
            return bad(format!(
                "message·carry modulus {space} must be a power of two ≤ N"
            ));
        }
        Ok(())
    }

    /// Δ = 2^63 / (message_modulus · carry_modulus): the scaling of a message, one padding bit.
    pub fn delta(&self) -> u64 {
        (1u64 << 63) / (self.message_modulus * self.carry_modulus)
    }

    /// `k·N`: dimension of the ciphertexts under the big (GLWE-as-LWE) key.
    pub fn big_lwe_dimension(&self) -> LweDimension {
        self.glwe_dimension
            .to_equivalent_lwe_dimension(self.polynomial_size)
    }

    /// Bytes of one ciphertext under the big key (the form users store and send).
    pub fn ciphertext_bytes(&self) -> usize {
        8 * (self.big_lwe_dimension().0 + 1)
    }

    /// Bytes of the bootstrapping key: n GGSW ciphertexts of ℓ·(k+1)² polynomials.
    pub fn bootstrap_key_bytes(&self) -> usize {
        let k1 = self.glwe_dimension.0 + 1;
        8 * self.lwe_dimension.0 * self.pbs_level.0 * k1 * k1 * self.polynomial_size.0
    }

    /// Bytes of the keyswitch key: kN · ℓ_ks LWE ciphertexts of dimension n.
    pub fn keyswitch_key_bytes(&self) -> usize {
        8 * self.big_lwe_dimension().0 * self.ks_level.0 * (self.lwe_dimension.0 + 1)
    }

    /// A 64-bit fingerprint of every field that affects ciphertexts (FNV-1a of the debug form).
    pub fn fingerprint(&self) -> u64 {
        let text = format!("{self:?}");
        text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// Human-readable security statement.
    pub fn security_statement(&self) -> String {
        match self.security {
            SecurityLevel::Secure { bits, source } => format!("{bits}-bit ({source})"),
            SecurityLevel::Insecure { reason } => format!("INSECURE: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_sets_validate() {
        for p in ALL {
            p.validate().unwrap();
        }
        assert_eq!(PARAM_MESSAGE_2_CARRY_2_KS_PBS.delta(), 1 << 59);
        assert_eq!(
            Parameters::by_name("test_params_insecure").unwrap().name,
            "TEST_PARAMS_INSECURE"
        );
        assert!(Parameters::by_name("nope").is_err());
    }

    #[test]
    fn invalid_sets_are_rejected() {
        let mut p = TEST_PARAMS_INSECURE;
        p.polynomial_size = PolynomialSize(1000);
        assert_eq!(p.validate(), Err(Error::UnsupportedPolynomialSize(1000)));
        let mut p = TEST_PARAMS_INSECURE;
        p.pbs_base_log = DecompositionBaseLog(40);
        assert!(matches!(p.validate(), Err(Error::InvalidParameters(_))));
    }
}
