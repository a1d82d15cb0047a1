//! The order in which the streaming NTT units (`hdl/ntt_unit.sv`) hold the NTT domain.
//!
//! The forward unit computes the same negacyclic NTT as [`glovebox_engine::ntt::Plan::fwd`] —
//! the polynomial evaluated at the odd powers ψ^(2i+1) of the engine's 2N-th root of unity —
//! but as the streaming network leaves it in place: log2 N radix-2 stages whose twiddles are
//! powers of two, with a twist (every coefficient times a constant) before stage
//! [`Latencies::shift_stages`](crate::Latencies) = 5 and every 6 stages after
//! (`hdl/gen_twiddles.py` states the plan and checks it). [`NttOrder`] tracks that network to
//! name, for each position of the unit's output, the point it evaluated and the slot that holds
//! the same value in `Plan::fwd`'s bit-reversed order. The blind-rotation unit multiplies its
//! forward output by the key position by position, so the key is uploaded in this order
//! ([`crate::br::BlindRotationUnit::device_key`]); every other word the accelerator returns is
//! in the coefficient domain, where no order is in question.
//!
//! ```
//! use glovebox_engine::ntt::Plan;
//! use glovebox_sim::ntt_order::NttOrder;
//! let order = NttOrder::new(256)?;
//! let plan = Plan::try_new(256)?;
//! let mut a: Vec<u64> = (0..256).map(|i| i * i + 3).collect();
//! plan.fwd(&mut a);
//! // The unit's position 0 evaluates at ψ^points[0]; Plan::fwd keeps a(ψ^(2i+1)) in slot
//! // bitrev(i).
//! let unit_order = order.to_unit_order(&a);
//! assert_eq!(unit_order[0], a[order.plan_slots()[0]]);
//! assert_eq!(order.to_plan_order(&unit_order), a);
//! # Ok::<(), glovebox_engine::Error>(())
//! ```

use glovebox_engine::{Error, Result};

/// The streaming NTT's output order for one polynomial size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NttOrder {
    points: Vec<usize>,
    plan_slots: Vec<usize>,
}

/// Stages before the first twist, and from one twist to the next: `goldilocks_pkg`'s
/// SHIFT_STAGES and SHIFT_STAGES + 1, which the RTL reads (the NTT tests compare the two).
const FIRST_TWIST: usize = 5;

impl NttOrder {
    /// The order at N coefficients: N a power of two, at least 64 (the unit's contract).
    pub fn new(n: usize) -> Result<Self> {
        if !n.is_power_of_two() || n < 2 << FIRST_TWIST {
            return Err(Error::InvalidParameters(format!(
                "streaming NTT order: N = {n} is not a power of two of at least {}",
                2 << FIRST_TWIST
            )));
        }
        let log_n = n.trailing_zeros() as usize;
        let two_n = 2 * n;
        // Per block of the stage: zeta's exponent (the block is the residue modulo
        // y^(2t) - psi^zeta) and sigma, with x = psi^sigma y after the twists on its path.
        let mut zeta = vec![n];
        let mut sigma = vec![0usize];
        for s in 0..log_n {
            let t = n >> (s + 1);
            if s >= FIRST_TWIST && (s - FIRST_TWIST) % (FIRST_TWIST + 1) == 0 {
                for (z, sg) in zeta.iter_mut().zip(sigma.iter_mut()) {
                    *sg = (*sg + *z / (2 * t)) % two_n;
                    *z = 0;
                }
            }
            // Butterfly w = psi^(zeta/2): top y^t - w, bottom y^t + w.
            zeta = zeta
                .iter()
                .flat_map(|&e| [e / 2, (e / 2 + n) % two_n])
                .collect();
            sigma = sigma.iter().flat_map(|&s| [s, s]).collect();
        }
        let points: Vec<usize> = zeta
            .iter()
            .zip(&sigma)
            .map(|(&e, &s)| (e + s) % two_n)
            .collect();
        let plan_slots = points
            .iter()
            .map(|&e| ((e - 1) / 2).reverse_bits() >> (usize::BITS as usize - log_n))
            .collect();
        Ok(Self { points, plan_slots })
    }

    /// N.
    pub fn size(&self) -> usize {
        self.points.len()
    }

    /// Per unit position, the odd exponent E of the point ψ^E it evaluates.
    pub fn points(&self) -> &[usize] {
        &self.points
    }

    /// Per unit position, the slot of `Plan::fwd`'s output holding the same value.
    pub fn plan_slots(&self) -> &[usize] {
        &self.plan_slots
    }

    /// One polynomial from `Plan::fwd`'s order into the unit's.
    pub fn to_unit_order(&self, plan: &[u64]) -> Vec<u64> {
        self.plan_slots.iter().map(|&s| plan[s]).collect()
    }

    /// One polynomial from the unit's order into `Plan::fwd`'s.
    pub fn to_plan_order(&self, unit: &[u64]) -> Vec<u64> {
        let mut out = vec![0; unit.len()];
        for (&s, &x) in self.plan_slots.iter().zip(unit) {
            out[s] = x;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glovebox_engine::commons::modp;
    use glovebox_engine::ntt::Plan;

    #[test]
    fn every_position_holds_the_plan_value_at_its_point() {
        for n in [64, 256, 2048, 4096] {
            let order = NttOrder::new(n).unwrap();
            let mut slots = order.plan_slots().to_vec();
            slots.sort_unstable();
            assert!(
                slots.iter().enumerate().all(|(i, &s)| i == s),
                "N={n}: a permutation"
            );
            // Plan::fwd's slot holds a(psi^E): check on a polynomial, against direct
            // evaluation at a few positions (the engine's plans start at N = 256).
            if n < 256 {
                continue;
            }
            let plan = Plan::try_new_portable(n).unwrap();
            let a: Vec<u64> = (0..n as u64).map(|i| modp::mul(i + 7, i + 11)).collect();
            let mut f = a.clone();
            plan.fwd(&mut f);
            let psi = modp::primitive_root_of_unity(2 * n as u64);
            for pos in [0, 1, n / 3, n - 1] {
                let x = modp::pow(psi, order.points()[pos] as u64);
                let want = a
                    .iter()
                    .rev()
                    .fold(0, |acc, &c| modp::add(modp::mul(acc, x), c));
                assert_eq!(f[order.plan_slots()[pos]], want, "N={n} position {pos}");
            }
        }
        assert!(NttOrder::new(32).is_err());
        assert!(NttOrder::new(1000).is_err());
    }
}
