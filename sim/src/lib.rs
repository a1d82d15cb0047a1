//! Glovebox's cycle-accurate backend: the accelerator RTL in `hdl/` compiled by Verilator and
//! driven from Rust through `cxx`. The results are bit-exact with the engine's arithmetic and
//! come with cycle counts.
//!
//! Part 1 (this crate today) covers the NTT datapath: [`NttUnit`] streams polynomials through
//! the Verilog NTT / inverse-NTT unit (`hdl/ntt_unit.sv`) exactly as
//! [`glovebox_engine::ntt::Plan::fwd`] and [`glovebox_engine::ntt::Plan::inv`] transform them, and
//! reports the cycles it took; [`arith`] drives the modular multiplier, the power-of-two
//! shifter, the two butterflies and the multiply-accumulate unit on their own.
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

use glovebox_engine::commons::modp;
use glovebox_engine::{Error, Result};
use std::time::Instant;

#[cxx::bridge(namespace = "glovebox_sim")]
mod ffi {
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

        fn mod_mul_stream(a: &[u64], b: &[u64], y: &mut [u64]) -> Result<u64>;
        fn butterfly_stream(
            inverse: bool,
            u: &[u64],
            v: &[u64],
            w: &[u64],
            x: &mut [u64],
            y: &mut [u64],
        ) -> Result<u64>;
        fn mod_shift_stream(a: &[u64], e: &[u8], y: &mut [u64]) -> Result<u64>;
        fn butterfly_shift_stream(
            u: &[u64],
            v: &[u64],
            e: &[u8],
            x: &mut [u64],
            y: &mut [u64],
        ) -> Result<u64>;
        fn mac_stream(a: &[u64], b: &[u64], c: &[u64], y: &mut [u64]) -> Result<u64>;
        fn mac_lanes() -> u32;
    }
}

/// Pipeline depths of the RTL, as `hdl/goldilocks_pkg.sv` states them.
pub mod depths {
    /// `mod_mul`: partial products, 128-bit sum, reduction, canonical step.
    pub const MUL_LATENCY: u64 = 4;
    /// `butterfly`: input register, multiplier, output register.
    pub const BF_LATENCY: u64 = MUL_LATENCY + 2;
    /// `mod_shift` (a 2^e): shift and sum, carry fold, canonical step and sign.
    pub const SHIFT_LATENCY: u64 = 3;
    /// `butterfly_shift`: the shifter, output register.
    pub const SBF_LATENCY: u64 = SHIFT_LATENCY + 1;
    /// NTT stages whose twiddles are all powers of two in both directions, built with
    /// `butterfly_shift` and no multiplier.
    pub const SHIFT_STAGES: u64 = 5;
    /// `mac_unit`: multiplier, adder register.
    pub const MAC_LATENCY: u64 = MUL_LATENCY + 1;
}

fn sim_error(reason: impl Into<String>) -> Error {
    Error::Backend {
        backend: "sim (Verilator)".into(),
        reason: reason.into(),
    }
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

impl NttRun {
    /// Simulated cycles per wall-clock second.
    pub fn cycles_per_second(&self) -> f64 {
        self.cycles as f64 / self.wall_seconds.max(1e-9)
    }
}

/// The streaming NTT unit of one (N, C) configuration, simulated cycle by cycle.
pub struct NttUnit {
    sim: cxx::UniquePtr<ffi::NttSim>,
    n: usize,
    c: usize,
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
        Ok(Self { sim, n, c })
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

    /// The unit's own `LATENCY` parameter, read from the simulated RTL.
    pub fn latency(&self) -> u64 {
        self.sim.latency() as u64
    }

    /// The design's analytical latency (first input word to first output word), from the
    /// structure documented in `hdl/ntt_unit.sv`: filling buffer 0 (N/C cycles), log2 N stages
    /// of N/C + 1 cycles plus their butterfly's latency (SBF_LATENCY in the first
    /// SHIFT_STAGES stages, which multiply by shifts, BF_LATENCY after), then the output read
    /// and the scaling multiplier.
    pub fn analytic_latency(n: usize, c: usize) -> u64 {
        let words = (n / c) as u64;
        let log_n = n.trailing_zeros() as u64;
        let shift_stages = log_n.min(depths::SHIFT_STAGES);
        words
            + log_n * (words + 1)
            + shift_stages * depths::SBF_LATENCY
            + (log_n - shift_stages) * depths::BF_LATENCY
            + 1
            + depths::MUL_LATENCY
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
        let mut output = vec![0u64; data.len()];
        let mut latencies = vec![0u64; polynomials];
        let t = Instant::now();
        let cycles = self
            .sim
            .pin_mut()
            .stream(data, inverse, &mut output, &mut latencies)
            .map_err(|e| sim_error(e.what().to_string()))?;
        let wall_seconds = t.elapsed().as_secs_f64();
        data.copy_from_slice(&output);
        Ok(NttRun {
            polynomials,
            cycles,
            latencies,
            wall_seconds,
        })
    }

    /// Forward NTTs of every polynomial of `data` (canonical residues, natural order) in place,
    /// streamed back to back: [`glovebox_engine::ntt::Plan::fwd`]'s output, word for word.
    pub fn forward(&mut self, data: &mut [u64]) -> Result<NttRun> {
        self.run(data, false)
    }

    /// Inverse NTTs (scaling by N^-1 included): [`glovebox_engine::ntt::Plan::inv`].
    pub fn inverse(&mut self, data: &mut [u64]) -> Result<NttRun> {
        self.run(data, true)
    }
}

/// The arithmetic units alone, one input per cycle (or one lane group per cycle), each result
/// read back when the pipeline delivers it.
pub mod arith {
    use super::*;

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
    /// the cycles from the first input to the last output.
    pub fn mod_mul(a: &[u64], b: &[u64]) -> Result<(Vec<u64>, u64)> {
        same_len(&[a.len(), b.len()])?;
        let mut y = vec![0; a.len()];
        let cycles = ffi::mod_mul_stream(a, b, &mut y).map_err(|e| sim_error(e.what()))?;
        Ok((y, cycles))
    }

    /// `hdl/butterfly.sv`: Cooley–Tukey `(u + v w, u − v w)` or, `inverse`, Gentleman–Sande
    /// `(u + v, (u − v) w)`, for canonical inputs.
    pub fn butterfly(
        inverse: bool,
        u: &[u64],
        v: &[u64],
        w: &[u64],
    ) -> Result<(Vec<u64>, Vec<u64>, u64)> {
        same_len(&[u.len(), v.len(), w.len()])?;
        let mut x = vec![0; u.len()];
        let mut y = vec![0; u.len()];
        let cycles = ffi::butterfly_stream(inverse, u, v, w, &mut x, &mut y)
            .map_err(|e| sim_error(e.what()))?;
        Ok((x, y, cycles))
    }

    /// `a[i] * 2^e[i] mod p` through `hdl/mod_shift.sv` (any 64-bit `a`, exponents taken mod
    /// 192): the multiplication by a power-of-two twiddle, done with shifts.
    pub fn mod_shift(a: &[u64], e: &[u8]) -> Result<(Vec<u64>, u64)> {
        same_len(&[a.len(), e.len()])?;
        let mut y = vec![0; a.len()];
        let cycles = ffi::mod_shift_stream(a, e, &mut y).map_err(|e| sim_error(e.what()))?;
        Ok((y, cycles))
    }

    /// `hdl/butterfly_shift.sv`: Cooley–Tukey `(u + v 2^e, u − v 2^e)` for canonical inputs.
    pub fn butterfly_shift(u: &[u64], v: &[u64], e: &[u8]) -> Result<(Vec<u64>, Vec<u64>, u64)> {
        same_len(&[u.len(), v.len(), e.len()])?;
        let mut x = vec![0; u.len()];
        let mut y = vec![0; u.len()];
        let cycles = ffi::butterfly_shift_stream(u, v, e, &mut x, &mut y)
            .map_err(|e| sim_error(e.what()))?;
        Ok((x, y, cycles))
    }

    /// Lanes of the simulated multiply-accumulate unit.
    pub fn mac_lanes() -> usize {
        ffi::mac_lanes() as usize
    }

    /// `a[i] * b[i] + c[i] mod p` through `hdl/mac_unit.sv`, [`mac_lanes`] per cycle (lengths
    /// must be a multiple of it).
    pub fn mac(a: &[u64], b: &[u64], c: &[u64]) -> Result<(Vec<u64>, u64)> {
        same_len(&[a.len(), b.len(), c.len()])?;
        if !a.len().is_multiple_of(mac_lanes()) {
            return Err(Error::MalformedContainer {
                entity: "MAC input",
                expected: a.len().next_multiple_of(mac_lanes()),
                got: a.len(),
            });
        }
        let mut y = vec![0; a.len()];
        let cycles = ffi::mac_stream(a, b, c, &mut y).map_err(|e| sim_error(e.what()))?;
        Ok((y, cycles))
    }
}
