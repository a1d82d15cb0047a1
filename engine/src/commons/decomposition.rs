//! Signed gadget decomposition with rounding, bit-compatible with TFHE-rs's `SignedDecomposer`
//! (balanced digits in `[−B/2, B/2]`, see <https://eprint.iacr.org/2021/1161.pdf>).
//!
//! A value `x` on the native torus is first rounded to the closest multiple of
//! 2^(64 − b·ℓ); the rounded value is then written as `Σ_{j=1..ℓ} d_j · 2^(64 − b·j)` with
//! signed digits `d_j`. Digits come out *least significant level first* (`j = ℓ, ℓ−1, …, 1`),
//! which is also the order in which GGSW levels and keyswitch-key levels are stored.
//!
//! ```
//! use glovebox_engine::commons::decomposition::SignedDecomposer;
//! use glovebox_engine::commons::dimensions::{DecompositionBaseLog, DecompositionLevelCount};
//! let d = SignedDecomposer::new(DecompositionBaseLog(4), DecompositionLevelCount(3));
//! let x = 0x1234_5678_9abc_def0u64;
//! let mut state = d.init_state(x);
//! let mut recomposed = 0u64;
//! for level in (1..=3).rev() {
//!     let digit = d.next_digit(&mut state);
//!     recomposed = recomposed.wrapping_add(digit.wrapping_shl(64 - 4 * level));
//! }
//! assert_eq!(recomposed, d.closest_representable(x));
//! ```

use super::dimensions::{DecompositionBaseLog, DecompositionLevelCount};

/// Signed decomposition in base 2^`base_log` over `level_count` levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedDecomposer {
    base_log: usize,
    level_count: usize,
}

impl SignedDecomposer {
    /// `base_log · level_count` must be below 64 (checked by the parameter validation).
    pub fn new(base_log: DecompositionBaseLog, level_count: DecompositionLevelCount) -> Self {
        debug_assert!(base_log.0 * level_count.0 < 64 && base_log.0 > 0 && level_count.0 > 0);
        Self {
            base_log: base_log.0,
            level_count: level_count.0,
        }
    }

    pub fn base_log(&self) -> usize {
        self.base_log
    }

    pub fn level_count(&self) -> usize {
        self.level_count
    }

    /// The closest value representable by the decomposition (round half up at bit 64 − b·ℓ).
    #[inline(always)]
    pub fn closest_representable(&self, input: u64) -> u64 {
        let non_rep = 64 - self.level_count * self.base_log;
        let mut res = input >> (non_rep - 1);
        res += 1;
        res &= !1u64;
        res << (non_rep - 1)
    }

    /// The decomposition state of `input`: its `b·ℓ` representable bits, rounded and balanced
    /// (TFHE-rs `SignedDecomposer::init_decomposer_state`).
    #[inline(always)]
    pub fn init_state(&self, input: u64) -> u64 {
        let rep = self.level_count * self.base_log;
        let non_rep = 64 - rep;
        let mut res = input >> (non_rep - 1);
        let rounding_bit = res & 1;
        res += 1;
        res >>= 1;
        let mod_mask = u64::MAX >> (64 - rep);
        res &= mod_mask;
        // Balance: res > B^ℓ/2, or res == B^ℓ/2 and the rounding bit is set.
        let shifted_random = rounding_bit << (rep - 1);
        let need_balance = ((res.wrapping_sub(1) | shifted_random) & res) >> (rep - 1);
        res.wrapping_sub(need_balance << rep)
    }

    /// Pops the next (least significant remaining) digit off `state`, as a two's-complement
    /// `u64` in `[−B/2, B/2]`.
    #[inline(always)]
    pub fn next_digit(&self, state: &mut u64) -> u64 {
        let b = self.base_log;
        let mask = (1u64 << b) - 1;
        let res = *state & mask;
        *state = ((*state as i64) >> b) as u64;
        let carry = ((res.wrapping_sub(1) | *state) & res) >> (b - 1);
        *state = state.wrapping_add(carry);
        res.wrapping_sub(carry << b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn recomposition_and_digit_range() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for (b, l) in [(23, 1), (4, 4), (2, 8), (15, 2), (10, 3), (1, 20)] {
            let d = SignedDecomposer::new(DecompositionBaseLog(b), DecompositionLevelCount(l));
            for i in 0..2000 {
                let x: u64 = match i {
                    0 => 0,
                    1 => u64::MAX,
                    2 => 1 << 63,
                    _ => rng.gen(),
                };
                let mut state = d.init_state(x);
                let mut acc = 0u64;
                for level in (1..=l).rev() {
                    let digit = d.next_digit(&mut state) as i64;
                    assert!(digit.abs() <= 1 << (b - 1), "digit {digit} base 2^{b}");
                    acc = acc.wrapping_add((digit as u64).wrapping_shl((64 - b * level) as u32));
                }
                assert_eq!(acc, d.closest_representable(x), "b={b} l={l} x={x:#x}");
                // Rounding error at most half a step.
                let err = acc.wrapping_sub(x) as i64;
                assert!(err.unsigned_abs() <= 1 << (63 - b * l));
            }
        }
    }
}
