//! `glovebox load`: the service's throughput, measured through the real server on loopback.

use super::{
    check_passed, compressed_key_with_bar, progress_bar, security_level, threads, BackendArg,
    CliError, CliResult, OutputArgs, ParamsArg, Report,
};
use glovebox::service::store::{CompletedReading, Database, Store};
use glovebox::service::{
    serve, tls, AlertRecord, ClinicClient, Endpoint, ServiceConfig, ServiceError,
};
use glovebox::vitals::*;
use rayon::prelude::*;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Starts `glovebox serve` in this process on a loopback port with a fresh SQLite database
/// (or on PostgreSQL, `--database`, with `--workers` worker processes computing the jobs),
/// registers a clinic, and has N simulated devices post their encrypted readings as fast as
/// the server acknowledges them, while the clinic long-polls the alerts. Reports readings/s
/// committed and alerts/s computed (both through HTTP and the store), and checks every
/// decrypted alert against the rules run on the plaintext. `--queue-jobs N` measures the
/// store's queue alone instead: N readings claimed and committed by `--workers` threads that
/// compute nothing.
#[derive(clap::Args)]
pub struct Args {
    /// Simulated devices (one patient each).
    #[arg(long, default_value_t = 16)]
    pub devices: usize,
    /// Readings per device.
    #[arg(long, default_value_t = 20)]
    pub readings: usize,
    /// Readings per request.
    #[arg(long, default_value_t = 5)]
    pub batch: usize,
    /// Seed of the simulated vitals.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// The store: a PostgreSQL URL (default: a fresh SQLite file, removed afterwards).
    #[arg(long)]
    pub database: Option<Database>,
    /// Worker processes (`glovebox worker`) computing the jobs, on `--database` PostgreSQL;
    /// 0: the server's own worker.
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Threads of each worker (and of the server's own worker): default every core.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Steps of readings each worker computes at once, each on devices of its own: while one step's
    /// bootstraps rotate, the next one's batch forms.
    #[arg(long, default_value_t = 2)]
    pub steps_in_flight: usize,
    /// Measure the queue alone: this many readings (dummy bytes, 1024 devices) stored, then
    /// claimed and committed by `--workers` threads (at least one) that compute nothing.
    #[arg(long)]
    pub queue_jobs: Option<usize>,
    #[command(flatten)]
    pub params: ParamsArg,
    #[command(flatten)]
    pub backend: BackendArg,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Serialize)]
struct LoadReport {
    params: &'static str,
    security: String,
    backend: String,
    threads: usize,
    /// "sqlite", or "postgres".
    store: &'static str,
    /// Worker processes (0: the server's own worker).
    workers: usize,
    devices: usize,
    readings: usize,
    batch: usize,
    key_upload_mib: f64,
    /// Bytes a device uploads per reading: its compact list's envelope and framing.
    reading_upload_bytes: usize,
    register_s: f64,
    ingest_s: f64,
    readings_per_s: f64,
    alerts_s: f64,
    alerts_per_s: f64,
    /// From the first alert to the last: the rate once every worker has its keys expanded.
    steady_alerts_per_s: f64,
    verified: usize,
}

impl Report for LoadReport {
    fn print_table(&self) {
        println!(
            "glovebox load: {} devices x {} readings through https (TLS 1.3, rustls) on loopback, {} ({}), backend {}, {} threads",
            self.devices, self.readings / self.devices.max(1), self.params, self.security, self.backend, self.threads
        );
        println!(
            "  store            {} ({})",
            self.store,
            match self.workers {
                0 => "the server's own worker".to_string(),
                w => format!("{w} worker processes, the server computes nothing"),
            }
        );
        println!(
            "  registration     {:>8.2} s   (compressed server and casting keys of {:.1} MiB uploaded and expanded)",
            self.register_s, self.key_upload_mib
        );
        println!(
            "  upload           {:>8} B   per reading (a packed compact list under the clinic's public key)",
            self.reading_upload_bytes
        );
        println!(
            "  readings in      {:>8.2} s   {:>8.1} readings/s committed ({})",
            self.ingest_s,
            self.readings_per_s,
            if self.store == "sqlite" {
                "SQLite WAL, synchronous=FULL"
            } else {
                "PostgreSQL, synchronous_commit=on"
            }
        );
        println!(
            "  alerts out       {:>8.2} s   {:>8.1} alerts/s computed and stored (4 flags each)",
            self.alerts_s, self.alerts_per_s
        );
        println!(
            "  steady           {:>8} {:>10.1} alerts/s from the first alert to the last (keys expanded)",
            "", self.steady_alerts_per_s
        );
        println!(
            "  verified         {} of {} readings' alerts equal the plaintext rules",
            self.verified, self.readings
        );
    }
}

fn service(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Http(e.to_string())
}

pub fn run(args: Args) -> CliResult<()> {
    let params = args.params.resolve()?;
    let backend = args.backend.open()?;
    let backend_name = backend.name().to_string();
    if !matches!(
        params.security,
        glovebox::prelude::SecurityLevel::Secure { .. }
    ) {
        // The server refuses insecure sets unless told otherwise; this run is local.
        std::env::set_var("GLOVEBOX_ALLOW_INSECURE", "1");
    }
    if let Some(threads) = args.threads {
        if args.workers == 0 {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads.max(1))
                .build_global()
                .map_err(|e| CliError::Usage(format!("--threads: {e}")))?;
        }
    }
    let database = match &args.database {
        Some(d @ Database::Postgres(_)) => d.clone(),
        Some(Database::Sqlite(_)) => {
            return Err(CliError::Usage(
                "--database takes a PostgreSQL URL (the default is a fresh SQLite file)".into(),
            ))
        }
        None if args.workers > 0 || args.queue_jobs.is_some() => {
            return Err(CliError::Usage(
                "--workers and --queue-jobs need a shared store: --database postgres://…".into(),
            ))
        }
        None => Database::Sqlite(std::env::temp_dir().join(format!(
            "glovebox-load-{}-{}.sqlite",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ))),
    };
    if let Some(jobs) = args.queue_jobs {
        let report = queue(&database, jobs, args.workers.max(1))?;
        report.emit(args.output);
        return Ok(());
    }
    // The operator's enrollment token for the one clinic (the store made before the server
    // opens it), with no rate quota to measure against.
    let enrollment = super::serve::enroll(
        &database,
        Duration::from_secs(3600),
        glovebox::service::store::Quotas {
            readings_per_second: 1_000_000,
            ..Default::default()
        },
    )?;
    // Over TLS, as a deployment serves it: a self-signed certificate the clients trust.
    let (cert, key) = tls::self_signed(&["127.0.0.1"])?;
    let mut config = ServiceConfig::new(database.clone(), backend);
    config.tls = Some(tls::server_config(cert.as_bytes(), key.as_bytes())?);
    config.in_process_worker = args.workers == 0;
    config.steps_in_flight = args.steps_in_flight.max(1);
    // The worker processes, on the same store and backend.
    let exe = std::env::current_exe().map_err(service)?;
    let mut workers = Vec::new();
    if let Database::Postgres(url) = &database {
        for _ in 0..args.workers {
            let mut command = std::process::Command::new(&exe);
            command
                .args([
                    "worker",
                    "--database",
                    url,
                    "--backend",
                    &args.backend.name(),
                    "--steps-in-flight",
                    &args.steps_in_flight.to_string(),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            if let Some(t) = args.threads {
                command.args(["--threads", &t.to_string()]);
            }
            workers.push(command.spawn().map_err(service)?);
        }
    }
    let runtime = tokio::runtime::Runtime::new().map_err(service)?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(service)?;
    let url = format!("https://{}", listener.local_addr().map_err(service)?);
    let endpoint = Endpoint::new(&url, Some(cert.as_bytes()))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        runtime.block_on(serve(listener, config, async {
            let _ = stopped.await;
        }))
    });
    let result = drive(&args, params, &endpoint, &enrollment);
    for mut w in workers {
        let _ = w.kill();
        let _ = w.wait();
    }
    let _ = stop.send(());
    let served = server
        .join()
        .map_err(|_| service("the server thread panicked"))?;
    if let Some(file) = database.path() {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }
    }
    served?;
    let mut report = result?;
    report.backend = backend_name;
    report.store = if database.path().is_some() {
        "sqlite"
    } else {
        "postgres"
    };
    report.workers = args.workers;
    if let Some(t) = args.threads {
        report.threads = t;
    }
    report.emit(args.output);
    check_passed(
        report.readings - report.verified,
        report.readings,
        "readings' alerts decrypted wrongly",
    )
}

fn drive(
    args: &Args,
    params: &'static glovebox::prelude::Parameters,
    endpoint: &Endpoint,
    enrollment: &str,
) -> CliResult<LoadReport> {
    let keys = Clinic::new(params)?;
    let compressed = compressed_key_with_bar(args.output, &keys)?;
    let casting = keys.compressed_casting_key()?;
    let upload = glovebox::engine::serialization::to_bytes(&compressed).len()
        + glovebox::engine::serialization::to_bytes(&casting).len();
    let t = Instant::now();
    let clinic = ClinicClient::register(endpoint, enrollment, &compressed, &casting)?;
    let devices = (0..args.devices)
        .map(|p| clinic.add_device(&format!("patient-{}", p + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    let register_s = t.elapsed().as_secs_f64();
    let ward = simulate_ward(args.devices, args.readings, args.seed);
    let sensor = keys.provision_device();
    let bar = progress_bar(
        args.output,
        (args.devices * args.readings) as u64,
        "encrypting {bar:40} {pos}/{len} readings [{elapsed}]",
    );
    let encrypted: Vec<Vec<EncryptedReading>> = ward
        .par_iter()
        .map(|stream| {
            stream
                .iter()
                .map(|&r| {
                    bar.inc(1);
                    sensor.encrypt(r)
                })
                .collect::<glovebox::health::Result<Vec<_>>>()
        })
        .collect::<glovebox::health::Result<_>>()?;
    bar.finish_and_clear();
    // The bytes on the wire for one reading: its record's sequence number, length and envelope.
    let reading_upload_bytes = encrypted.first().and_then(|s| s.first()).map_or(0, |r| {
        12 + glovebox::engine::serialization::to_bytes(&r.list).len()
    });
    let total = args.devices * args.readings;
    let bar = progress_bar(
        args.output,
        total as u64,
        "alerts {bar:40} {pos}/{len} [{elapsed}]",
    );
    let start = Instant::now();
    let (ingest, fetched) = std::thread::scope(|scope| {
        let posting: Vec<_> = devices
            .iter()
            .zip(&encrypted)
            .map(|(device, stream)| {
                scope.spawn(move || -> Result<Duration, ServiceError> {
                    for (c, chunk) in stream.chunks(args.batch.max(1)).enumerate() {
                        let batch: Vec<(u64, &EncryptedReading)> = chunk
                            .iter()
                            .enumerate()
                            .map(|(i, r)| ((c * args.batch.max(1) + i) as u64, r))
                            .collect();
                        device.post_readings(&batch)?;
                    }
                    Ok(start.elapsed())
                })
            })
            .collect();
        let mut fetched: Vec<AlertRecord> = Vec::with_capacity(total);
        let mut first_alert_at = None;
        let mut fetch_error = None;
        let mut last_progress = Instant::now();
        while fetched.len() < total && last_progress.elapsed() < Duration::from_secs(600) {
            let since = fetched.last().map_or(0, |r| r.id);
            match clinic.fetch_alerts(since, Duration::from_secs(10)) {
                Ok(new) => {
                    if !new.is_empty() {
                        last_progress = Instant::now();
                        first_alert_at.get_or_insert((start.elapsed(), fetched.len() + new.len()));
                    }
                    bar.inc(new.len() as u64);
                    fetched.extend(new);
                }
                Err(e) => {
                    fetch_error = Some(e);
                    break;
                }
            }
        }
        let alerts_at = start.elapsed();
        let mut ingest = Duration::ZERO;
        for p in posting {
            let done = p
                .join()
                .map_err(|_| ServiceError::Http("a device thread panicked".into()))??;
            ingest = ingest.max(done);
        }
        if let Some(e) = fetch_error {
            return Err(e);
        }
        Ok::<_, ServiceError>((ingest, (fetched, alerts_at, first_alert_at)))
    })?;
    bar.finish_and_clear();
    let (fetched, alerts_at, first_alert_at) = fetched;
    let steady_alerts_per_s = match first_alert_at {
        Some((t, n)) if alerts_at > t => {
            (fetched.len().min(total) - n) as f64 / (alerts_at - t).as_secs_f64()
        }
        _ => 0.0,
    };
    let rules = AlertRules::default();
    let expected: Vec<PatientAlerts> = ward.iter().map(|s| rules.evaluate(s)).collect();
    let mut verified = 0;
    let mut seen = std::collections::HashSet::new();
    for r in &fetched {
        let Some(p) = devices.iter().position(|d| d.device_id() == r.device_id) else {
            continue;
        };
        let t = r.seq as usize;
        if t >= args.readings || !seen.insert((p, t)) {
            continue;
        }
        let f = r.decrypt(&keys)?;
        let got = [f.heart_rate, f.spo2, f.any, f.sustained];
        let want = &expected[p];
        if got
            == [
                want.heart_rate[t],
                want.spo2[t],
                want.any[t],
                want.sustained[t],
            ]
        {
            verified += 1;
        }
    }
    Ok(LoadReport {
        params: params.name,
        security: security_level(params),
        backend: String::new(),
        threads: threads(),
        store: "",
        workers: 0,
        devices: args.devices,
        readings: total,
        batch: args.batch,
        key_upload_mib: upload as f64 / (1 << 20) as f64,
        reading_upload_bytes,
        register_s,
        ingest_s: ingest.as_secs_f64(),
        readings_per_s: total as f64 / ingest.as_secs_f64(),
        alerts_s: alerts_at.as_secs_f64(),
        alerts_per_s: fetched.len().min(total) as f64 / alerts_at.as_secs_f64(),
        steady_alerts_per_s,
        verified,
    })
}

#[derive(Serialize)]
struct QueueReport {
    jobs: usize,
    workers: usize,
    insert_s: f64,
    claim_commit_s: f64,
    jobs_per_s: f64,
}

impl Report for QueueReport {
    fn print_table(&self) {
        println!(
            "glovebox load --queue-jobs: {} readings (dummy bytes, 1024 devices) on PostgreSQL, {} claiming threads that compute nothing",
            self.jobs, self.workers
        );
        println!("  stored           {:>8.2} s", self.insert_s);
        println!(
            "  claimed and committed {:>4.2} s   {:>8.0} jobs/s (claim 64 under a lease, commit checking it)",
            self.claim_commit_s, self.jobs_per_s
        );
    }
}

/// The queue alone: `jobs` readings of 1024 devices stored, then claimed (64 at a time, one per
/// device) and committed with empty flags by `workers` threads, each a worker of its own name.
fn queue(database: &Database, jobs: usize, workers: usize) -> Result<QueueReport, ServiceError> {
    const DEVICES: usize = 1024;
    let store = Store::open_database(database)?;
    let clinic = store.insert_clinic("load", "queue", 0, b"", b"")?;
    let devices = (0..DEVICES)
        .map(|d| store.insert_device(clinic, &format!("q{d}"), "load"))
        .collect::<Result<Vec<_>, _>>()?;
    let t = Instant::now();
    let per_device = jobs.div_ceil(DEVICES);
    for (i, &device) in devices.iter().enumerate() {
        let n = per_device.min(jobs.saturating_sub(i * per_device));
        let readings: Vec<(u64, Vec<u8>)> = (0..n as u64).map(|s| (s, vec![0u8; 16])).collect();
        for chunk in readings.chunks(500) {
            store.insert_readings(clinic, device, chunk)?;
        }
    }
    let insert_s = t.elapsed().as_secs_f64();
    let lease = Duration::from_secs(30);
    let t = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let store = &store;
                s.spawn(move || -> Result<(), ServiceError> {
                    let owner = Store::new_lease_owner();
                    loop {
                        let claimed = store.claim_readings(&owner, 64, Duration::ZERO, lease)?;
                        if claimed.is_empty() {
                            if store.counts()?.1 == 0 {
                                return Ok(());
                            }
                            std::thread::sleep(Duration::from_millis(1));
                            continue;
                        }
                        let done: Vec<CompletedReading> = claimed
                            .iter()
                            .map(|p| CompletedReading {
                                clinic_id: p.clinic_id,
                                device_id: p.device_id,
                                seq: p.seq,
                                flags: Vec::new(),
                            })
                            .collect();
                        store.complete(&owner, &done)?;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| service("a queue thread panicked"))?)
            .collect::<Result<Vec<()>, ServiceError>>()
    })?;
    let claim_commit_s = t.elapsed().as_secs_f64();
    Ok(QueueReport {
        jobs,
        workers,
        insert_s,
        claim_commit_s,
        jobs_per_s: jobs as f64 / claim_commit_s,
    })
}
