//! `glovebox load`: the service's throughput, measured through the real server on loopback.

use super::{
    check_passed, compressed_key_with_bar, progress_bar, security_level, threads, BackendArg,
    CliResult, OutputArgs, ParamsArg, Report,
};
use glovebox::service::{
    serve, tls, AlertRecord, ClinicClient, Endpoint, ServiceConfig, ServiceError,
};
use glovebox::vitals::*;
use rayon::prelude::*;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Starts `glovebox serve` in this process on a loopback port with a fresh SQLite database,
/// registers a clinic, and has N simulated devices post their encrypted readings as fast as
/// the server acknowledges them, while the clinic long-polls the alerts. Reports readings/s
/// committed and alerts/s computed (both through HTTP and the store), and checks every
/// decrypted alert against the rules run on the plaintext.
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
    verified: usize,
}

impl Report for LoadReport {
    fn print_table(&self) {
        println!(
            "glovebox load: {} devices x {} readings through https (TLS 1.3, rustls) on loopback, {} ({}), backend {}, {} threads",
            self.devices, self.readings / self.devices.max(1), self.params, self.security, self.backend, self.threads
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
            "  readings in      {:>8.2} s   {:>8.1} readings/s committed (SQLite WAL, synchronous=FULL)",
            self.ingest_s, self.readings_per_s
        );
        println!(
            "  alerts out       {:>8.2} s   {:>8.1} alerts/s computed and stored (4 flags each)",
            self.alerts_s, self.alerts_per_s
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
    let database = std::env::temp_dir().join(format!(
        "glovebox-load-{}-{}.sqlite",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    // The operator's enrollment token for the one clinic (the store made before the server
    // opens it), with no rate quota to measure against.
    let enrollment = super::serve::enroll(
        &database.clone().into(),
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
    let _ = stop.send(());
    let served = server
        .join()
        .map_err(|_| service("the server thread panicked"))?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
    served?;
    let mut report = result?;
    report.backend = backend_name;
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
        let mut fetch_error = None;
        let mut last_progress = Instant::now();
        while fetched.len() < total && last_progress.elapsed() < Duration::from_secs(600) {
            let since = fetched.last().map_or(0, |r| r.id);
            match clinic.fetch_alerts(since, Duration::from_secs(10)) {
                Ok(new) => {
                    if !new.is_empty() {
                        last_progress = Instant::now();
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
        Ok::<_, ServiceError>((ingest, (fetched, alerts_at)))
    })?;
    bar.finish_and_clear();
    let (fetched, alerts_at) = fetched;
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
        let got = [
            keys.decrypt_flag(&r.heart_rate)?,
            keys.decrypt_flag(&r.spo2)?,
            keys.decrypt_flag(&r.any)?,
            keys.decrypt_flag(&r.sustained)?,
        ];
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
        verified,
    })
}
