//! Cryptographic randomness: secrets, masks and noise.
//!
//! Every generator is a ChaCha20 stream (a CSPRNG) seeded from the operating system
//! (`getrandom`), or from an explicit seed for reproducible tests and golden vectors.
//! Noise distributions follow TFHE-rs: [`NoiseDistribution::TUniform`] and
//! [`NoiseDistribution::Gaussian`].

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// The distribution of the error added by an encryption.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NoiseDistribution {
    /// TUniform(b): integers in `[−2^b, 2^b]`, each interior value with probability 2^−(b+1),
    /// the two ends with 2^−(b+2) (TFHE-rs's `DynamicDistribution::new_t_uniform(b)`).
    /// Expressed on the native torus Z/2^64Z.
    TUniform { bound_log2: u32 },
    /// A rounded Gaussian of standard deviation `std_dev` as a fraction of the torus
    /// (TFHE-rs's `StandardDev`): integer standard deviation `std_dev · 2^64`.
    Gaussian { std_dev: f64 },
}

impl NoiseDistribution {
    /// The variance of one sample, in integer units of the native torus (2^64), squared.
    pub fn variance(&self) -> f64 {
        match *self {
            // Var(TUniform(b)) = (2^(2b+1) + 1) / 6.
            NoiseDistribution::TUniform { bound_log2 } => {
                (2f64.powi(2 * bound_log2 as i32 + 1) + 1.0) / 6.0
            }
            NoiseDistribution::Gaussian { std_dev } => (std_dev * 2f64.powi(64)).powi(2),
        }
    }
}

impl std::fmt::Display for NoiseDistribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoiseDistribution::TUniform { bound_log2 } => write!(f, "TUniform({bound_log2})"),
            NoiseDistribution::Gaussian { std_dev } => write!(f, "Gaussian(σ = {std_dev:e})"),
        }
    }
}

/// A cryptographically secure generator for secrets, masks and noise.
pub struct CsprngGenerator {
    rng: ChaCha20Rng,
}

impl CsprngGenerator {
    /// A generator seeded from the operating system's entropy source.
    pub fn from_os_entropy() -> Self {
        Self {
            rng: ChaCha20Rng::from_entropy(),
        }
    }

    /// A deterministic generator (for tests and golden vectors; never for real keys).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            rng: ChaCha20Rng::from_seed(seed),
        }
    }

    /// A child generator with an independent stream, for parallel work.
    pub fn fork(&mut self) -> Self {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        Self::from_seed(seed)
    }

    /// A uniform 64-bit word (a mask element).
    #[inline]
    pub fn uniform_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Fills `out` with uniform words.
    pub fn fill_uniform(&mut self, out: &mut [u64]) {
        for x in out {
            *x = self.rng.next_u64();
        }
    }

    /// A uniform bit, as 0 or 1.
    #[inline]
    pub fn uniform_bit(&mut self) -> u64 {
        self.rng.next_u64() >> 63
    }

    /// One error sample on the torus Z/2^64Z, scaled to a torus of 2^`modulus_log` elements
    /// embedded in the top bits (for `modulus_log` = 64, the native torus).
    pub fn noise(&mut self, distribution: NoiseDistribution, modulus_log: u32) -> u64 {
        let shift = 64 - modulus_log;
        match distribution {
            NoiseDistribution::TUniform { bound_log2 } => {
                // b + 2 random bits r: (r >> 1) + (r & 1) − 2^b is TUniform(b).
                let r = self.rng.next_u64() & ((1u64 << (bound_log2 + 2)) - 1);
                let v = (r >> 1) + (r & 1);
                v.wrapping_sub(1u64 << bound_log2) << shift
            }
            NoiseDistribution::Gaussian { std_dev } => {
                // Box–Muller on two uniform doubles in (0, 1].
                let u1: f64 = 1.0 - self.rng.gen::<f64>();
                let u2: f64 = self.rng.gen::<f64>();
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                let scaled = z * std_dev * 2f64.powi(modulus_log as i32);
                (scaled.round() as i64 as u64) << shift
            }
        }
    }
}

/// Where an encryption draws its randomness: the mask words and the error samples. A
/// [`CsprngGenerator`] draws both from one stream; [`SeededEncryption`] draws the masks from a
/// public seed ([`MaskGenerator`]) and the errors from a secret generator, which is what makes
/// a key compressible: its masks can be regenerated from the seed, so only the bodies travel.
pub trait EncryptionRandomness {
    /// One uniform mask word.
    fn mask_word(&mut self) -> u64;
    /// One error sample (see [`CsprngGenerator::noise`]).
    fn noise_sample(&mut self, distribution: NoiseDistribution, modulus_log: u32) -> u64;
    /// Fills `out` with uniform mask words.
    fn fill_mask(&mut self, out: &mut [u64]) {
        for x in out {
            *x = self.mask_word();
        }
    }
}

impl EncryptionRandomness for CsprngGenerator {
    #[inline]
    fn mask_word(&mut self) -> u64 {
        self.uniform_u64()
    }
    fn noise_sample(&mut self, distribution: NoiseDistribution, modulus_log: u32) -> u64 {
        self.noise(distribution, modulus_log)
    }
    fn fill_mask(&mut self, out: &mut [u64]) {
        self.fill_uniform(out)
    }
}

/// Mask words regenerated from a public 32-byte seed: stream `stream` of ChaCha20 keyed by
/// the seed (TFHE-rs's seeded entities do the same with their own CSPRNG). Streams are
/// independent, so the keys' blocks are generated and expanded in parallel, one stream each.
pub struct MaskGenerator {
    rng: ChaCha20Rng,
}

impl MaskGenerator {
    /// Stream `stream` of the generator keyed by `seed`.
    pub fn new(seed: [u8; 32], stream: u64) -> Self {
        let mut rng = ChaCha20Rng::from_seed(seed);
        rng.set_stream(stream);
        Self { rng }
    }

    /// A uniform word.
    #[inline]
    pub fn uniform_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
}

/// Masks from a [`MaskGenerator`] (public), errors from a [`CsprngGenerator`] (secret).
pub struct SeededEncryption<'a> {
    pub mask: &'a mut MaskGenerator,
    pub noise: &'a mut CsprngGenerator,
}

impl EncryptionRandomness for SeededEncryption<'_> {
    #[inline]
    fn mask_word(&mut self) -> u64 {
        self.mask.uniform_u64()
    }
    fn noise_sample(&mut self, distribution: NoiseDistribution, modulus_log: u32) -> u64 {
        self.noise.noise(distribution, modulus_log)
    }
}

impl CsprngGenerator {
    /// 32 uniform bytes (a fresh seed, e.g. for a [`MaskGenerator`]).
    pub fn seed(&mut self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        seed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuniform_range_and_variance() {
        let mut g = CsprngGenerator::from_seed([7; 32]);
        let d = NoiseDistribution::TUniform { bound_log2: 4 };
        let n = 200_000;
        let mut sum = 0f64;
        let mut sq = 0f64;
        let mut ends = 0;
        for _ in 0..n {
            let v = g.noise(d, 64) as i64;
            assert!((-16..=16).contains(&v), "{v}");
            if v.abs() == 16 {
                ends += 1;
            }
            sum += v as f64;
            sq += (v * v) as f64;
        }
        let mean = sum / n as f64;
        let var = sq / n as f64 - mean * mean;
        assert!(
            (var / d.variance() - 1.0).abs() < 0.03,
            "{var} vs {}",
            d.variance()
        );
        // Each end has probability 2^-6.
        let p_end = ends as f64 / n as f64 / 2.0;
        assert!((p_end * 64.0 - 1.0).abs() < 0.1, "{p_end}");
    }

    #[test]
    fn gaussian_variance() {
        let mut g = CsprngGenerator::from_seed([8; 32]);
        let d = NoiseDistribution::Gaussian {
            std_dev: 2f64.powi(-40),
        };
        let n = 100_000;
        let sq: f64 = (0..n).map(|_| (g.noise(d, 64) as i64 as f64).powi(2)).sum();
        assert!((sq / n as f64 / d.variance() - 1.0).abs() < 0.03);
    }
}
