//! The `glovebox` command.

use clap::{Parser, Subcommand};
use glovebox::driver::DriverConfig;
use glovebox::prelude::*;
use glovebox::vitals::*;
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "glovebox",
    version,
    about = "Hardware-accelerated TFHE for encrypted medical data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job: a ward of patients whose wearables send encrypted heart rate and SpO2
    /// once a second; the server computes encrypted alerts without any secret key; the clinic
    /// decrypts them, and every alert is checked against the rules run on the plaintext.
    Vitals {
        /// Patients in the ward.
        #[arg(long, default_value_t = 8)]
        patients: usize,
        /// Seconds of readings per patient (one reading per second).
        #[arg(long, default_value_t = 30)]
        seconds: usize,
        /// Seed of the simulated vitals streams (not of the keys: those come from the OS).
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Heart rate below this (bpm) raises an alert.
        #[arg(long, default_value_t = 50)]
        hr_low: u8,
        /// Heart rate above this (bpm) raises an alert.
        #[arg(long, default_value_t = 120)]
        hr_high: u8,
        /// SpO2 below this (%) raises an alert.
        #[arg(long, default_value_t = 92)]
        spo2_low: u8,
        /// Consecutive alert readings that make an alert sustained (1..=15).
        #[arg(long, default_value_t = 3)]
        sustained: usize,
        /// Parameter set name (see `glovebox params`).
        #[arg(long, default_value = "PARAM_MESSAGE_2_CARRY_2_KS_PBS")]
        params: String,
        /// Backend that runs the bootstraps: `cpu`, or `gpu` (wgpu: Vulkan, Metal, DX12).
        #[arg(long, default_value = "cpu")]
        backend: String,
        /// Time steps evaluated concurrently.
        #[arg(long, default_value_t = 4)]
        steps_in_flight: usize,
        /// Machine-readable output (ends with one JSON object).
        #[arg(long)]
        json: bool,
    },
    /// Bootstrapping latency and batched throughput (keyswitch + PBS) per batch size, on the
    /// backend alone and through the host driver.
    Bench {
        /// Backend to measure: `cpu` or `gpu`.
        #[arg(long, default_value = "cpu")]
        backend: String,
        /// Parameter set name (see `glovebox params`).
        #[arg(long, default_value = "PARAM_MESSAGE_2_CARRY_2_KS_PBS")]
        params: String,
        /// Batch sizes (comma-separated).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "1,2,4,8,16,32,64,128,256"
        )]
        batches: Vec<usize>,
        /// Minimum seconds measured per batch size and mode (at least two batches are run).
        #[arg(long, default_value_t = 2.0)]
        min_seconds: f64,
        /// Measure the forward NTT instead (kernel throughput, no transfers): `--ntt 2048`.
        #[arg(long)]
        ntt: Option<usize>,
        /// Polynomials per NTT batch (with `--ntt`).
        #[arg(long, default_value_t = 1024)]
        ntt_batch: usize,
        /// Machine-readable output (one JSON object).
        #[arg(long)]
        json: bool,
    },
    /// Print the parameter sets: shapes, noise, key and ciphertext sizes, security source.
    Params {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// End to end on one parameter set: key generation, encryption of a batch of readings,
    /// keyswitch + PBS through threshold lookup tables on the CPU backend, decryption, and a
    /// check of every result against the plaintext computation.
    Demo {
        /// Parameter set name (see `glovebox params`).
        #[arg(long, default_value = "PARAM_MESSAGE_2_CARRY_2_KS_PBS")]
        params: String,
        /// Number of encrypted values to bootstrap (one batch).
        #[arg(long, default_value_t = 64)]
        count: usize,
        /// Machine-readable output (one JSON object).
        #[arg(long)]
        json: bool,
    },
    /// Cycle-accurate simulation of the accelerator RTL (hdl/, Verilator).
    Sim {
        #[command(subcommand)]
        unit: SimUnit,
    },
}

#[derive(Subcommand)]
enum SimUnit {
    /// Streams random polynomials through the NTT unit, checks every output word against the
    /// CPU NTT, and reports cycles, simulation speed and projected throughput at a clock.
    Ntt {
        /// Polynomial size N (built: 256, 1024, 2048).
        #[arg(long, default_value_t = 2048)]
        n: usize,
        /// Coefficients per cycle C (built: 2, 8, 32).
        #[arg(long, default_value_t = 32)]
        c: usize,
        /// Polynomials streamed back to back.
        #[arg(long, default_value_t = 16)]
        polys: usize,
        /// Inverse NTT instead of forward.
        #[arg(long)]
        inverse: bool,
        /// Clock of the projection, in MHz.
        #[arg(long, default_value_t = 350.0)]
        clock_mhz: f64,
        /// Machine-readable output (one JSON object).
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Vitals {
            patients,
            seconds,
            seed,
            hr_low,
            hr_high,
            spo2_low,
            sustained,
            params,
            backend,
            steps_in_flight,
            json,
        } => vitals(
            VitalsArgs {
                patients,
                seconds,
                seed,
                rules: AlertRules {
                    heart_rate_low: hr_low,
                    heart_rate_high: hr_high,
                    spo2_low,
                    sustained_readings: sustained,
                },
                params,
                backend,
                steps_in_flight,
            },
            json,
        ),
        Command::Params { json } => params(json),
        Command::Bench {
            backend,
            min_seconds,
            ntt: Some(n),
            ntt_batch,
            json,
            ..
        } => bench_ntt(&backend, n, ntt_batch, min_seconds, json),
        Command::Bench {
            backend,
            params,
            batches,
            min_seconds,
            ntt: None,
            json,
            ..
        } => bench(&backend, &params, &batches, min_seconds, json),
        Command::Demo {
            params,
            count,
            json,
        } => demo(&params, count, json),
        Command::Sim {
            unit:
                SimUnit::Ntt {
                    n,
                    c,
                    polys,
                    inverse,
                    clock_mhz,
                    json,
                },
        } => sim_ntt(n, c, polys, inverse, clock_mhz, json),
    };
    if let Err(e) = result {
        eprintln!("glovebox: {e}");
        std::process::exit(1);
    }
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn params(json: bool) -> Result<()> {
    if json {
        let list: Vec<serde_json::Value> = ALL
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "lwe_dimension": p.lwe_dimension.0,
                    "glwe_dimension": p.glwe_dimension.0,
                    "polynomial_size": p.polynomial_size.0,
                    "lwe_noise": p.lwe_noise.to_string(),
                    "glwe_noise": p.glwe_noise.to_string(),
                    "pbs_base_log": p.pbs_base_log.0,
                    "pbs_level": p.pbs_level.0,
                    "ks_base_log": p.ks_base_log.0,
                    "ks_level": p.ks_level.0,
                    "ks_output_modulus_log": p.ks_output_modulus_log,
                    "message_modulus": p.message_modulus,
                    "carry_modulus": p.carry_modulus,
                    "log2_p_fail": p.log2_p_fail,
                    "ciphertext_bytes": p.ciphertext_bytes(),
                    "bootstrap_key_bytes": p.bootstrap_key_bytes(),
                    "keyswitch_key_bytes": p.keyswitch_key_bytes(),
                    "security": p.security_statement(),
                    "source": p.source,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&list).expect("plain JSON values")
        );
        return Ok(());
    }
    println!(
        "{:<58} {:>5} {:>2} {:>6} {:>9} {:>6} {:>4} {:>9} {:>10} {:>10} {:>10}",
        "name", "n", "k", "N", "pbs b/l", "ks b/l", "ks q", "p_fail", "ct", "bsk", "ksk"
    );
    for p in ALL {
        println!(
            "{:<58} {:>5} {:>2} {:>6} {:>9} {:>6} {:>4} {:>9} {:>10} {:>10} {:>10}",
            p.name,
            p.lwe_dimension.0,
            p.glwe_dimension.0,
            p.polynomial_size.0,
            format!("{}/{}", p.pbs_base_log.0, p.pbs_level.0),
            format!("{}/{}", p.ks_base_log.0, p.ks_level.0),
            format!("2^{}", p.ks_output_modulus_log),
            format!("2^{:.1}", p.log2_p_fail),
            format!("{:.1} KiB", p.ciphertext_bytes() as f64 / 1024.0),
            mib(p.bootstrap_key_bytes()),
            mib(p.keyswitch_key_bytes()),
        );
    }
    println!();
    for p in ALL {
        println!(
            "{}:\n  noise: LWE {}, GLWE {}; message {} x carry {}",
            p.name, p.lwe_noise, p.glwe_noise, p.message_modulus, p.carry_modulus
        );
        println!(
            "  security: {}\n  source: {}",
            p.security_statement(),
            p.source
        );
    }
    Ok(())
}

fn demo(name: &str, count: usize, json: bool) -> Result<()> {
    let params = Parameters::by_name(name)?;
    let t0 = Instant::now();
    let client = ClientKey::new(params)?;
    let bar = keygen_bar(json, params.lwe_dimension.0);
    let server = client.server_key_with_progress(&|done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let keygen_s = t0.elapsed().as_secs_f64();

    // Readings bucketed into 2 bits; alert when the bucket is at or above 3 (e.g. tachycardia),
    // and a second table that maps the bucket to its distance from normal.
    let readings: Vec<u64> = (0..count as u64).map(|i| (i * 7 + i / 3) % 4).collect();
    let alert = server.generate_lookup_table(|x| (x >= 3) as u64);
    let distance = server.generate_lookup_table(|x| x.abs_diff(1));
    let cts: Vec<Ciphertext> = readings
        .iter()
        .map(|&m| client.encrypt(m))
        .collect::<Result<_>>()?;

    let backend = CpuBackend::new();
    let resident = server.upload(&backend)?;
    let refs: Vec<&Ciphertext> = cts.iter().collect();
    let luts: Vec<&LookupTable> = (0..count)
        .map(|i| if i % 2 == 0 { &alert } else { &distance })
        .collect();
    let t1 = Instant::now();
    let outs = resident.apply_lookup_table_batch(&refs, &luts)?;
    let pbs_s = t1.elapsed().as_secs_f64();

    let mut verified = 0;
    for (i, (out, &m)) in outs.iter().zip(&readings).enumerate() {
        let want = if i % 2 == 0 {
            (m >= 3) as u64
        } else {
            m.abs_diff(1)
        };
        if client.decrypt(out)? == want {
            verified += 1;
        }
    }
    let pbs_per_s = count as f64 / pbs_s;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "params": params.name,
                "backend": backend.name(),
                "count": count,
                "verified": verified,
                "keygen_s": keygen_s,
                "batch_s": pbs_s,
                "pbs_per_s": pbs_per_s,
                "threads": rayon_threads(),
            })
        );
    } else {
        println!(
            "parameters: {} ({})",
            params.name,
            params.security_statement()
        );
        println!("key generation: {keygen_s:.2} s");
        println!(
            "keyswitch + PBS of {count} ciphertexts on `{}` ({} threads): {:.3} s, {pbs_per_s:.1} PBS/s",
            backend.name(),
            rayon_threads(),
            pbs_s
        );
        println!("verified: {verified}/{count} results match the plaintext computation");
    }
    if verified != count {
        return Err(Error::Backend {
            backend: backend.name(),
            reason: format!("{} of {count} results decrypted wrongly", count - verified),
        });
    }
    Ok(())
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn backend_by_name(name: &str) -> Result<Arc<dyn Backend>> {
    match name {
        "cpu" => Ok(Arc::new(CpuBackend::new())),
        "gpu" => Ok(Arc::new(glovebox::kernels::GpuBackend::new()?)),
        other => Err(Error::InvalidParameters(format!(
            "unknown backend `{other}` (available: cpu, gpu)"
        ))),
    }
}

fn keygen_bar(hidden: bool, total: usize) -> ProgressBar {
    let bar = if hidden {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("key generation {bar:40} {pos}/{len} GGSW [{elapsed}]")
            .expect("valid template"),
    );
    bar
}

struct VitalsArgs {
    patients: usize,
    seconds: usize,
    seed: u64,
    rules: AlertRules,
    params: String,
    backend: String,
    steps_in_flight: usize,
}

fn vitals(args: VitalsArgs, json: bool) -> Result<()> {
    if args.patients == 0 || args.seconds == 0 {
        return Err(Error::InvalidParameters(
            "need at least one patient and one second of readings".into(),
        ));
    }
    args.rules.validate()?;
    let params = Parameters::by_name(&args.params)?;
    let backend = backend_by_name(&args.backend)?;

    // Clinic side: keys.
    let t0 = Instant::now();
    let clinic = Clinic::new(params)?;
    let bar = keygen_bar(json, params.lwe_dimension.0);
    let server_key = clinic.server_key_with_progress(&|done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let keygen_s = t0.elapsed().as_secs_f64();

    // Devices: plausible streams, encrypted on the device.
    let ward = simulate_ward(args.patients, args.seconds, args.seed);
    let t1 = Instant::now();
    let encrypted: Vec<Vec<EncryptedReading>> = ward
        .iter()
        .map(|stream| {
            let device = clinic.provision_device();
            stream.iter().map(|&r| device.encrypt(r)).collect()
        })
        .collect::<Result<_>>()?;
    let encrypt_s = t1.elapsed().as_secs_f64();

    // Server side: only the server key crosses over.
    let server = MonitoringServer::new(
        Arc::new(server_key),
        backend,
        args.rules.clone(),
        DriverConfig::default(),
    )?
    .with_steps_in_flight(args.steps_in_flight);
    let bar = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.seconds as u64)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "monitoring {bar:40} {pos}/{len} s of readings [{elapsed}, {per_sec}]",
        )
        .expect("valid template"),
    );
    let before = server.driver_stats();
    let t2 = Instant::now();
    let alerts = server.monitor(&encrypted, &|done| bar.set_position(done as u64))?;
    let server_s = t2.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let stats = server.driver_stats();
    let pbs = stats.completed - before.completed;

    // Clinic side: decrypt and check against the plaintext rules.
    let decrypted: Vec<PatientAlerts> = alerts
        .iter()
        .map(|a| clinic.decrypt(a))
        .collect::<Result<_>>()?;
    let expected: Vec<PatientAlerts> = ward.iter().map(|s| args.rules.evaluate(s)).collect();
    let total: usize = expected.iter().map(|e| e.values()).sum();
    let matching: usize = decrypted
        .iter()
        .zip(&expected)
        .map(|(d, e)| d.matching(e))
        .sum();

    let readings = args.patients * args.seconds;
    let readings_per_s = readings as f64 / server_s;
    let pbs_per_s = pbs as f64 / server_s;
    let pbs_per_reading = pbs as f64 / readings as f64;
    let realtime_patients = readings_per_s.floor() as u64;

    if json {
        let patients: Vec<serde_json::Value> = decrypted
            .iter()
            .zip(&ward)
            .enumerate()
            .map(|(p, (a, w))| {
                serde_json::json!({
                    "patient": p,
                    "heart_rate": w.iter().map(|r| r.heart_rate).collect::<Vec<_>>(),
                    "spo2": w.iter().map(|r| r.spo2).collect::<Vec<_>>(),
                    "alerts": a,
                    "timeline": a.timeline(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "params": params.name,
                "backend": server.backend_name(),
                "threads": rayon_threads(),
                "patients": args.patients,
                "seconds": args.seconds,
                "seed": args.seed,
                "rules": args.rules,
                "ward": patients,
                "verified": matching,
                "alert_values": total,
                "keygen_s": keygen_s,
                "encrypt_s": encrypt_s,
                "server_s": server_s,
                "pbs": pbs,
                "readings_per_s": readings_per_s,
                "pbs_per_s": pbs_per_s,
                "pbs_per_reading": pbs_per_reading,
                "realtime_patients": realtime_patients,
                "mean_batch_size": stats.mean_batch_size,
                "backend_busy": stats.backend_busy,
            })
        );
    } else {
        let r = &args.rules;
        println!(
            "ward: {} patients x {} s, one reading per second; parameters {} ({})",
            args.patients,
            args.seconds,
            params.name,
            params.security_statement()
        );
        println!(
            "rules: heart rate outside {}-{} bpm, SpO2 below {} %, sustained over {} readings",
            r.heart_rate_low, r.heart_rate_high, r.spo2_low, r.sustained_readings
        );
        println!(
            "clinic: key generation {keygen_s:.1} s; devices: {readings} readings encrypted in {encrypt_s:.2} s"
        );
        println!();
        println!(
            "{:>7} {:>7} {:>7} {:>9} {:>8} {:>9} {:>6}  timeline (· ok, h HR, s SpO2, b both; CAPS sustained)",
            "patient", "HR max", "HR min", "SpO2 min", "HR alrt", "SpO2 alrt", "count"
        );
        for (p, (a, w)) in decrypted.iter().zip(&ward).enumerate() {
            let hr_max = w.iter().map(|r| r.heart_rate).max().unwrap_or(0);
            let hr_min = w.iter().map(|r| r.heart_rate).min().unwrap_or(0);
            let spo2_min = w.iter().map(|r| r.spo2).min().unwrap_or(0);
            println!(
                "{:>7} {:>7} {:>7} {:>9} {:>8} {:>9} {:>6}  {}",
                p,
                hr_max,
                hr_min,
                spo2_min,
                a.heart_rate.iter().filter(|&&x| x).count(),
                a.spo2.iter().filter(|&&x| x).count(),
                a.count,
                a.timeline()
            );
        }
        println!();
        println!(
            "server: {pbs} PBS on `{}` ({} threads) in {server_s:.2} s: {pbs_per_s:.1} PBS/s, \
             mean batch {:.1}, backend busy {:.0} %",
            server.backend_name(),
            rayon_threads(),
            stats.mean_batch_size,
            100.0 * stats.backend_busy
        );
        println!(
            "throughput: {readings_per_s:.2} readings/s, {pbs_per_reading:.2} PBS per reading: \
             this machine monitors {realtime_patients} patients in real time (1 reading/s each)"
        );
        println!("verified: {matching}/{total} alerts match");
    }
    if matching != total {
        return Err(Error::Backend {
            backend: server.backend_name().to_string(),
            reason: format!(
                "{} of {total} decrypted alerts differ from the plaintext rules",
                total - matching
            ),
        });
    }
    Ok(())
}

/// Why 350 MHz: what the projection says about the clock.
const CLOCK_NOTE: &str = "a clock that FPGA NTT designs of this kind (pipelined 64-bit \
    Goldilocks multipliers on DSP slices) reach on current parts; the RTL has not been placed \
    and routed";

/// `glovebox sim ntt`: the NTT unit simulated cycle by cycle, checked, and projected.
fn sim_ntt(
    n: usize,
    c: usize,
    polys: usize,
    inverse: bool,
    clock_mhz: f64,
    json: bool,
) -> Result<()> {
    use glovebox::sim::NttUnit;
    if polys == 0 || !(clock_mhz > 0.0) {
        return Err(Error::InvalidParameters(
            "--polys and --clock-mhz must be positive".into(),
        ));
    }
    let mut unit = NttUnit::new(n, c)?;
    let plan = glovebox::engine::ntt::Plan::try_new(n)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(n as u64 * 131 + c as u64);
    let input: Vec<u64> = (0..n * polys)
        .map(|_| rng.gen_range(0..glovebox::engine::commons::modp::P))
        .collect();
    let mut output = input.clone();
    let run = if inverse {
        unit.inverse(&mut output)?
    } else {
        unit.forward(&mut output)?
    };
    let mut verified = 0;
    for (got, poly) in output.chunks_exact(n).zip(input.chunks_exact(n)) {
        let mut want = poly.to_vec();
        if inverse {
            plan.inv(&mut want);
        } else {
            plan.fwd(&mut want);
        }
        if got != want.as_slice() {
            return Err(Error::Backend {
                backend: "sim (Verilator)".into(),
                reason: format!("polynomial {verified} differs from the CPU NTT"),
            });
        }
        verified += 1;
    }
    let interval = unit.interval();
    let latency = run.latencies[0];
    let analytic = NttUnit::analytic_latency(n, c);
    let clock_hz = clock_mhz * 1e6;
    let ntt_per_s = clock_hz / interval as f64;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "unit": "ntt",
                "direction": if inverse { "inverse" } else { "forward" },
                "n": n,
                "c": c,
                "polynomials": polys,
                "verified": verified,
                "cycles": run.cycles,
                "latency_cycles": latency,
                "analytic_latency_cycles": analytic,
                "interval_cycles": interval,
                "simulated_cycles_per_s": run.cycles_per_second(),
                "wall_s": run.wall_seconds,
                "clock_mhz": clock_mhz,
                "clock_note": CLOCK_NOTE,
                "projected_ntt_per_s": ntt_per_s,
                "projected_latency_us": latency as f64 / clock_hz * 1e6,
            })
        );
    } else {
        let dir = if inverse { "inverse" } else { "forward" };
        println!("{dir} NTT unit, N = {n}, C = {c}: {polys} polynomials back to back");
        println!("verified: {verified}/{polys} polynomials equal the CPU NTT word for word");
        println!(
            "cycles: {} in all; latency {latency} (analytical {analytic}); one polynomial \
             every {interval} cycles at steady state",
            run.cycles
        );
        println!(
            "simulation: {:.3e} cycles per wall-clock second ({:.2} s)",
            run.cycles_per_second(),
            run.wall_seconds
        );
        println!(
            "projected at {clock_mhz} MHz: {ntt_per_s:.3e} NTT/s, {:.2} us latency \
             ({clock_mhz} MHz: {CLOCK_NOTE})",
            latency as f64 / clock_hz * 1e6
        );
    }
    Ok(())
}

/// 32-bit integer operations per radix-2 butterfly in the GPU shaders, counted from
/// `kernels/src/shaders/modp.wgsl` with every 64-bit operation as the 32-bit instructions a
/// GPU runs for it: the 64×64→128 product (4 wide multiplies = 8, 12 adds, shifts and masks),
/// the reduction (16), the canonical step (4), the modular add (8) and subtract (6). The
/// power-of-two stages (5 of 11 at N = 2048) replace the product by shifts and the sign
/// handling, ≈ 51 in the same count, so the figure overstates their work by about 3 %.
const GPU_INT32_OPS_PER_BUTTERFLY: f64 = 54.0;

/// `glovebox bench --ntt N`: forward NTTs per second on the backend, kernel time only.
fn bench_ntt(
    backend_name: &str,
    n: usize,
    polys: usize,
    min_seconds: f64,
    json: bool,
) -> Result<()> {
    glovebox::engine::ntt::Plan::check_size(n)?;
    if polys == 0 {
        return Err(Error::InvalidParameters(
            "--ntt-batch must be positive".into(),
        ));
    }
    let (name, seconds, count) = match backend_name {
        "cpu" => {
            use rayon::prelude::*;
            let plan = glovebox::engine::ntt::Plan::try_new(n)?;
            let mut data: Vec<u64> = (0..polys * n).map(|i| i as u64).collect();
            let t = Instant::now();
            let mut rounds = 0;
            while rounds < 2 || t.elapsed().as_secs_f64() < min_seconds {
                data.par_chunks_exact_mut(n).for_each(|p| plan.fwd(p));
                rounds += 1;
            }
            (
                format!("cpu ({} threads, {})", rayon_threads(), plan.kernel_name()),
                t.elapsed().as_secs_f64(),
                rounds * polys,
            )
        }
        "gpu" => {
            let gpu = glovebox::kernels::GpuBackend::new()?;
            let polys = polys.min(65535);
            let once = gpu.time_forward_ntts(n, polys, 1)?;
            let repeats = ((min_seconds / once.max(1e-6)).ceil() as usize).clamp(2, 100_000);
            (
                gpu.name(),
                gpu.time_forward_ntts(n, polys, repeats)?,
                repeats * polys,
            )
        }
        other => {
            return Err(Error::InvalidParameters(format!(
                "unknown backend `{other}` (available: cpu, gpu)"
            )))
        }
    };
    let ntt_per_s = count as f64 / seconds;
    let butterflies_per_s = ntt_per_s * (n / 2) as f64 * n.trailing_zeros() as f64;
    let int32_ops_per_s = butterflies_per_s * GPU_INT32_OPS_PER_BUTTERFLY;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "backend": name,
                "n": n,
                "polynomials_per_batch": polys,
                "ntt_per_s": ntt_per_s,
                "us_per_ntt": 1e6 / ntt_per_s,
                "butterflies_per_s": butterflies_per_s,
                "gpu_int32_ops_per_butterfly": GPU_INT32_OPS_PER_BUTTERFLY,
                "int32_ops_per_s": int32_ops_per_s,
            })
        );
    } else {
        println!("forward NTT, N = {n}, batches of {polys}, on `{name}` (kernel time only)");
        println!(
            "{ntt_per_s:.0} NTT/s ({:.2} us each), {:.3e} butterflies/s",
            1e6 / ntt_per_s,
            butterflies_per_s
        );
        if backend_name == "gpu" {
            println!(
                "at {GPU_INT32_OPS_PER_BUTTERFLY} 32-bit integer operations per butterfly: \
                 {int32_ops_per_s:.3e} int32 op/s (divide by the device's peak for the fraction)"
            );
        }
    }
    Ok(())
}

/// One row of `glovebox bench`.
#[derive(serde::Serialize)]
struct BenchRow {
    batch: usize,
    backend_pbs_per_s: f64,
    backend_ms_per_batch: f64,
    driver_pbs_per_s: f64,
    driver_over_backend: f64,
    driver_job_latency_p50_ms: f64,
}

fn bench(
    backend_name: &str,
    name: &str,
    batches: &[usize],
    min_seconds: f64,
    json: bool,
) -> Result<()> {
    if batches.is_empty() || batches.contains(&0) {
        return Err(Error::InvalidParameters(
            "batch sizes must be positive".into(),
        ));
    }
    let params = Parameters::by_name(name)?;
    let backend = backend_by_name(backend_name)?;
    let client = ClientKey::new(params)?;
    let bar = keygen_bar(json, params.lwe_dimension.0);
    let server = Arc::new(client.server_key_with_progress(&|d, _| bar.set_position(d as u64))?);
    bar.finish_and_clear();
    let max = *batches.iter().max().expect("not empty");
    let messages: Vec<u64> = (0..max as u64)
        .map(|i| i % params.message_modulus)
        .collect();
    let cts: Vec<Ciphertext> = messages
        .iter()
        .map(|&m| client.encrypt(m))
        .collect::<Result<_>>()?;
    let lut = Arc::new(server.generate_lookup_table(|x| (x * x + 1) % 4));
    let want = |m: u64| (m * m + 1) % 4;
    // Output i of a run over the first `b` inputs (repeated) must be f(messages[i % b]).
    let check = |outs: &[Ciphertext], b: usize, mode: &str| -> Result<()> {
        for (i, o) in outs.iter().enumerate() {
            if client.decrypt(o)? != want(messages[i % b]) {
                return Err(Error::Backend {
                    backend: backend_name.into(),
                    reason: format!("{mode} result {i} decrypted wrongly"),
                });
            }
        }
        Ok(())
    };

    let resident = server.upload(&*backend)?;
    let bar = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(2 * batches.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("measuring {bar:40} {pos}/{len} [{elapsed}] {msg}")
            .expect("valid template"),
    );
    let mut rows = Vec::new();
    for &b in batches {
        // Backend alone: whole batches, back to back.
        bar.set_message(format!("batch {b}, backend"));
        let refs: Vec<&Ciphertext> = cts[..b].iter().collect();
        let luts: Vec<&LookupTable> = vec![&*lut; b];
        let t = Instant::now();
        let mut runs = 0;
        while runs < 2 || t.elapsed().as_secs_f64() < min_seconds {
            let outs = resident.apply_lookup_table_batch(&refs, &luts)?;
            check(&outs, b, "backend")?;
            runs += 1;
        }
        let backend_s = t.elapsed().as_secs_f64();
        let backend_pbs_per_s = (runs * b) as f64 / backend_s;
        bar.inc(1);

        // Through the driver: the same number of jobs, batches of b, pipelined.
        bar.set_message(format!("batch {b}, driver"));
        let driver = glovebox::driver::Driver::new(
            backend.clone(),
            server.clone(),
            DriverConfig {
                batch_size: b,
                ..DriverConfig::default()
            },
        )?;
        let jobs = runs * b;
        let t = Instant::now();
        let outs: Vec<Ciphertext> = driver
            .bootstrap_many((0..jobs).map(|i| (cts[i % b].clone(), lut.clone())))
            .into_iter()
            .collect::<Result<_>>()?;
        let driver_s = t.elapsed().as_secs_f64();
        check(&outs, b, "driver")?;
        let stats = driver.stats();
        let driver_pbs_per_s = jobs as f64 / driver_s;
        bar.inc(1);
        rows.push(BenchRow {
            batch: b,
            backend_pbs_per_s,
            backend_ms_per_batch: 1e3 * backend_s / runs as f64,
            driver_pbs_per_s,
            driver_over_backend: driver_pbs_per_s / backend_pbs_per_s,
            driver_job_latency_p50_ms: stats.job_latency_ms.p50,
        });
    }
    bar.finish_and_clear();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "params": params.name,
                "backend": backend.name(),
                "threads": rayon_threads(),
                "rows": rows,
            })
        );
        return Ok(());
    }
    println!(
        "keyswitch + PBS on `{}`, {} ({} threads); every result decrypted and checked",
        backend.name(),
        params.name,
        rayon_threads()
    );
    println!(
        "{:>6} {:>14} {:>14} {:>14} {:>14} {:>16}",
        "batch", "backend PBS/s", "ms per batch", "driver PBS/s", "driver/backend", "driver p50 ms"
    );
    for r in &rows {
        println!(
            "{:>6} {:>14.1} {:>14.1} {:>14.1} {:>14.3} {:>16.1}",
            r.batch,
            r.backend_pbs_per_s,
            r.backend_ms_per_batch,
            r.driver_pbs_per_s,
            r.driver_over_backend,
            r.driver_job_latency_p50_ms
        );
    }
    Ok(())
}
