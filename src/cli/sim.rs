//! `glovebox sim`: the accelerator RTL simulated cycle by cycle (Verilator), checked against
//! the engine, with cycle counts and a throughput projected at a clock.

use super::{check_passed, CliResult, OutputArgs, Report};
use glovebox::prelude::*;
use glovebox::sim::NttUnit;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Cycle-accurate simulation of the accelerator RTL (hdl/, Verilator).
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub unit: Unit,
}

#[derive(clap::Subcommand, Debug)]
pub enum Unit {
    /// Streams random polynomials through the NTT unit, checks every output word against the
    /// CPU NTT, and reports cycles, simulation speed and projected throughput at a clock.
    Ntt(NttArgs),
}

#[derive(clap::Args, Debug)]
pub struct NttArgs {
    /// Polynomial size N (built: 256, 1024, 2048).
    #[arg(long, default_value_t = 2048)]
    pub n: usize,
    /// Coefficients per cycle C (built: 2, 8, 32).
    #[arg(long, default_value_t = 32)]
    pub c: usize,
    /// Polynomials streamed back to back.
    #[arg(long, default_value_t = 16)]
    pub polys: usize,
    /// Inverse NTT instead of forward.
    #[arg(long)]
    pub inverse: bool,
    /// Clock of the projection, in MHz.
    #[arg(long, default_value_t = 350.0)]
    pub clock_mhz: f64,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Why 350 MHz: what the projection says about the clock.
const CLOCK_NOTE: &str = "a clock that FPGA NTT designs of this kind (pipelined 64-bit \
    Goldilocks multipliers on DSP slices) reach on current parts; the RTL has not been placed \
    and routed";

#[derive(Serialize)]
struct SimNttReport {
    unit: &'static str,
    direction: &'static str,
    n: usize,
    c: usize,
    polynomials: usize,
    verified: usize,
    cycles: u64,
    latency_cycles: u64,
    analytic_latency_cycles: u64,
    interval_cycles: u64,
    simulated_cycles_per_s: f64,
    wall_s: f64,
    clock_mhz: f64,
    clock_note: &'static str,
    /// This run's rate at the clock: every polynomial over every cycle it took, pipeline
    /// fill and drain included.
    measured_ntt_per_s: f64,
    /// The steady-state rate: one polynomial every `interval_cycles`.
    projected_ntt_per_s: f64,
    projected_latency_us: f64,
}

impl Report for SimNttReport {
    fn print_table(&self) {
        let (n, c) = (self.n, self.c);
        println!(
            "{} NTT unit, N = {n}, C = {c}: {} polynomials back to back",
            self.direction, self.polynomials
        );
        println!(
            "verified: {}/{} polynomials equal the CPU NTT word for word",
            self.verified, self.polynomials
        );
        println!(
            "cycles: {} in all; latency {} (analytical {}); one polynomial every {} cycles at \
             steady state",
            self.cycles, self.latency_cycles, self.analytic_latency_cycles, self.interval_cycles
        );
        println!(
            "simulation: {:.3e} cycles per wall-clock second ({:.2} s)",
            self.simulated_cycles_per_s, self.wall_s
        );
        println!(
            "at {0} MHz: this run {1:.3e} NTT/s ({2} polynomials in {3} cycles, fill and drain \
             included); steady state {4:.3e} NTT/s; {5:.2} us latency ({0} MHz: {6})",
            self.clock_mhz,
            self.measured_ntt_per_s,
            self.polynomials,
            self.cycles,
            self.projected_ntt_per_s,
            self.projected_latency_us,
            self.clock_note
        );
    }
}

pub fn run(args: Args) -> CliResult<()> {
    match args.unit {
        Unit::Ntt(a) => ntt(a),
    }
}

fn ntt(a: NttArgs) -> CliResult<()> {
    let (n, c, polys) = (a.n, a.c, a.polys);
    if polys == 0 || !(a.clock_mhz > 0.0) {
        return Err(
            Error::InvalidParameters("--polys and --clock-mhz must be positive".into()).into(),
        );
    }
    let mut unit = NttUnit::new(n, c)?;
    let plan = glovebox::engine::ntt::Plan::try_new(n)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(n as u64 * 131 + c as u64);
    let input: Vec<u64> = (0..n * polys)
        .map(|_| rng.gen_range(0..glovebox::engine::commons::modp::P))
        .collect();
    let mut output = input.clone();
    let run = if a.inverse {
        unit.inverse(&mut output)?
    } else {
        unit.forward(&mut output)?
    };
    let mut verified = 0;
    for (got, poly) in output.chunks_exact(n).zip(input.chunks_exact(n)) {
        let mut want = poly.to_vec();
        if a.inverse {
            plan.inv(&mut want);
        } else {
            plan.fwd(&mut want);
        }
        verified += (got == want.as_slice()) as usize;
    }
    let interval = unit.interval();
    let latency = run.latencies[0];
    let clock_hz = a.clock_mhz * 1e6;
    SimNttReport {
        unit: "ntt",
        direction: if a.inverse { "inverse" } else { "forward" },
        n,
        c,
        polynomials: polys,
        verified,
        cycles: run.cycles,
        latency_cycles: latency,
        analytic_latency_cycles: NttUnit::analytic_latency(n, c),
        interval_cycles: interval,
        simulated_cycles_per_s: run.cycles_per_second(),
        wall_s: run.wall_seconds,
        clock_mhz: a.clock_mhz,
        clock_note: CLOCK_NOTE,
        measured_ntt_per_s: polys as f64 * clock_hz / run.cycles as f64,
        projected_ntt_per_s: clock_hz / interval as f64,
        projected_latency_us: latency as f64 / clock_hz * 1e6,
    }
    .emit(a.output);
    check_passed(
        polys - verified,
        polys,
        "polynomials differ from the CPU NTT",
    )
}
