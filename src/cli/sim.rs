//! `glovebox sim`: the accelerator RTL simulated cycle by cycle (Verilator), checked against
//! the engine, with cycle counts and a throughput projected at a clock.

use super::{
    check_passed, progress_bar, security_level, server_key_with_bar, CliError, CliResult,
    OutputArgs, ParamsArg, Report,
};
use glovebox::prelude::*;
use glovebox::sim::accelerator::{
    device_model, Accelerator, DeviceBatch, DeviceConfig, DeviceShape,
};
use glovebox::sim::br::{
    br_configs, projected_latencies, BlindRotationUnit, BrCycleModel, BrLatencies, BrShape,
};
use glovebox::sim::ks::{KeyswitchUnit, KsCycleModel, KsLatencies, KsShape};
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
    /// Runs batches of keyswitch + PBS through the simulated device (both units on one
    /// timeline and one memory channel, PCIe transfers, modulus switch and sample extraction
    /// in RTL), checks every output against the CPU backend word for word and its decryption
    /// against f(m), the timeline against the device model, and reports the batches' events,
    /// the measured and steady-state PBS/s at a clock, the latency of a batch and the
    /// channel's use.
    Pbs(PbsArgs),
}

#[derive(clap::Args, Debug)]
pub struct PbsArgs {
    /// Parameter set: --params hpu (the HPU's set), default, or test (N = 512: a small unit,
    /// quick).
    #[command(flatten)]
    pub params: ParamsArg,
    /// Ciphertexts per batch (the accumulators the blind-rotation unit holds: at most 16 at
    /// N = 2048, 24 for the target configuration, 8 at N = 512).
    #[arg(long, default_value_t = 12)]
    pub batch: usize,
    /// Batches streamed through the device in one call: the keyswitch of batch i + 1 runs on
    /// its unit while batch i is blind-rotated on the other. The measured rate is over the
    /// whole stream, the first keyswitch and the last blind rotation included.
    #[arg(long, default_value_t = 1)]
    pub batches: usize,
    /// Coefficients per cycle of the blind-rotation unit (built: 32 at N = 2048, 4 at N = 512,
    /// and 128 at N = 2048 in a build with `--features accelerator-target`; omitted: the first
    /// built).
    #[arg(long)]
    pub c: Option<usize>,
    /// Clock of the projection, in MHz.
    #[arg(long, default_value_t = 350.0)]
    pub clock_mhz: f64,
    /// The device memory's bandwidth in GB/s: one channel for both keys, the ciphertexts and
    /// the lookup tables (default: the V80's HBM, "approaching 460 GB/s" in AMD's
    /// documentation).
    #[arg(long, default_value_t = 460.0)]
    pub memory_gbps: f64,
    /// The memory's latency in cycles.
    #[arg(long, default_value_t = 200)]
    pub memory_latency: u32,
    /// Memory transfers in flight at most (0: no limit).
    #[arg(long, default_value_t = 64)]
    pub max_outstanding: u32,
    /// The PCIe link's bandwidth each way in GB/s (default: Gen5 x8).
    #[arg(long, default_value_t = 32.0)]
    pub pcie_gbps: f64,
    /// The PCIe link's latency in ns.
    #[arg(long, default_value_t = 1000.0)]
    pub pcie_latency_ns: f64,
    /// Lanes of the keyswitch unit (built: 16 and 512 for the HPU set's 2^21 modulus, and 1024
    /// with `--features accelerator-target`; 16 and 4 on the native torus).
    #[arg(long, default_value_t = 16)]
    pub ks_lanes: usize,
    /// Only the cycle models, for any C and lane count (nothing simulated or verified): the
    /// projection for configurations too wide to Verilate here.
    #[arg(long)]
    pub model_only: bool,
    /// Also draw the simulated run's timeline into this SVG file: each unit's busy cycles
    /// (batch by batch) and the cycles a batch waited for it.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(clap::Args, Debug)]
pub struct NttArgs {
    /// Polynomial size N (built: 256, 512, 2048, 4096).
    #[arg(long, default_value_t = 2048)]
    pub n: usize,
    /// Coefficients per cycle C (built: 2 and 8 at N = 256, 4 at 512, 32 at 2048, 16 at 4096).
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
const CLOCK_NOTE: &str = "an assumed clock: `hdl/synth.sh --fpga` maps every unit to \
    UltraScale+ with at most 7.5 LUT levels and one carry chain a stage and fully pipelined DSP \
    slices (645-891 MHz in AMD's DS923), which puts 350 MHz at the edge of what it supports; \
    the RTL has not been placed and routed";

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
        Unit::Pbs(a) => pbs(a),
    }
}

#[derive(Serialize)]
struct SimPbsReport {
    params: &'static str,
    security: String,
    n: usize,
    polynomial_size: usize,
    batch: usize,
    batches: usize,
    c: usize,
    ks_lanes: usize,
    clock_mhz: f64,
    clock_note: &'static str,
    #[serde(flatten)]
    device: DeviceArgsReport,
    verified: usize,
    decrypted_correctly: usize,
    /// The device's cycles from the first input's PCIe transfer to the last output on the
    /// host, simulated (both units on one timeline and one memory channel), and the device
    /// model's; `timeline_equals_model`: every batch's every event on the same cycle.
    cycles: u64,
    model_cycles: u64,
    timeline_equals_model: bool,
    timeline: Vec<BatchEvents>,
    measured_pbs_per_s: f64,
    /// Batch 0: from its PCIe transfer's start (cycle 0) to its outputs on the host.
    batch_latency_us: f64,
    /// A long stream (the device model of 16 batches): cycles between consecutive batches'
    /// outputs over the last 8.
    steady_cycles_per_batch: f64,
    steady_pbs_per_s: f64,
    binding: String,
    binding_terms_cycles_per_ggsw: [f64; 4],
    keyswitch_binding: String,
    /// The channel: share of the run's cycles it carried data, and for what (cycles).
    channel_utilization: f64,
    channel_br_key_cycles: u64,
    channel_ks_key_cycles: u64,
    channel_transfer_cycles: u64,
    most_outstanding: u64,
    ks_key_stall_cycles: u64,
    br_key_stall_cycles: u64,
    br_loop_stall_cycles: u64,
    loop_latency_cycles: u64,
    simulated_cycles_per_s: f64,
    wall_s: f64,
}

/// The device's memory and link as the report states them.
#[derive(Serialize, Clone, Copy)]
struct DeviceArgsReport {
    memory_gbps: f64,
    memory_words_per_cycle: u32,
    keyswitch_key_words_per_cycle: u32,
    memory_latency_cycles: u32,
    max_outstanding: u32,
    pcie_gbps: f64,
    pcie_latency_cycles: u32,
}

impl DeviceArgsReport {
    fn line(&self, clock_mhz: f64) -> String {
        format!(
            "one memory channel for keys, ciphertexts and tables: {} GB/s = {} words/cycle ({} \
             keyswitch-key words packed) at {clock_mhz} MHz, {} cycles latency, {} transfers in \
             flight at most; PCIe {} GB/s each way, {} cycles latency",
            self.memory_gbps,
            self.memory_words_per_cycle,
            self.keyswitch_key_words_per_cycle,
            self.memory_latency_cycles,
            self.max_outstanding,
            self.pcie_gbps,
            self.pcie_latency_cycles
        )
    }
}

/// One batch's events (cycles).
#[derive(Serialize, Clone, Copy)]
struct BatchEvents {
    pcie_in_done: u64,
    keyswitch_start: u64,
    keyswitch_end: u64,
    blind_rotation_start: u64,
    blind_rotation_end: u64,
    pcie_out_done: u64,
}

impl From<&DeviceBatch> for BatchEvents {
    fn from(b: &DeviceBatch) -> Self {
        Self {
            pcie_in_done: b.pcie_in_done,
            keyswitch_start: b.ks_start,
            keyswitch_end: b.ks_end,
            blind_rotation_start: b.br_start,
            blind_rotation_end: b.br_end,
            pcie_out_done: b.pcie_out_done,
        }
    }
}

fn print_timeline(timeline: &[BatchEvents]) {
    println!(
        "{:>5} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "batch", "PCIe in", "KS start", "KS end", "BR start", "BR end", "PCIe out"
    );
    for (j, b) in timeline.iter().enumerate() {
        println!(
            "{j:>5} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
            b.pcie_in_done,
            b.keyswitch_start,
            b.keyswitch_end,
            b.blind_rotation_start,
            b.blind_rotation_end,
            b.pcie_out_done
        );
    }
}

impl Report for SimPbsReport {
    fn print_table(&self) {
        println!(
            "keyswitch + PBS on the simulated accelerator: {} ({}), n = {}, N = {}, {} batch{} \
             of {}",
            self.params,
            self.security,
            self.n,
            self.polynomial_size,
            self.batches,
            if self.batches == 1 { "" } else { "es" },
            self.batch
        );
        println!(
            "units: blind rotation C = {} coefficients/cycle, keyswitch {} lanes; {}",
            self.c,
            self.ks_lanes,
            self.device.line(self.clock_mhz)
        );
        println!(
            "verified: {}/{} outputs equal the CPU backend word for word; {}/{} decrypt to f(m)",
            self.verified,
            self.batch * self.batches,
            self.decrypted_correctly,
            self.batch * self.batches
        );
        println!(
            "device cycles: {} simulated, {} modelled; every event equal: {}",
            self.cycles, self.model_cycles, self.timeline_equals_model
        );
        print_timeline(&self.timeline);
        println!(
            "at {} MHz: this run {:.0} PBS/s (first PCIe transfer to last output on the host); \
             one batch's latency {:.0} us; steady state {:.0} PBS/s ({:.0} cycles per batch)",
            self.clock_mhz,
            self.measured_pbs_per_s,
            self.batch_latency_us,
            self.steady_pbs_per_s,
            self.steady_cycles_per_batch
        );
        let t = self.binding_terms_cycles_per_ggsw;
        println!(
            "blind rotation bound by {} (cycles per GGSW: compute {:.0}, loop latency {:.0}, key \
             bandwidth {:.0}, key latency {:.0}); keyswitch bound by {}",
            self.binding, t[0], t[1], t[2], t[3], self.keyswitch_binding
        );
        println!(
            "channel busy {:.0} % of the run (GGSWs {} cycles, keyswitch key {}, ciphertexts and \
             tables {}), at most {} transfers in flight; stalls: keyswitch key {}, blind-rotation \
             key {}, loop {}",
            100.0 * self.channel_utilization,
            self.channel_br_key_cycles,
            self.channel_ks_key_cycles,
            self.channel_transfer_cycles,
            self.most_outstanding,
            self.ks_key_stall_cycles,
            self.br_key_stall_cycles,
            self.br_loop_stall_cycles
        );
        println!(
            "simulation: {:.3e} unit cycles per wall-clock second ({:.1} s); {} MHz: {}",
            self.simulated_cycles_per_s, self.wall_s, self.clock_mhz, self.clock_note
        );
    }
}

#[derive(Serialize)]
struct SimPbsModelReport {
    simulated: bool,
    params: &'static str,
    batch: usize,
    c: usize,
    ks_lanes: usize,
    clock_mhz: f64,
    #[serde(flatten)]
    device: DeviceArgsReport,
    batches: usize,
    run_cycles: u64,
    run_pbs_per_s: f64,
    timeline: Vec<BatchEvents>,
    batch_latency_us: f64,
    steady_cycles_per_batch: f64,
    steady_pbs_per_s: f64,
    binding: String,
    binding_terms_cycles_per_ggsw: [f64; 4],
    keyswitch_binding: String,
    fwd_ntt_latency_cycles: u32,
    loop_latency_cycles: u64,
}

impl Report for SimPbsModelReport {
    fn print_table(&self) {
        println!(
            "device model only (not simulated, not verified): {}, batch {}, C = {}, keyswitch {} \
             lanes; {}",
            self.params,
            self.batch,
            self.c,
            self.ks_lanes,
            self.device.line(self.clock_mhz)
        );
        print_timeline(&self.timeline);
        println!(
            "a run of {}: {} cycles = {:.0} PBS/s; one batch's latency {:.0} us; steady state \
             {:.0} cycles per batch = {:.0} PBS/s",
            self.batches,
            self.run_cycles,
            self.run_pbs_per_s,
            self.batch_latency_us,
            self.steady_cycles_per_batch,
            self.steady_pbs_per_s
        );
        let t = self.binding_terms_cycles_per_ggsw;
        println!(
            "blind rotation bound by {} (cycles per GGSW: compute {:.0}, loop latency {:.0} = \
             NTT latency {} x 2 + ..., key bandwidth {:.0}, key latency {:.0}); keyswitch bound \
             by {}",
            self.binding,
            t[0],
            t[1],
            self.fwd_ntt_latency_cycles,
            t[2],
            t[3],
            self.keyswitch_binding
        );
    }
}

fn device_config(a: &PbsArgs, params: &Parameters) -> (DeviceConfig, DeviceArgsReport) {
    let config = DeviceConfig::at_clock(
        a.clock_mhz,
        a.memory_gbps,
        a.memory_latency,
        a.max_outstanding,
        a.pcie_gbps,
        a.pcie_latency_ns,
    );
    let ks_bits = params.ks_output_modulus_log;
    (
        config,
        DeviceArgsReport {
            memory_gbps: a.memory_gbps,
            memory_words_per_cycle: config.memory.words_per_cycle,
            keyswitch_key_words_per_cycle: config.memory.packed(ks_bits).words_per_cycle,
            memory_latency_cycles: a.memory_latency,
            max_outstanding: a.max_outstanding,
            pcie_gbps: a.pcie_gbps,
            pcie_latency_cycles: config.pcie_latency,
        },
    )
}

/// Steady-state cycles per batch: the device model of 16 batches, the spacing of the last 8
/// batches' outputs.
fn steady_cycles(shape: &DeviceShape, config: &DeviceConfig) -> f64 {
    let long = device_model(
        &DeviceShape {
            batches: 16,
            ..*shape
        },
        config,
    );
    let out = |j: usize| long.batches[j].pcie_out_done as f64;
    (out(15) - out(7)) / 8.0
}

/// The units' own bindings (each alone on the channel).
fn unit_models(shape: &DeviceShape, config: &DeviceConfig) -> (BrCycleModel, KsCycleModel) {
    (
        BrCycleModel::new(shape.br, shape.br_lanes, &config.memory, shape.br_latencies),
        KsCycleModel::new(
            shape.ks,
            shape.ks_lanes,
            &config.memory.packed(shape.ks_word_bits),
            shape.ks_latencies,
        ),
    )
}

/// `f` of the device's shape for `params`, the command's batch and batches, a blind-rotation
/// unit of `lanes` lanes and the units' latency ports.
fn with_pbs_shape<R>(
    params: &Parameters,
    a: &PbsArgs,
    lanes: usize,
    (ks_latencies, br_latencies): (&KsLatencies, &BrLatencies),
    f: impl FnOnce(&DeviceShape) -> R,
) -> R {
    let ks = KsShape {
        n_in: params.glwe_dimension.0 * params.polynomial_size.0,
        n_out: params.lwe_dimension.0,
        base_log: params.ks_base_log.0,
        levels: params.ks_level.0,
        batch: a.batch,
    };
    let br = BrShape {
        lwe_dimension: params.lwe_dimension.0,
        polynomial_size: params.polynomial_size.0,
        glwe_size: params.glwe_dimension.0 + 1,
        levels: params.pbs_level.0,
        batch: a.batch,
        extract: true,
    };
    f(&DeviceShape {
        ks: &ks,
        ks_lanes: a.ks_lanes,
        ks_latencies,
        ks_word_bits: params.ks_output_modulus_log,
        br: &br,
        br_lanes: lanes,
        br_latencies,
        batches: a.batches,
    })
}

fn pbs_model(a: &PbsArgs, params: &'static Parameters) -> CliResult<()> {
    let poly = params.polynomial_size.0;
    let c = a.c.unwrap_or(32);
    // The blind-rotation unit reads an accumulator row again W = N / C cycles after it wrote it,
    // so W must cover the multiply-accumulate (hdl/br_unit.sv's contract).
    let min_rows = glovebox::sim::latencies().mac as usize + 2;
    if c == 0 || !c.is_power_of_two() || c > poly / min_rows || a.ks_lanes == 0 {
        return Err(CliError::Usage(format!(
            "--c {c}: a power of two up to N / {min_rows} (W = N / C >= MAC_LATENCY + 2 rows a \
             polynomial), and --ks-lanes positive",
        ))
        .into());
    }
    let (config, device) = device_config(a, params);
    let lat = projected_latencies(poly, c)?;
    // The unit's latency ports do not depend on its lanes: read them from a built one.
    let ks_lat = KeyswitchUnit::new(16, 64, config.memory)?.latencies();
    let (run, steady, (br_model, ks_model)) =
        with_pbs_shape(params, a, c, (&ks_lat, &lat), |shape| {
            (
                device_model(shape, &config),
                steady_cycles(shape, &config),
                unit_models(shape, &config),
            )
        });
    let clock_hz = a.clock_mhz * 1e6;
    SimPbsModelReport {
        simulated: false,
        params: params.name,
        batch: a.batch,
        c,
        ks_lanes: a.ks_lanes,
        clock_mhz: a.clock_mhz,
        device,
        batches: a.batches,
        run_cycles: run.cycles,
        run_pbs_per_s: (a.batch * a.batches) as f64 * clock_hz / run.cycles.max(1) as f64,
        timeline: run.batches.iter().map(Into::into).collect(),
        batch_latency_us: run.batches[0].pcie_out_done as f64 / a.clock_mhz,
        steady_cycles_per_batch: steady,
        steady_pbs_per_s: a.batch as f64 * clock_hz / steady,
        binding: br_model.binding.to_string(),
        binding_terms_cycles_per_ggsw: br_model.terms,
        keyswitch_binding: ks_model.binding.to_string(),
        fwd_ntt_latency_cycles: lat.fwd,
        loop_latency_cycles: br_model.loop_latency,
    }
    .emit(a.output);
    Ok(())
}

fn pbs(a: PbsArgs) -> CliResult<()> {
    let params = a.params.resolve()?;
    let (n, poly) = (params.lwe_dimension.0, params.polynomial_size.0);
    if a.batch == 0
        || a.batches == 0
        || !(a.clock_mhz > 0.0)
        || !(a.memory_gbps > 0.0)
        || !(a.pcie_gbps > 0.0)
        || !(a.pcie_latency_ns >= 0.0)
    {
        return Err(CliError::Usage(
            "--batch, --batches, --clock-mhz, --memory-gbps and --pcie-gbps must be positive"
                .into(),
        )
        .into());
    }
    if a.model_only && a.plot.is_some() {
        return Err(CliError::Usage(
            "--plot draws a simulated run's timeline: --model-only simulates nothing".into(),
        )
        .into());
    }
    if a.model_only {
        return pbs_model(&a, params);
    }
    let built = br_configs();
    let Some(config) = built
        .iter()
        .find(|c| c.polynomial_size == poly && a.c.is_none_or(|x| x == c.lanes))
    else {
        let list: Vec<String> = built
            .iter()
            .map(|c| format!("N = {} with C = {}", c.polynomial_size, c.lanes))
            .collect();
        return Err(CliError::Usage(format!(
            "no simulated blind-rotation unit for N = {poly}{}; built: {}",
            a.c.map(|c| format!(" with C = {c}")).unwrap_or_default(),
            list.join(", ")
        ))
        .into());
    };
    if a.batch > config.max_batch {
        return Err(CliError::Usage(format!(
            "--batch {}: the unit for N = {poly} holds at most {} accumulators",
            a.batch, config.max_batch
        ))
        .into());
    }
    let (device_config, device) = device_config(&a, params);
    let mut accelerator = Accelerator::new(
        a.ks_lanes,
        params.ks_output_modulus_log,
        poly,
        config.lanes,
        device_config,
    )?
    .with_batch(a.batch)?;
    let client = ClientKey::new(params)?;
    let server = server_key_with_bar(a.output, params, |p| client.server_key_with_progress(p))?;
    let cpu = CpuBackend::new();
    let on_cpu = server.upload(&cpu)?;
    let modulus = params.message_modulus;
    let tables = [
        server.generate_lookup_table(|x| x),
        server.generate_lookup_table(|x| (x * x + 1) % modulus),
        server.generate_lookup_table(|x| (x >= modulus / 2) as u64),
    ];
    let f = |j: usize, m: u64| [m, (m * m + 1) % modulus, (m >= modulus / 2) as u64][j % 3];
    let total = a.batch * a.batches;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.batch as u64);
    let messages: Vec<u64> = (0..total).map(|_| rng.gen_range(0..modulus)).collect();
    let cts: Vec<Ciphertext> = messages
        .iter()
        .map(|&m| client.encrypt(m))
        .collect::<Result<_>>()?;
    let ct_refs: Vec<&Ciphertext> = cts.iter().collect();
    let table_refs: Vec<&LookupTable> = (0..total).map(|j| &tables[j % 3]).collect();
    let want = on_cpu.apply_lookup_table_batch(&ct_refs, &table_refs)?;
    // The device takes each table's polynomial (its accumulator is the trivial GLWE of it).
    let mut luts = Vec::with_capacity(total * poly);
    for t in &table_refs {
        let acc = t.accumulator.as_slice();
        let (mask, body) = acc.split_at(acc.len() - poly);
        if mask.iter().any(|&w| w != 0) {
            return Err(CliError::Usage("a lookup table that is not a trivial GLWE".into()).into());
        }
        luts.extend_from_slice(body);
    }
    let inputs: Vec<u64> = cts
        .iter()
        .flat_map(|c| c.ct.as_slice().iter().copied())
        .collect();
    let ksk = server.keyswitch_key();
    let bsk = server.ntt_bootstrap_key()?;
    let device_key = BlindRotationUnit::device_key(bsk)?;
    let model = accelerator.model(ksk, bsk, a.batches)?;
    let expected: u64 = model
        .batches
        .iter()
        .map(|b| (b.ks_end - b.ks_start) + (b.br_end - b.br_start))
        .sum();
    let bar = progress_bar(
        a.output,
        expected,
        &format!(
            "simulating {} batch{} of keyswitch + PBS on one device {{bar:30}} \
             {{human_pos}}/{{human_len}} unit cycles {{elapsed}} (eta {{eta}})",
            a.batches,
            if a.batches == 1 { "" } else { "es" }
        ),
    );
    // The units' harnesses count their clock edges; a thread beside the run reads the count.
    let base = glovebox::sim::unit_cycles_simulated();
    let done = std::sync::atomic::AtomicBool::new(false);
    let out_size = (params.glwe_dimension.0) * poly + 1;
    let mut outputs = vec![0u64; total * out_size];
    let run = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                bar.set_position(glovebox::sim::unit_cycles_simulated() - base);
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        });
        let run = accelerator.bootstrap(
            ksk,
            bsk,
            &device_key,
            &inputs,
            &luts,
            params.modulus_switch,
            &mut outputs,
        );
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        run
    })?;
    bar.finish_and_clear();
    let mut verified = 0;
    let mut decrypted = 0;
    for (j, (g, w)) in outputs.chunks_exact(out_size).zip(&want).enumerate() {
        verified += (g == w.ct.as_slice()) as usize;
        let got = Ciphertext {
            ct: LweCiphertext::from_container(g.to_vec())?,
            ..w.clone()
        };
        decrypted += (client.decrypt(&got)? == f(j, messages[j])) as usize;
    }
    // The latency ports are those the device read when it was built (no second pair of
    // models).
    let (steady, (br_model, ks_model)) =
        with_pbs_shape(params, &a, config.lanes, accelerator.latencies(), |shape| {
            (
                steady_cycles(shape, &device_config),
                unit_models(shape, &device_config),
            )
        });
    let m = &run.measured;
    let clock_hz = a.clock_mhz * 1e6;
    let unit_cycles = expected;
    if let Some(path) = &a.plot {
        plot_timeline(
            path,
            params.name,
            &m.batches,
            a.batch,
            config.lanes,
            a.ks_lanes,
        )?;
    }
    SimPbsReport {
        params: params.name,
        security: security_level(params),
        n,
        polynomial_size: poly,
        batch: a.batch,
        batches: a.batches,
        c: config.lanes,
        ks_lanes: a.ks_lanes,
        clock_mhz: a.clock_mhz,
        clock_note: CLOCK_NOTE,
        device,
        verified,
        decrypted_correctly: decrypted,
        cycles: m.cycles,
        model_cycles: run.model.cycles,
        timeline_equals_model: run.measured == run.model,
        timeline: m.batches.iter().map(Into::into).collect(),
        measured_pbs_per_s: total as f64 * clock_hz / m.cycles.max(1) as f64,
        batch_latency_us: m.batches[0].pcie_out_done as f64 / a.clock_mhz,
        steady_cycles_per_batch: steady,
        steady_pbs_per_s: a.batch as f64 * clock_hz / steady,
        binding: br_model.binding.to_string(),
        binding_terms_cycles_per_ggsw: br_model.terms,
        keyswitch_binding: ks_model.binding.to_string(),
        channel_utilization: m.channel_busy as f64 / m.cycles.max(1) as f64,
        channel_br_key_cycles: m.br_key_cycles,
        channel_ks_key_cycles: m.ks_key_cycles,
        channel_transfer_cycles: m.transfer_cycles,
        most_outstanding: m.most_outstanding,
        ks_key_stall_cycles: run.ks_key_stall_cycles,
        br_key_stall_cycles: run.br_key_stall_cycles,
        br_loop_stall_cycles: run.br_loop_stall_cycles,
        loop_latency_cycles: br_model.loop_latency,
        simulated_cycles_per_s: unit_cycles as f64 / run.wall_seconds.max(1e-9),
        wall_s: run.wall_seconds,
    }
    .emit(a.output);
    let total_checks = 2 * total;
    check_passed(
        (total - verified) + (total - decrypted) + usize::from(run.measured != run.model),
        total_checks + 1,
        "outputs differ from the CPU backend, decrypt wrongly, or the timeline differs from the \
         device model",
    )
}

/// The run's timeline as a Gantt chart: the input link, the keyswitch unit, the blind-rotation
/// unit and the output link: each batch's busy span in each unit and the cycles it waited
/// before each unit. A link's span runs from the previous transfer's end (in) or the
/// batch's rotation's end (out) to its transfer's end: the transfer and its queueing.
fn plot_timeline(
    path: &std::path::Path,
    params: &str,
    batches: &[DeviceBatch],
    batch: usize,
    c: usize,
    ks_lanes: usize,
) -> CliResult<()> {
    use super::plot::{GanttRow, Span};
    let span = |start: u64, end: u64, busy: bool, j: usize| Span {
        start,
        end: end.max(start),
        busy,
        label: j.to_string(),
    };
    let mut rows = vec![
        GanttRow {
            name: "PCIe in (ciphertexts)".into(),
            spans: Vec::new(),
        },
        GanttRow {
            name: format!("keyswitch unit ({ks_lanes} lanes)"),
            spans: Vec::new(),
        },
        GanttRow {
            name: format!("blind-rotation unit (C = {c})"),
            spans: Vec::new(),
        },
        GanttRow {
            name: "PCIe out (results)".into(),
            spans: Vec::new(),
        },
    ];
    let mut link_free = 0;
    for (j, b) in batches.iter().enumerate() {
        rows[0].spans.push(span(link_free, b.pcie_in_done, true, j));
        link_free = b.pcie_in_done;
        rows[1]
            .spans
            .push(span(b.pcie_in_done, b.ks_start, false, j));
        rows[1].spans.push(span(b.ks_start, b.ks_end, true, j));
        rows[2].spans.push(span(b.ks_end, b.br_start, false, j));
        rows[2].spans.push(span(b.br_start, b.br_end, true, j));
        rows[3].spans.push(span(b.br_end, b.pcie_out_done, true, j));
    }
    super::plot::gantt(
        path,
        &format!(
            "simulated accelerator, {params}: {} batches of {batch}, busy (numbered) and \
             waiting (the grey band under a unit) cycles",
            batches.len()
        ),
        "device cycles",
        &rows,
    )?;
    Ok(())
}

fn ntt(a: NttArgs) -> CliResult<()> {
    let (n, c, polys) = (a.n, a.c, a.polys);
    if polys == 0 || !(a.clock_mhz > 0.0) {
        return Err(CliError::Usage("--polys and --clock-mhz must be positive".into()).into());
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
