//! `glovebox sim`: the accelerator RTL simulated cycle by cycle (Verilator), checked against
//! the engine, with cycle counts and a throughput projected at a clock.

use super::{
    check_passed, progress_bar, security_level, server_key_with_bar, CliError, CliResult,
    OutputArgs, ParamsArg, Report,
};
use glovebox::prelude::*;
use glovebox::sim::backend::{SimBackend, SimConfig};
use glovebox::sim::br::{
    br_configs, projected_latencies, BlindRotationUnit, BrCycleModel, BrShape,
};
use glovebox::sim::ks::{KeyswitchUnit, KsCycleModel, KsShape};
use glovebox::sim::KeyMemory;
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
    /// Runs a batch of keyswitch + PBS on the simulated keyswitch and blind-rotation units,
    /// checks every output against the CPU backend word for word and its decryption against
    /// f(m), and reports cycles, the measured and steady-state PBS/s at a clock, the binding
    /// term, the key bandwidth used and the units' utilization.
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
    /// Key-memory bandwidth of each unit in GB/s (each key has its own channels, as the HPU's
    /// 16 HBM ports per key; an HBM2e stack gives about 400).
    #[arg(long, default_value_t = 90.0)]
    pub key_gbps: f64,
    /// Key-memory latency in cycles.
    #[arg(long, default_value_t = 200)]
    pub key_latency: u32,
    /// Lanes of the keyswitch unit (built: 16 and 512 for the HPU set's 2^21 modulus, and 1024
    /// with `--features accelerator-target`; 16 and 4 on the native torus).
    #[arg(long, default_value_t = 16)]
    pub ks_lanes: usize,
    /// Only the cycle models, for any C and lane count (nothing simulated or verified): the
    /// projection for configurations too wide to Verilate here.
    #[arg(long)]
    pub model_only: bool,
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
    UltraScale+ with at most 7 LUT levels and one carry chain a stage and fully pipelined DSP \
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
    key_gbps: f64,
    key_words_per_cycle: u32,
    key_latency_cycles: u32,
    verified: usize,
    decrypted_correctly: usize,
    /// The units' cycles over all batches, simulated and modelled (the tests hold them equal).
    keyswitch_cycles: u64,
    blind_rotation_cycles: u64,
    blind_rotation_model_cycles: u64,
    keyswitch_model_cycles: u64,
    /// This run: the device's cycles from the first descriptor to the last completion (the
    /// command interface's timeline, the two units overlapping), fill and drain included.
    cycles: u64,
    /// The same from the units' models and the driver's schedule, without the command
    /// interface's own cycles.
    schedule_model_cycles: u64,
    measured_pbs_per_s: f64,
    /// Batches streamed, the keyswitch of the next batch overlapped with this batch's blind
    /// rotation (two units): the slower unit's steady-state cycles per batch.
    steady_cycles_per_batch: f64,
    steady_pbs_per_s: f64,
    binding: String,
    binding_terms_cycles_per_ggsw: [f64; 4],
    keyswitch_binding: String,
    /// Key bytes both units read in this run, over the run's time at the clock.
    key_gbps_used: f64,
    fwd_ntt_utilization: f64,
    inv_ntt_utilization: f64,
    multiplier_utilization: f64,
    loop_latency_cycles: u64,
    simulated_cycles_per_s: f64,
    wall_s: f64,
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
            "units: blind rotation C = {} coefficients/cycle, keyswitch {} lanes; key memory \
             per unit {} GB/s = {} words/cycle at {} MHz, {} cycles latency",
            self.c,
            self.ks_lanes,
            self.key_gbps,
            self.key_words_per_cycle,
            self.clock_mhz,
            self.key_latency_cycles
        );
        println!(
            "verified: {}/{} outputs equal the CPU backend word for word; {}/{} decrypt to f(m)",
            self.verified,
            self.batch * self.batches,
            self.decrypted_correctly,
            self.batch * self.batches
        );
        println!("{:<34} {:>14} {:>14}", "", "simulated", "model");
        println!(
            "{:<34} {:>14} {:>14}",
            "keyswitch cycles", self.keyswitch_cycles, self.keyswitch_model_cycles
        );
        println!(
            "{:<34} {:>14} {:>14}",
            "blind-rotation cycles", self.blind_rotation_cycles, self.blind_rotation_model_cycles
        );
        println!(
            "{:<34} {:>14} {:>14}",
            "device cycles (units overlapped)", self.cycles, self.schedule_model_cycles
        );
        println!(
            "at {} MHz: this run {:.0} PBS/s ({} cycles, first keyswitch and last blind rotation \
             included); steady state {:.0} PBS/s ({:.0} cycles per batch, the slower unit)",
            self.clock_mhz,
            self.measured_pbs_per_s,
            self.cycles,
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
            "key bandwidth used {:.1} GB/s; utilization: forward NTT {:.0} %, inverse NTT {:.0} %, \
             multipliers {:.0} %",
            self.key_gbps_used,
            100.0 * self.fwd_ntt_utilization,
            100.0 * self.inv_ntt_utilization,
            100.0 * self.multiplier_utilization
        );
        println!(
            "simulation: {:.3e} cycles per wall-clock second ({:.1} s); {} MHz: {}",
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
    key_gbps: f64,
    key_words_per_cycle: u32,
    /// The keyswitch key's words per cycle, packed at its modulus's width.
    keyswitch_key_words_per_cycle: u32,
    /// The models of one batch.
    keyswitch_cycles: u64,
    blind_rotation_cycles: u64,
    /// A run of `batches` batches (keyswitch of the next overlapped with this one's blind
    /// rotation), first keyswitch and last blind rotation included.
    batches: usize,
    run_cycles: u64,
    run_pbs_per_s: f64,
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
            "cycle model only (not simulated, not verified): {}, batch {}, C = {}, keyswitch {} \
             lanes, {} GB/s per key ({} words/cycle; the keyswitch key packed, {}) at {} MHz",
            self.params,
            self.batch,
            self.c,
            self.ks_lanes,
            self.key_gbps,
            self.key_words_per_cycle,
            self.keyswitch_key_words_per_cycle,
            self.clock_mhz
        );
        println!(
            "one batch: keyswitch {} + blind rotation {} cycles; a run of {}: {} cycles = {:.0} \
             PBS/s; steady state {:.0} cycles per batch = {:.0} PBS/s",
            self.keyswitch_cycles,
            self.blind_rotation_cycles,
            self.batches,
            self.run_cycles,
            self.run_pbs_per_s,
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

/// The device's cycles for `batches` batches under the driver's schedule, from the units'
/// cycles per batch: keyswitches back to back, blind rotation i once keyswitch i and blind
/// rotation i − 1 are done; the command interface's own cycles left out.
fn stream_schedule(keyswitch: u64, blind_rotation: u64, batches: usize) -> u64 {
    let (mut ks_end, mut br_end) = (0, 0);
    for _ in 0..batches {
        ks_end += keyswitch;
        br_end = ks_end.max(br_end) + blind_rotation;
    }
    br_end
}

fn key_memory(a: &PbsArgs) -> (KeyMemory, u32) {
    let bytes_per_cycle = a.key_gbps * 1e9 / (a.clock_mhz * 1e6);
    let words = ((bytes_per_cycle / 8.0).floor() as u32).max(1);
    (
        KeyMemory {
            words_per_cycle: words,
            latency: a.key_latency,
        },
        words,
    )
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
    let (memory, words) = key_memory(a);
    // The keyswitch key stored packed at its modulus's width.
    let ks_memory = memory.packed(params.ks_output_modulus_log);
    let lat = projected_latencies(poly, c)?;
    let k1 = params.glwe_dimension.0 + 1;
    let br = BrCycleModel::new(
        &BrShape {
            lwe_dimension: params.lwe_dimension.0,
            polynomial_size: poly,
            glwe_size: k1,
            levels: params.pbs_level.0,
            batch: a.batch,
            extract: false,
        },
        c,
        &memory,
        &lat,
    );
    let ks = KsCycleModel::new(
        &KsShape {
            n_in: params.glwe_dimension.0 * poly,
            n_out: params.lwe_dimension.0,
            base_log: params.ks_base_log.0,
            levels: params.ks_level.0,
            batch: a.batch,
        },
        a.ks_lanes,
        &ks_memory,
        // The unit's latency ports do not depend on its lanes: read them from a built one.
        &KeyswitchUnit::new(16, 64, memory)?.latencies(),
    );
    let clock_hz = a.clock_mhz * 1e6;
    let steady = br
        .steady_cycles_per_batch(params.lwe_dimension.0)
        .max(ks.steady_cycles_per_batch() as f64);
    SimPbsModelReport {
        simulated: false,
        params: params.name,
        batch: a.batch,
        c,
        ks_lanes: a.ks_lanes,
        clock_mhz: a.clock_mhz,
        key_gbps: a.key_gbps,
        key_words_per_cycle: words,
        keyswitch_key_words_per_cycle: ks_memory.words_per_cycle,
        keyswitch_cycles: ks.cycles,
        blind_rotation_cycles: br.cycles,
        batches: a.batches,
        run_cycles: stream_schedule(ks.cycles, br.cycles, a.batches),
        run_pbs_per_s: (a.batch * a.batches) as f64 * clock_hz
            / stream_schedule(ks.cycles, br.cycles, a.batches) as f64,
        steady_cycles_per_batch: steady,
        steady_pbs_per_s: a.batch as f64 * clock_hz / steady,
        binding: br.binding.to_string(),
        binding_terms_cycles_per_ggsw: br.terms,
        keyswitch_binding: ks.binding.to_string(),
        fwd_ntt_latency_cycles: lat.fwd,
        loop_latency_cycles: br.loop_latency,
    }
    .emit(a.output);
    Ok(())
}

fn pbs(a: PbsArgs) -> CliResult<()> {
    let params = a.params.resolve()?;
    let (n, poly) = (params.lwe_dimension.0, params.polynomial_size.0);
    if a.batch == 0 || !(a.clock_mhz > 0.0) || !(a.key_gbps > 0.0) {
        return Err(
            CliError::Usage("--batch, --clock-mhz and --key-gbps must be positive".into()).into(),
        );
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
    let (memory, words) = key_memory(&a);
    let client = ClientKey::new(params)?;
    let server = server_key_with_bar(a.output, params, |p| client.server_key_with_progress(p))?;
    let sim = SimBackend::with_config(SimConfig {
        memory,
        blind_rotation_lanes: Some(config.lanes),
        keyswitch_lanes: a.ks_lanes,
        batch: Some(a.batch),
        ..SimConfig::default()
    });
    let cpu = CpuBackend::new();
    let on_sim = server.upload(&sim)?;
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
    // The models of one batch, from units built like the backend's: the progress bar's length
    // (the units' simulated cycles the run will take) and the report's comparison.
    let ntt_bsk = server.ntt_bootstrap_key()?;
    let br_model =
        BlindRotationUnit::new(poly, config.lanes, memory)?.cycle_model(ntt_bsk, a.batch)?;
    let ks_unit = KeyswitchUnit::for_key(
        server.keyswitch_key(),
        a.ks_lanes,
        memory.packed(params.ks_output_modulus_log),
    )?;
    let ks_model = ks_unit.cycle_model(server.keyswitch_key(), a.batch)?;
    let expected = (br_model.cycles + ks_model.cycles) * a.batches as u64;
    let bar = progress_bar(
        a.output,
        expected,
        &format!(
            "simulating {} batch{} of keyswitch + blind rotation {{bar:30}} {{human_pos}}/{{human_len}} \
             unit cycles {{elapsed}} (eta {{eta}})",
            a.batches,
            if a.batches == 1 { "" } else { "es" }
        ),
    );
    // The units' harnesses count their clock edges; a thread beside the run reads the count.
    let base = glovebox::sim::unit_cycles_simulated();
    let done = std::sync::atomic::AtomicBool::new(false);
    let got = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                bar.set_position(glovebox::sim::unit_cycles_simulated() - base);
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        });
        let got = on_sim.apply_lookup_table_batch(&ct_refs, &table_refs);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        got
    })?;
    bar.finish_and_clear();
    let mut verified = 0;
    let mut decrypted = 0;
    for (j, (g, w)) in got.iter().zip(&want).enumerate() {
        verified += (g.ct.as_slice() == w.ct.as_slice()) as usize;
        decrypted += (client.decrypt(g)? == f(j, messages[j])) as usize;
    }
    let counters = sim.counters();
    let cycles = counters.device_cycles;
    let clock_hz = a.clock_mhz * 1e6;
    let br_steady = br_model.steady_cycles_per_batch(n);
    let steady = br_steady.max(ks_model.steady_cycles_per_batch() as f64);
    let runs = a.batches as u64;
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
        key_gbps: a.key_gbps,
        key_words_per_cycle: words,
        key_latency_cycles: a.key_latency,
        verified,
        decrypted_correctly: decrypted,
        keyswitch_cycles: counters.keyswitch_cycles,
        blind_rotation_cycles: counters.blind_rotation_cycles,
        blind_rotation_model_cycles: br_model.cycles * runs,
        keyswitch_model_cycles: ks_model.cycles * runs,
        cycles,
        schedule_model_cycles: stream_schedule(ks_model.cycles, br_model.cycles, a.batches),
        measured_pbs_per_s: total as f64 * clock_hz / cycles.max(1) as f64,
        steady_cycles_per_batch: steady,
        steady_pbs_per_s: a.batch as f64 * clock_hz / steady,
        binding: br_model.binding.to_string(),
        binding_terms_cycles_per_ggsw: br_model.terms,
        keyswitch_binding: ks_model.binding.to_string(),
        // 8 bytes a bootstrapping-key word, the keyswitch key packed at its modulus's width.
        key_gbps_used: (br_model.key_words * 8
            + ks_model.key_words * u64::from(params.ks_output_modulus_log) / 8)
            as f64
            * runs as f64
            / (cycles.max(1) as f64 / clock_hz)
            / 1e9,
        fwd_ntt_utilization: (br_model.fwd_busy * runs) as f64 / cycles.max(1) as f64,
        inv_ntt_utilization: (br_model.inv_busy * runs) as f64 / cycles.max(1) as f64,
        multiplier_utilization: (br_model.fwd_busy * runs) as f64 / cycles.max(1) as f64,
        loop_latency_cycles: br_model.loop_latency,
        simulated_cycles_per_s: (counters.keyswitch_cycles + counters.blind_rotation_cycles) as f64
            / counters.wall_seconds.max(1e-9),
        wall_s: counters.wall_seconds,
    }
    .emit(a.output);
    check_passed(
        (total - verified) + (total - decrypted),
        2 * total,
        "outputs differ from the CPU backend or decrypt wrongly",
    )
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
