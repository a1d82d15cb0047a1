//! PBS-free linear combinations `Σ kᵢ·xᵢ + c` of blocks, checked against the degrees and the
//! noise: the result's range, from its operands' degrees, must stay inside the plaintext
//! space ([`Error::DegreeOverflow`] otherwise), and its squared noise norm `Σ kᵢ²·νᵢ` within
//! the set's bound ([`Error::NoiseOverflow`] otherwise: the set's p_fail only holds up to
//! it). Bootstrap the operands first. The result's degree is the top of that range.

use crate::{Block, IntegerServer};
use glovebox_engine::prelude::*;

/// The range `[min, max]` that `Σ kᵢ·xᵢ + c` can take when each `xᵢ ∈ [0, degreeᵢ]`.
pub fn combination_range(parts: &[(u64, i64)], constant: i64) -> (i128, i128) {
    let (mut min, mut max) = (constant as i128, constant as i128);
    for &(degree, k) in parts {
        let reach = degree as i128 * k as i128;
        if k >= 0 {
            max += reach;
        } else {
            min += reach;
        }
    }
    (min, max)
}

impl IntegerServer<'_> {
    /// `Σ kᵢ·xᵢ + c` without a bootstrap, when its range fits the plaintext space.
    ///
    /// ```
    /// use glovebox_driver::{Driver, DriverConfig};
    /// use glovebox_engine::prelude::*;
    /// use glovebox_integer::*;
    /// use std::sync::Arc;
    /// let client = ClientKey::new(&TEST_PARAMS_INSECURE)?;
    /// let server = Arc::new(client.server_key()?);
    /// let driver = Driver::new(Arc::new(CpuBackend::new()), server.clone(), DriverConfig::default())?;
    /// let ints = IntegerServer::new(&driver, &server)?;
    /// let x = encrypt_radix(&client, 3, 1)?; // one block, degree 3
    /// let b = &x.blocks()[0];
    /// let five = ints.linear_combination(&[(b, 5)], 0)?; // degree 15: fits 16
    /// assert_eq!((five.degree(), five.noise()), (15, 25)); // noise 5² · 1
    /// assert!(matches!(
    ///     ints.linear_combination(&[(b, 6)], 0), // could reach 18
    ///     Err(Error::DegreeOverflow { .. })
    /// ));
    /// let flag = encrypt_bool(&client, true)?; // degree 1
    /// assert!(matches!(
    ///     ints.linear_combination(&[(flag.block(), 6)], 0), // degree 6, but noise 6² > 5²
    ///     Err(Error::NoiseOverflow { norm2: 36, max: 25, .. })
    /// ));
    /// # Ok::<(), glovebox_engine::Error>(())
    /// ```
    pub fn linear_combination(&self, parts: &[(&Block, i64)], constant: i64) -> Result<Block> {
        self.lin(parts, constant)
    }

    pub(crate) fn lin(&self, parts: &[(&Block, i64)], constant: i64) -> Result<Block> {
        for (b, _) in parts {
            self.check_block(b)?;
        }
        let space = self.layout.space;
        let shape: Vec<(u64, i64)> = parts.iter().map(|(b, k)| (b.degree, *k)).collect();
        let (min, max) = combination_range(&shape, constant);
        if min < 0 || max >= space as i128 {
            return Err(Error::DegreeOverflow {
                what: "linear combination",
                min: min.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
                max: max.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
                space,
            });
        }
        let noise = parts.iter().fold(0u64, |n, (b, k)| {
            n.saturating_add(b.noise.saturating_mul(k.unsigned_abs().saturating_pow(2)))
        });
        if noise > self.layout.max_noise {
            return Err(Error::NoiseOverflow {
                what: "linear combination",
                norm2: noise,
                max: self.layout.max_noise,
            });
        }
        let mut out = self.trivial(0)?;
        for (b, k) in parts {
            let mut t = b.ct.ct.clone();
            t.scalar_mul_assign(*k as u64);
            out.ct.ct.add_assign(&t)?;
        }
        let delta = self.server_key.parameters().delta();
        out.ct
            .ct
            .plaintext_add_assign((constant as u64).wrapping_mul(delta));
        out.degree = max as u64;
        out.noise = noise;
        Ok(out)
    }

    /// [`Self::linear_combination`] for a combination that the caller has proved never
    /// exceeds `bound`, a tighter bound than the operands' degrees give (e.g. a sum of
    /// indicators of disjoint events, of which at most one is 1). The combination is still
    /// checked against the space and the noise bound; a wrong proof gives wrong results
    /// downstream, so use it only for what the caller's construction guarantees.
    pub fn linear_combination_proved(
        &self,
        parts: &[(&Block, i64)],
        constant: i64,
        bound: u64,
    ) -> Result<Block> {
        self.lin_proved(parts, constant, bound)
    }

    pub(crate) fn lin_proved(
        &self,
        parts: &[(&Block, i64)],
        constant: i64,
        bound: u64,
    ) -> Result<Block> {
        let mut out = self.lin(parts, constant)?;
        out.degree = out.degree.min(bound);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::combination_range;

    #[test]
    fn ranges_of_combinations() {
        // x + (3 − y) + 1 with x, y ≤ 3: [1, 7].
        assert_eq!(combination_range(&[(3, 1), (3, -1)], 4), (1, 7));
        // 4·hi + lo over clean blocks: [0, 15].
        assert_eq!(combination_range(&[(3, 4), (3, 1)], 0), (0, 15));
        // 1 − b for a flag: [0, 1]; −b alone could be negative.
        assert_eq!(combination_range(&[(1, -1)], 1), (0, 1));
        assert_eq!(combination_range(&[(1, -1)], 0), (-1, 0));
    }
}
