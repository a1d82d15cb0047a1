//! `glovebox bench`: keyswitch + PBS latency and batched throughput per batch size, on the
//! backend alone and through the host driver; or, with `--ntt N`, the forward NTT's kernel
//! throughput.

use super::{
    check_passed, progress_bar, server_key_with_bar, threads, BackendArg, BackendKind, CliError,
    CliResult, OutputArgs, ParamsArg, Report,
};
use glovebox::driver::{Driver, DriverConfig};
use glovebox::prelude::*;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// Bootstrapping latency and batched throughput (keyswitch + PBS) per batch size, on the
/// backend alone and through the host driver. Every result is decrypted and checked.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub backend: BackendArg,
    #[command(flatten)]
    pub params: ParamsArg,
    /// Batch sizes (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,2,4,8,16,32,64,128,256"
    )]
    pub batches: Vec<usize>,
    /// Minimum seconds measured per batch size and mode (at least two batches are run).
    #[arg(long, default_value_t = 2.0)]
    pub min_seconds: f64,
    /// Measure the forward NTT instead (kernel throughput, no transfers): `--ntt 2048`.
    #[arg(long, value_name = "N")]
    pub ntt: Option<usize>,
    /// Polynomials per NTT batch (with `--ntt`).
    #[arg(long, default_value_t = 1024)]
    pub ntt_batch: usize,
    /// Soak test instead: COUNT keyswitch + PBS of random messages through random tables,
    /// counting decryption failures and comparing the measured output noise with the predicted
    /// one (for the backend's arithmetic: exact NTT, or f64 FFT with its rounding term).
    #[arg(long, value_name = "COUNT")]
    pub soak: Option<usize>,
    /// Also measure TFHE-rs's own keyswitch + PBS (shortint, FFT64, on its rayon pool) on the
    /// same parameters, keys and inputs, and draw bootstraps/s against batch size into this
    /// SVG file: the backend alone, through the driver, and TFHE-rs. Needs TFHE-rs in the
    /// build (`--features tfhe-interop`).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(args: Args) -> CliResult<()> {
    if let Some(count) = args.soak {
        return soak(&args, count);
    }
    match args.ntt {
        Some(n) => bench_ntt(&args, n),
        None => bench_pbs(&args),
    }
}

/// What `glovebox bench --soak` found.
#[derive(Serialize)]
struct SoakReport {
    params: &'static str,
    backend: String,
    bootstraps: usize,
    failures: usize,
    /// The set's promised failure probability, and the failures it lets one expect here.
    log2_p_fail: f64,
    expected_failures: f64,
    /// Output noise: measured standard deviation and the prediction's, as log2 of the integer
    /// units of the torus (2^64 per turn), and the ratio of the variances.
    measured_sigma_log2: f64,
    predicted_sigma_log2: f64,
    variance_ratio: f64,
    /// Half a message box (log2): a decryption fails when the noise passes it.
    half_box_log2: f64,
    seconds: f64,
}

impl Report for SoakReport {
    fn print_table(&self) {
        println!(
            "soak: {} keyswitch + PBS on `{}`, {}: {} failures (the set promises p_fail <= \
             2^{:.2}: {:.2e} expected)",
            self.bootstraps,
            self.backend,
            self.params,
            self.failures,
            self.log2_p_fail,
            self.expected_failures
        );
        println!(
            "output noise: measured sigma 2^{:.3}, predicted 2^{:.3} (variance ratio {:.3}); \
             half a message box 2^{:.1}; {:.0} s",
            self.measured_sigma_log2,
            self.predicted_sigma_log2,
            self.variance_ratio,
            self.half_box_log2,
            self.seconds
        );
    }
}

/// `--soak COUNT`: random messages through random tables, in batches of 256.
fn soak(args: &Args, count: usize) -> CliResult<()> {
    use rand::{Rng, SeedableRng};
    if count == 0 {
        return Err(CliError::Usage("--soak needs a positive count".into()).into());
    }
    let params = args.params.resolve()?;
    let backend = args.backend.open()?;
    let client = ClientKey::new(params)?;
    let server = server_key_with_bar(args.output, params, |p| client.server_key_with_progress(p))?;
    let resident = server.upload(&*backend)?;
    let predicted = match args.backend.kind {
        BackendKind::CpuFft => glovebox::engine::noise::pbs_output_variance_fft(params),
        _ => glovebox::engine::noise::pbs_output_variance(params),
    };
    let modulus = params.message_modulus;
    // Eight random tables (a value in the message space for every input of the message and
    // carry space), drawn once; every bootstrap picks one and a random message.
    let space = (modulus * params.carry_modulus) as usize;
    let mut rng = rand_chacha::ChaCha20Rng::from_entropy();
    let tables: Vec<(Vec<u64>, LookupTable)> = (0..8)
        .map(|_| {
            let values: Vec<u64> = (0..space).map(|_| rng.gen_range(0..modulus)).collect();
            let v = values.clone();
            (
                values,
                server.generate_lookup_table(move |m| v[m as usize % space]),
            )
        })
        .collect();
    let bar = progress_bar(
        args.output,
        count as u64,
        "soak {bar:40} {pos}/{len} [{elapsed}<{eta}] {msg}",
    );
    let start = Instant::now();
    let (mut failures, mut done) = (0usize, 0usize);
    let (mut sum, mut sum_sq) = (0f64, 0f64);
    while done < count {
        let batch = 256.min(count - done);
        let picks: Vec<(u64, usize)> = (0..batch)
            .map(|_| (rng.gen_range(0..modulus), rng.gen_range(0..tables.len())))
            .collect();
        let cts: Vec<Ciphertext> = picks
            .iter()
            .map(|&(m, _)| client.encrypt(m))
            .collect::<Result<_>>()?;
        let refs: Vec<&Ciphertext> = cts.iter().collect();
        let luts: Vec<&LookupTable> = picks.iter().map(|&(_, t)| &tables[t].1).collect();
        let outs = resident.apply_lookup_table_batch(&refs, &luts)?;
        for (out, &(m, t)) in outs.iter().zip(&picks) {
            let want = tables[t].0[m as usize];
            failures += (client.decrypt(out)? != want) as usize;
            let e = client.decryption_error(out, want)? as f64;
            sum += e;
            sum_sq += e * e;
        }
        done += batch;
        bar.inc(batch as u64);
        bar.set_message(format!("{failures} failures"));
    }
    bar.finish_and_clear();
    let n = count as f64;
    let mean = sum / n;
    let variance = (sum_sq - n * mean * mean) / (n - 1.0).max(1.0);
    SoakReport {
        params: params.name,
        backend: backend.name(),
        bootstraps: count,
        failures,
        log2_p_fail: params.log2_p_fail,
        expected_failures: n * params.log2_p_fail.exp2(),
        measured_sigma_log2: variance.sqrt().log2(),
        predicted_sigma_log2: predicted.sqrt().log2(),
        variance_ratio: variance / predicted,
        half_box_log2: (params.delta() as f64 / 2.0).log2(),
        seconds: start.elapsed().as_secs_f64(),
    }
    .emit(args.output);
    check_passed(failures, count, "bootstraps decrypted wrongly")
}

/// One row of `glovebox bench`.
#[derive(Serialize)]
struct BenchRow {
    batch: usize,
    backend_pbs_per_s: f64,
    backend_ms_per_batch: f64,
    driver_pbs_per_s: f64,
    driver_over_backend: f64,
    driver_job_latency_p50_ms: f64,
    /// TFHE-rs's throughput at this batch (with `--plot`).
    tfhe_rs_pbs_per_s: Option<f64>,
}

/// A lone job's latency: one job at a time, nothing else queued, alternately on the backend
/// alone (a batch of one) and through a driver with the default configuration.
#[derive(Serialize)]
struct LoneJob {
    jobs: usize,
    backend_p50_ms: f64,
    driver_p50_ms: f64,
    /// What the driver adds (its window, the hand-overs between its threads).
    driver_added_p50_ms: f64,
    /// The driver's window ([`DriverConfig::max_batch_wait`]).
    window_ms: f64,
}

#[derive(Serialize)]
struct BenchReport {
    params: &'static str,
    backend: String,
    threads: usize,
    rows: Vec<BenchRow>,
    lone_job: LoneJob,
    plot: Option<String>,
}

impl Report for BenchReport {
    fn print_table(&self) {
        println!(
            "keyswitch + PBS on `{}`, {} ({} threads); every result decrypted and checked",
            self.backend, self.params, self.threads
        );
        println!(
            "{:>6} {:>14} {:>14} {:>14} {:>14} {:>16}",
            "batch",
            "backend PBS/s",
            "ms per batch",
            "driver PBS/s",
            "driver/backend",
            "driver p50 ms"
        );
        for r in &self.rows {
            print!(
                "{:>6} {:>14.1} {:>14.1} {:>14.1} {:>14.3} {:>16.1}",
                r.batch,
                r.backend_pbs_per_s,
                r.backend_ms_per_batch,
                r.driver_pbs_per_s,
                r.driver_over_backend,
                r.driver_job_latency_p50_ms
            );
            match r.tfhe_rs_pbs_per_s {
                Some(t) => println!("   TFHE-rs {t:.1} PBS/s: {:.2}x", r.backend_pbs_per_s / t),
                None => println!(),
            }
        }
        let l = &self.lone_job;
        println!(
            "lone job ({} one at a time, nothing else queued): backend alone p50 {:.1} ms, \
             through the driver p50 {:.1} ms: the driver adds {:.1} ms (its window: {:.1} ms)",
            l.jobs, l.backend_p50_ms, l.driver_p50_ms, l.driver_added_p50_ms, l.window_ms
        );
        if let Some(p) = &self.plot {
            println!("plot: {p}");
        }
    }
}

/// What every batch size's runs share: keys, inputs and the table, on one backend.
struct PbsBench {
    client: ClientKey,
    server: Arc<ServerKey>,
    backend: Arc<dyn Backend>,
    messages: Vec<u64>,
    cts: Vec<Ciphertext>,
    lut: Arc<LookupTable>,
    min_seconds: f64,
}

/// The function every benchmark job computes.
fn bench_function(m: u64) -> u64 {
    (m * m + 1) % 4
}

impl PbsBench {
    /// Output i of a run over the first `b` inputs (repeated) must be f(messages[i % b]).
    fn check(&self, outs: &[Ciphertext], b: usize, mode: &str) -> CliResult<()> {
        let mut wrong = 0;
        for (i, o) in outs.iter().enumerate() {
            wrong += (self.client.decrypt(o)? != bench_function(self.messages[i % b])) as usize;
        }
        check_passed(
            wrong,
            outs.len(),
            format!("{mode} results at batch {b} decrypted wrongly"),
        )
    }

    /// Whole batches of `b` on the backend alone, back to back: (runs, seconds).
    fn backend_alone(&self, resident: &ResidentServerKey, b: usize) -> CliResult<(usize, f64)> {
        let refs: Vec<&Ciphertext> = self.cts[..b].iter().collect();
        let luts: Vec<&LookupTable> = vec![&*self.lut; b];
        let t = Instant::now();
        let mut runs = 0;
        while runs < 2 || t.elapsed().as_secs_f64() < self.min_seconds {
            let outs = resident.apply_lookup_table_batch(&refs, &luts)?;
            self.check(&outs, b, "backend")?;
            runs += 1;
        }
        Ok((runs, t.elapsed().as_secs_f64()))
    }

    /// `jobs` jobs through the driver in batches of `b`, pipelined: (seconds, p50 latency).
    fn through_driver(&self, b: usize, jobs: usize) -> CliResult<(f64, f64)> {
        let driver = Driver::new(
            self.backend.clone(),
            self.server.clone(),
            DriverConfig {
                batch_size: b,
                ..DriverConfig::default()
            },
        )?;
        let t = Instant::now();
        let outs: Vec<Ciphertext> = driver
            .bootstrap_many((0..jobs).map(|i| (self.cts[i % b].clone(), self.lut.clone())))
            .into_iter()
            .collect::<Result<_>>()?;
        let seconds = t.elapsed().as_secs_f64();
        self.check(&outs, b, "driver")?;
        Ok((seconds, driver.stats().job_latency_ms.p50))
    }

    /// One job at a time, alternately on the backend alone and through a default driver.
    fn lone_job(&self, resident: &ResidentServerKey) -> CliResult<LoneJob> {
        let config = DriverConfig::default();
        let window_ms = 1e3 * config.max_batch_wait.as_secs_f64();
        let driver = Driver::new(self.backend.clone(), self.server.clone(), config)?;
        let (mut alone, mut through) = (Vec::new(), Vec::new());
        let t = Instant::now();
        while alone.len() < 5 || t.elapsed().as_secs_f64() < self.min_seconds {
            let start = Instant::now();
            let out = resident.apply_lookup_table_batch(&[&self.cts[0]], &[&*self.lut])?;
            alone.push(start.elapsed().as_secs_f64() * 1e3);
            self.check(&out, 1, "backend")?;
            let start = Instant::now();
            let out = driver.bootstrap(self.cts[0].clone(), self.lut.clone())?;
            through.push(start.elapsed().as_secs_f64() * 1e3);
            self.check(&[out], 1, "driver")?;
        }
        let p50 = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (backend_p50_ms, driver_p50_ms) = (p50(&mut alone), p50(&mut through));
        Ok(LoneJob {
            jobs: alone.len(),
            backend_p50_ms,
            driver_p50_ms,
            driver_added_p50_ms: driver_p50_ms - backend_p50_ms,
            window_ms,
        })
    }
}

fn bench_pbs(args: &Args) -> CliResult<()> {
    let batches = &args.batches;
    if batches.is_empty() || batches.contains(&0) {
        return Err(CliError::Usage("batch sizes must be positive".into()).into());
    }
    if args.plot.is_some() && !cfg!(feature = "tfhe-interop") {
        return Err(CliError::Usage(
            "--plot draws TFHE-rs's curve beside Glovebox's: this build has no TFHE-rs (build \
             with --features tfhe-interop)"
                .into(),
        )
        .into());
    }
    let params = args.params.resolve()?;
    let backend = args.backend.open()?;
    let client = ClientKey::new(params)?;
    let server = Arc::new(server_key_with_bar(args.output, params, |p| {
        client.server_key_with_progress(p)
    })?);
    let max = *batches.iter().max().expect("not empty");
    let messages: Vec<u64> = (0..max as u64)
        .map(|i| i % params.message_modulus)
        .collect();
    let cts = messages
        .iter()
        .map(|&m| client.encrypt(m))
        .collect::<Result<_>>()?;
    let lut = Arc::new(server.generate_lookup_table(bench_function));
    let bench = PbsBench {
        client,
        server: server.clone(),
        backend: backend.clone(),
        messages,
        cts,
        lut,
        min_seconds: args.min_seconds,
    };
    let resident = server.upload(&*backend)?;
    let bar = progress_bar(
        args.output,
        2 * batches.len() as u64,
        "measuring {bar:40} {pos}/{len} [{elapsed}] {msg}",
    );
    let mut rows = Vec::new();
    for &b in batches {
        bar.set_message(format!("batch {b}, backend"));
        let (runs, backend_s) = bench.backend_alone(&resident, b)?;
        let backend_pbs_per_s = (runs * b) as f64 / backend_s;
        bar.inc(1);
        // Through the driver: the same number of jobs, batches of b, pipelined.
        bar.set_message(format!("batch {b}, driver"));
        let (driver_s, p50) = bench.through_driver(b, runs * b)?;
        let driver_pbs_per_s = (runs * b) as f64 / driver_s;
        bar.inc(1);
        rows.push(BenchRow {
            batch: b,
            backend_pbs_per_s,
            backend_ms_per_batch: 1e3 * backend_s / runs as f64,
            driver_pbs_per_s,
            driver_over_backend: driver_pbs_per_s / backend_pbs_per_s,
            driver_job_latency_p50_ms: p50,
            tfhe_rs_pbs_per_s: None,
        });
    }
    #[cfg(feature = "tfhe-interop")]
    if let Some(path) = &args.plot {
        bar.set_message("TFHE-rs");
        let tfhe_rs = tfhe_rs_throughput(&bench, params, batches)?;
        for (row, rate) in rows.iter_mut().zip(&tfhe_rs) {
            row.tfhe_rs_pbs_per_s = Some(*rate);
        }
        let curve = |name: String, rate: &dyn Fn(&BenchRow) -> f64| super::plot::Curve {
            name,
            points: rows.iter().map(|r| (r.batch, rate(r))).collect(),
        };
        super::plot::throughput(
            path,
            &format!(
                "keyswitch + PBS, {} ({} threads): every result decrypted and checked",
                params.name,
                threads()
            ),
            &[
                curve(
                    format!("Glovebox `{}`, backend alone", backend.name()),
                    &|r| r.backend_pbs_per_s,
                ),
                curve(
                    format!("Glovebox `{}`, through the driver", backend.name()),
                    &|r| r.driver_pbs_per_s,
                ),
                curve("TFHE-rs 1.8.2 shortint (FFT64, rayon)".into(), &|r| {
                    r.tfhe_rs_pbs_per_s.unwrap_or(0.0)
                }),
            ],
        )?;
    }
    bar.set_message("lone job");
    let lone_job = bench.lone_job(&resident)?;
    bar.finish_and_clear();
    BenchReport {
        params: params.name,
        backend: backend.name(),
        threads: threads(),
        rows,
        lone_job,
        plot: args.plot.as_ref().map(|p| p.display().to_string()),
    }
    .emit(args.output);
    Ok(())
}

/// TFHE-rs's own keyswitch + PBS (shortint's `apply_lookup_table`, FFT64, over its rayon
/// pool as TFHE-rs's integer API runs a batch) on the same parameters, the same secret key and
/// the same ciphertexts as `bench`: bootstraps/s at each batch size, every output decrypted
/// and checked.
#[cfg(feature = "tfhe-interop")]
fn tfhe_rs_throughput(
    bench: &PbsBench,
    params: &'static Parameters,
    batches: &[usize],
) -> CliResult<Vec<f64>> {
    use glovebox::engine::interop;
    use rayon::prelude::*;
    let tck = interop::client_key_to_tfhe_shortint(
        &bench.client,
        interop::tfhe_classic_parameters(params)?,
    )?;
    let tsk = tfhe::shortint::ServerKey::new(&tck);
    let tlut = tsk.generate_lookup_table(bench_function);
    let tcts: Vec<tfhe::shortint::Ciphertext> = bench
        .cts
        .iter()
        .map(|c| interop::ciphertext_to_tfhe_shortint(c, params))
        .collect();
    let mut rates = Vec::with_capacity(batches.len());
    for &b in batches {
        let t = Instant::now();
        let mut runs = 0;
        while runs < 2 || t.elapsed().as_secs_f64() < bench.min_seconds {
            let outs: Vec<tfhe::shortint::Ciphertext> = tcts[..b]
                .par_iter()
                .map(|ct| tsk.apply_lookup_table(ct, &tlut))
                .collect();
            let wrong = outs
                .iter()
                .zip(&bench.messages)
                .filter(|(o, &m)| tck.decrypt(o) != bench_function(m))
                .count();
            check_passed(
                wrong,
                b,
                format!("TFHE-rs results at batch {b} decrypted wrongly"),
            )?;
            runs += 1;
        }
        rates.push((runs * b) as f64 / t.elapsed().as_secs_f64());
    }
    Ok(rates)
}

/// 32-bit integer operations per radix-2 butterfly in the GPU shaders, counted from
/// `kernels/src/shaders/modp.wgsl` with every 64-bit operation as the 32-bit instructions a
/// GPU runs for it: the 64×64→128 product (4 wide multiplies = 8, 12 adds, shifts and masks),
/// the reduction (16), the canonical step (4), the modular add (8) and subtract (6). The
/// power-of-two stages (5 of 11 at N = 2048) replace the product by shifts and the sign
/// handling, ≈ 51 in the same count, so the figure overstates their work by about 3 %.
const GPU_INT32_OPS_PER_BUTTERFLY: f64 = 54.0;

#[derive(Serialize)]
struct NttBenchReport {
    backend: String,
    n: usize,
    polynomials_per_batch: usize,
    ntt_per_s: f64,
    us_per_ntt: f64,
    butterflies_per_s: f64,
    gpu_int32_ops_per_butterfly: f64,
    int32_ops_per_s: f64,
    #[serde(skip)]
    gpu: bool,
}

impl Report for NttBenchReport {
    fn print_table(&self) {
        println!(
            "forward NTT, N = {}, batches of {}, on `{}` (kernel time only)",
            self.n, self.polynomials_per_batch, self.backend
        );
        println!(
            "{:.0} NTT/s ({:.2} us each), {:.3e} butterflies/s",
            self.ntt_per_s, self.us_per_ntt, self.butterflies_per_s
        );
        if self.gpu {
            println!(
                "at {GPU_INT32_OPS_PER_BUTTERFLY} 32-bit integer operations per butterfly: \
                 {:.3e} int32 op/s (divide by the device's peak for the fraction)",
                self.int32_ops_per_s
            );
        }
    }
}

/// Forward NTTs on the CPU: (backend name, seconds, NTTs).
fn time_cpu_ntts(n: usize, polys: usize, min_seconds: f64) -> Result<(String, f64, usize)> {
    use rayon::prelude::*;
    let plan = glovebox::engine::ntt::Plan::try_new(n)?;
    let mut data: Vec<u64> = (0..polys * n).map(|i| i as u64).collect();
    let t = Instant::now();
    let mut rounds = 0;
    while rounds < 2 || t.elapsed().as_secs_f64() < min_seconds {
        data.par_chunks_exact_mut(n).for_each(|p| plan.fwd(p));
        rounds += 1;
    }
    let name = format!("cpu ({} threads, {})", threads(), plan.kernel_name());
    Ok((name, t.elapsed().as_secs_f64(), rounds * polys))
}

/// Forward NTTs on the GPU, kernel time only: (backend name, seconds, NTTs).
fn time_gpu_ntts(n: usize, polys: usize, min_seconds: f64) -> Result<(String, f64, usize)> {
    let gpu = glovebox::kernels::GpuBackend::new()?;
    let polys = polys.min(65535);
    let once = gpu.time_forward_ntts(n, polys, 1)?;
    let repeats = ((min_seconds / once.max(1e-6)).ceil() as usize).clamp(2, 100_000);
    let seconds = gpu.time_forward_ntts(n, polys, repeats)?;
    Ok((gpu.name(), seconds, repeats * polys))
}

/// `glovebox bench --ntt N`: forward NTTs per second on the backend, kernel time only.
fn bench_ntt(args: &Args, n: usize) -> CliResult<()> {
    glovebox::engine::ntt::Plan::check_size(n)?;
    let polys = args.ntt_batch;
    if polys == 0 {
        return Err(CliError::Usage("--ntt-batch must be positive".into()).into());
    }
    let gpu = args.backend.kind == BackendKind::Gpu;
    let (backend, seconds, count) = if gpu {
        time_gpu_ntts(n, polys, args.min_seconds)?
    } else {
        time_cpu_ntts(n, polys, args.min_seconds)?
    };
    let ntt_per_s = count as f64 / seconds;
    let butterflies_per_s = ntt_per_s * (n / 2) as f64 * n.trailing_zeros() as f64;
    NttBenchReport {
        backend,
        n,
        polynomials_per_batch: polys,
        ntt_per_s,
        us_per_ntt: 1e6 / ntt_per_s,
        butterflies_per_s,
        gpu_int32_ops_per_butterfly: GPU_INT32_OPS_PER_BUTTERFLY,
        int32_ops_per_s: butterflies_per_s * GPU_INT32_OPS_PER_BUTTERFLY,
        gpu,
    }
    .emit(args.output);
    Ok(())
}
