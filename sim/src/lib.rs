//! Glovebox's cycle-accurate backend: the accelerator RTL in `hdl/` compiled by Verilator and
//! driven from Rust through `cxx`. The results are bit-exact with the engine's arithmetic and
//! come with cycle counts.
//!
//! Part 1 (this crate today) covers the NTT datapath: [`NttUnit`] streams polynomials through
//! the Verilog streaming NTT and inverse-NTT units (`hdl/ntt_unit.sv`, one per direction, in
//! [`ntt_order`]'s order) and returns exactly what [`glovebox_engine::ntt::Plan::fwd`] and
//! [`glovebox_engine::ntt::Plan::inv`] compute, with the cycles it took; [`ks`] runs the keyswitch unit (`hdl/ks_unit.sv`) against a
//! modelled key memory, word for word the engine's keyswitch, with a closed-form cycle model
//! the simulation equals; [`arith`] drives the modular multiplier, the power-of-two
//! shifter, the two butterflies and the multiply-accumulate unit on their own, measuring when
//! each output's valid bit comes. The pipeline depths are the RTL's own: every unit exports its
//! latency on a port, and [`latencies`] reads them from the models; this crate restates none.
//!
//! ```
//! use glovebox_sim::NttUnit;
//! use glovebox_engine::ntt::Plan;
//! let mut unit = NttUnit::new(256, 8)?;
//! let mut data: Vec<u64> = (0..2 * 256).map(|i| i * i + 1).collect();
//! let mut want = data.clone();
//! let run = unit.forward(&mut data)?;
//! let plan = Plan::try_new(256)?;
//! want.chunks_exact_mut(256).for_each(|p| plan.fwd(p));
//! assert_eq!(data, want);
//! // A new polynomial every N / C = 32 cycles once the pipeline is full.
//! assert_eq!(run.cycles, NttUnit::analytic_latency(256, 8) + 2 * 32 - 1);
//! # Ok::<(), glovebox_engine::Error>(())
//! ```

pub mod accelerator;
pub mod backend;
pub mod br;
pub mod device;
pub mod ks;
pub mod ntt_order;
pub mod unit;

pub use unit::KeyMemory;

use glovebox_engine::commons::modp;
use glovebox_engine::{Error, Result};
use std::time::Instant;

#[cxx::bridge(namespace = "glovebox_sim")]
mod ffi {
    /// The units' `latency` ports and `goldilocks_consts`'s ports (see [`super::Latencies`]).
    struct RtlConstants {
        mod_mul: u32,
        mod_shift: u32,
        butterfly: u32,
        butterfly_shift: u32,
        mac: u32,
        shift_stages: u32,
    }

    unsafe extern "C++" {
        include!("glovebox-sim/cpp/sim.h");

        type NttSim;
        fn new_ntt_sim(n: u32, c: u32) -> UniquePtr<NttSim>;
        fn ntt_configs() -> Vec<u32>;
        fn latency(self: &NttSim) -> u32;
        fn cycles(self: &NttSim) -> u64;
        fn stream(
            self: Pin<&mut NttSim>,
            input: &[u64],
            inverse: bool,
            output: &mut [u64],
            latencies: &mut [u64],
        ) -> Result<u64>;

        fn rtl_constants() -> RtlConstants;
        fn mod_mul_stream(a: &[u64], b: &[u64], y: &mut [u64], arrivals: &mut [u64])
            -> Result<u64>;
        fn butterfly_stream(
            inverse: bool,
            u: &[u64],
            v: &[u64],
            w: &[u64],
            x: &mut [u64],
            y: &mut [u64],
            arrivals: &mut [u64],
        ) -> Result<u64>;
        fn mod_shift_stream(
            a: &[u64],
            e: &[u8],
            y: &mut [u64],
            arrivals: &mut [u64],
        ) -> Result<u64>;
        fn butterfly_shift_stream(
            u: &[u64],
            v: &[u64],
            e: &[u8],
            x: &mut [u64],
            y: &mut [u64],
            arrivals: &mut [u64],
        ) -> Result<u64>;
        fn mac_stream(
            a: &[u64],
            b: &[u64],
            c: &[u64],
            y: &mut [u64],
            arrivals: &mut [u64],
        ) -> Result<u64>;
        fn mac_lanes() -> u32;
        fn unit_cycles_simulated() -> u64;
    }
}

/// Pipeline depths of the RTL and the NTT's shift-stage count, read from the simulated RTL:
/// each unit's `latency` port (driven from `hdl/goldilocks_pkg.sv`) and `goldilocks_consts`'s
/// ports. The software states none of them; [`latencies`] reads them once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latencies {
    /// `mod_mul` (MUL_LATENCY).
    pub mod_mul: u64,
    /// `mod_shift`, a 2^e (SHIFT_LATENCY).
    pub mod_shift: u64,
    /// `butterfly` (BF_LATENCY).
    pub butterfly: u64,
    /// `butterfly_shift` (SBF_LATENCY).
    pub butterfly_shift: u64,
    /// `mac_unit` (MAC_LATENCY).
    pub mac: u64,
    /// The streaming NTT's stages before its first twist multiply (SHIFT_STAGES; a twist every
    /// SHIFT_STAGES + 1 stages after): `hdl/ntt_unit.sv`.
    pub shift_stages: u64,
}

/// Clock edges the keyswitch and blind-rotation units have simulated in this process so far
/// (every batch's main loop, all threads together): read from another thread while a run goes
/// on, against the units' cycle models, it gives a progress bar in simulated cycles.
pub fn unit_cycles_simulated() -> u64 {
    ffi::unit_cycles_simulated()
}

/// The RTL's latencies, read from the models' ports on first use.
pub fn latencies() -> Latencies {
    static LATENCIES: std::sync::OnceLock<Latencies> = std::sync::OnceLock::new();
    *LATENCIES.get_or_init(|| {
        let k = ffi::rtl_constants();
        Latencies {
            mod_mul: k.mod_mul.into(),
            mod_shift: k.mod_shift.into(),
            butterfly: k.butterfly.into(),
            butterfly_shift: k.butterfly_shift.into(),
            mac: k.mac.into(),
            shift_stages: k.shift_stages.into(),
        }
    })
}

/// A simulation failure (a model that did not finish, a contended port, a fault), as the engine's
/// typed backend error; every module of this crate reports through it.
pub(crate) fn sim_error(reason: impl Into<String>) -> Error {
    Error::Backend {
        backend: "sim (Verilator)".into(),
        reason: reason.into(),
    }
}

/// Runs `f` on a thread of its own with a 1 GiB stack (reserved, not committed): a wide
/// Verilated model keeps its evaluation's temporaries — buses of C × 64 bits — on the stack,
/// more than a default 8 MiB thread stack holds at C = 256.
pub(crate) fn on_model_stack<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R> {
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("glovebox-sim model".into())
            .stack_size(1 << 30)
            .spawn_scoped(s, f)
            .map_err(|e| sim_error(format!("cannot start the model's thread: {e}")))?;
        handle
            .join()
            .map_err(|_| sim_error("the model's thread panicked"))
    })
}

/// The (N, C) configurations of the NTT unit built into this library.
pub fn ntt_configs() -> Vec<(usize, usize)> {
    ffi::ntt_configs()
        .chunks_exact(2)
        .map(|p| (p[0] as usize, p[1] as usize))
        .collect()
}

/// What one stream of polynomials through the unit cost.
#[derive(Clone, Debug, PartialEq)]
pub struct NttRun {
    /// Polynomials transformed.
    pub polynomials: usize,
    /// Cycles from the first input word to the last output word.
    pub cycles: u64,
    /// Per polynomial: cycles from its first input word to its first output word.
    pub latencies: Vec<u64>,
    /// Wall-clock seconds the simulation took.
    pub wall_seconds: f64,
}

unit::simulated_run!(NttRun);

/// The streaming NTT unit of one (N, C) configuration, simulated cycle by cycle.
pub struct NttUnit {
    sim: cxx::UniquePtr<ffi::NttSim>,
    n: usize,
    c: usize,
    order: ntt_order::NttOrder,
}

impl NttUnit {
    /// The unit for N coefficients, C per cycle; [`Error::InvalidParameters`] names the built
    /// configurations if this one is not among them.
    pub fn new(n: usize, c: usize) -> Result<Self> {
        let sim = match (u32::try_from(n), u32::try_from(c)) {
            (Ok(n32), Ok(c32)) => ffi::new_ntt_sim(n32, c32),
            _ => cxx::UniquePtr::null(),
        };
        if sim.is_null() {
            let built: Vec<String> = ntt_configs()
                .iter()
                .map(|(n, c)| format!("N={n} C={c}"))
                .collect();
            return Err(Error::InvalidParameters(format!(
                "no simulated NTT unit for N={n} C={c}; built: {}",
                built.join(", ")
            )));
        }
        let order = ntt_order::NttOrder::new(n)?;
        Ok(Self { sim, n, c, order })
    }

    /// N.
    pub fn size(&self) -> usize {
        self.n
    }

    /// Coefficients per cycle.
    pub fn lanes(&self) -> usize {
        self.c
    }

    /// Cycles per polynomial at steady state: N / C.
    pub fn interval(&self) -> u64 {
        (self.n / self.c) as u64
    }

    /// The unit's own `LATENCY` parameter, read from the simulated RTL's `latency` port.
    pub fn latency(&self) -> u64 {
        self.sim.latency() as u64
    }

    /// The design's analytical latency (first input row to first output row), from the
    /// structure documented in `hdl/ntt_unit.sv` and the unit latencies the RTL exports
    /// ([`latencies`]): the input register, then per stage S (pairs at distance
    /// t = N / 2^(S+1)) `butterfly_shift`'s latency if t < C, or t / C rows of delay, the
    /// butterfly and an output register if t >= C; and a `mod_mul` per twist (before stage
    /// `shift_stages` and every `shift_stages` + 1 stages after). Both directions alike.
    pub fn analytic_latency(n: usize, c: usize) -> u64 {
        let lat = latencies();
        let log_n = n.trailing_zeros() as u64;
        let first = lat.shift_stages;
        let twists = if log_n > first {
            (log_n - 1 - first) / (first + 1) + 1
        } else {
            0
        };
        1 + twists * lat.mod_mul
            + (0..log_n)
                .map(|s| {
                    let t = (n >> (s + 1)) as u64;
                    if t >= c as u64 {
                        t / c as u64 + lat.butterfly_shift + 1
                    } else {
                        lat.butterfly_shift
                    }
                })
                .sum::<u64>()
    }

    /// The order in which the units hold the NTT domain ([`ntt_order`]); [`NttUnit::forward`]
    /// and [`NttUnit::inverse`] convert from and to the engine's.
    pub fn order(&self) -> &ntt_order::NttOrder {
        &self.order
    }

    /// Cycles simulated since the unit was built.
    pub fn total_cycles(&self) -> u64 {
        self.sim.cycles()
    }

    fn run(&mut self, data: &mut [u64], inverse: bool) -> Result<NttRun> {
        if data.is_empty() || !data.len().is_multiple_of(self.n) {
            return Err(Error::MalformedContainer {
                entity: "polynomial batch",
                expected: self.n * (data.len() / self.n).max(1),
                got: data.len(),
            });
        }
        if let Some(index) = data.iter().position(|&x| x >= modp::P) {
            return Err(Error::WordOutOfRange {
                what: "NTT input (residues mod p)",
                index,
                value: data[index],
                bound: modp::P,
            });
        }
        let polynomials = data.len() / self.n;
        let mut input = data.to_vec();
        if inverse {
            for p in input.chunks_exact_mut(self.n) {
                p.copy_from_slice(&self.order.to_unit_order(p));
            }
        }
        let mut output = vec![0u64; data.len()];
        let mut latencies = vec![0u64; polynomials];
        let t = Instant::now();
        let cycles = self
            .sim
            .pin_mut()
            .stream(&input, inverse, &mut output, &mut latencies)
            .map_err(|e| sim_error(e.what().to_string()))?;
        let wall_seconds = t.elapsed().as_secs_f64();
        if !inverse {
            for p in output.chunks_exact_mut(self.n) {
                p.copy_from_slice(&self.order.to_plan_order(p));
            }
        }
        data.copy_from_slice(&output);
        Ok(NttRun {
            polynomials,
            cycles,
            latencies,
            wall_seconds,
        })
    }

    /// Forward NTTs of every polynomial of `data` (canonical residues, natural order) in place,
    /// streamed back to back through the forward unit: [`glovebox_engine::ntt::Plan::fwd`]'s
    /// output, word for word, once the unit's order ([`NttUnit::order`]) is undone.
    pub fn forward(&mut self, data: &mut [u64]) -> Result<NttRun> {
        self.run(data, false)
    }

    /// Inverse NTTs (scaling by N^-1 included) through the inverse unit, `data` in
    /// `Plan::fwd`'s order (put into the unit's first): [`glovebox_engine::ntt::Plan::inv`].
    pub fn inverse(&mut self, data: &mut [u64]) -> Result<NttRun> {
        self.run(data, true)
    }
}

/// The arithmetic units alone, one input per cycle (or one lane group per cycle) with
/// `in_valid` high, each result read back on the cycle its `out_valid` comes; the cycles are
/// measured ([`UnitRun`]), to be compared with the latencies the RTL exports ([`latencies`]).
pub mod arith {
    use super::*;

    /// When a unit's outputs came, measured from the simulated valid bits.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct UnitRun {
        /// Per output (per lane group for [`mac`]): the cycle its `out_valid` came, counted from
        /// the cycle the first input was presented (cycle k is after k clock edges).
        pub arrivals: Vec<u64>,
        /// Cycles from the first input to the last output: the last arrival.
        pub cycles: u64,
    }

    fn unit_run(
        outputs: usize,
        stream: impl FnOnce(&mut [u64]) -> std::result::Result<u64, cxx::Exception>,
    ) -> Result<UnitRun> {
        let mut arrivals = vec![0; outputs];
        let cycles = stream(&mut arrivals).map_err(|e| sim_error(e.what()))?;
        Ok(UnitRun { arrivals, cycles })
    }

    fn same_len(lens: &[usize]) -> Result<()> {
        if lens.windows(2).any(|w| w[0] != w[1]) {
            return Err(Error::DimensionMismatch {
                what: "unit input lengths",
                expected: lens[0],
                got: *lens.iter().find(|&&l| l != lens[0]).unwrap_or(&0),
            });
        }
        Ok(())
    }

    /// `a[i] * b[i] mod p` through `hdl/mod_mul.sv` (any 64-bit inputs); returns the results and
    /// when they came.
    pub fn mod_mul(a: &[u64], b: &[u64]) -> Result<(Vec<u64>, UnitRun)> {
        same_len(&[a.len(), b.len()])?;
        let mut y = vec![0; a.len()];
        let run = unit_run(a.len(), |t| ffi::mod_mul_stream(a, b, &mut y, t))?;
        Ok((y, run))
    }

    /// `hdl/butterfly.sv`: Cooley–Tukey `(u + v w, u − v w)` or, `inverse`, Gentleman–Sande
    /// `(u + v, (u − v) w)`, for canonical inputs.
    pub fn butterfly(
        inverse: bool,
        u: &[u64],
        v: &[u64],
        w: &[u64],
    ) -> Result<(Vec<u64>, Vec<u64>, UnitRun)> {
        same_len(&[u.len(), v.len(), w.len()])?;
        let mut x = vec![0; u.len()];
        let mut y = vec![0; u.len()];
        let run = unit_run(u.len(), |t| {
            ffi::butterfly_stream(inverse, u, v, w, &mut x, &mut y, t)
        })?;
        Ok((x, y, run))
    }

    /// `a[i] * 2^e[i] mod p` through `hdl/mod_shift.sv` (any 64-bit `a`, exponents taken mod
    /// 192): the multiplication by a power-of-two twiddle, done with shifts.
    pub fn mod_shift(a: &[u64], e: &[u8]) -> Result<(Vec<u64>, UnitRun)> {
        same_len(&[a.len(), e.len()])?;
        let mut y = vec![0; a.len()];
        let run = unit_run(a.len(), |t| ffi::mod_shift_stream(a, e, &mut y, t))?;
        Ok((y, run))
    }

    /// `hdl/butterfly_shift.sv`: Cooley–Tukey `(u + v 2^e, u − v 2^e)` for canonical inputs.
    pub fn butterfly_shift(
        u: &[u64],
        v: &[u64],
        e: &[u8],
    ) -> Result<(Vec<u64>, Vec<u64>, UnitRun)> {
        same_len(&[u.len(), v.len(), e.len()])?;
        let mut x = vec![0; u.len()];
        let mut y = vec![0; u.len()];
        let run = unit_run(u.len(), |t| {
            ffi::butterfly_shift_stream(u, v, e, &mut x, &mut y, t)
        })?;
        Ok((x, y, run))
    }

    /// Lanes of the simulated multiply-accumulate unit.
    pub fn mac_lanes() -> usize {
        ffi::mac_lanes() as usize
    }

    /// `a[i] * b[i] + c[i] mod p` through `hdl/mac_unit.sv`, [`mac_lanes`] per cycle (lengths
    /// must be a multiple of it).
    pub fn mac(a: &[u64], b: &[u64], c: &[u64]) -> Result<(Vec<u64>, UnitRun)> {
        same_len(&[a.len(), b.len(), c.len()])?;
        if !a.len().is_multiple_of(mac_lanes()) {
            return Err(Error::MalformedContainer {
                entity: "MAC input",
                expected: a.len().next_multiple_of(mac_lanes()),
                got: a.len(),
            });
        }
        let mut y = vec![0; a.len()];
        let run = unit_run(a.len() / mac_lanes(), |t| {
            ffi::mac_stream(a, b, c, &mut y, t)
        })?;
        Ok((y, run))
    }
}
