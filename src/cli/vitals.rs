//! `glovebox vitals`, the main job: a ward of patients whose wearables send encrypted vitals;
//! the server computes the alerts blind; the clinic decrypts and checks every alert.

use super::{
    check_passed, progress_bar, security_level, server_key_with_bar, threads, BackendArg, CliError,
    CliResult, OutputArgs, ParamsArg, Report,
};
use glovebox::driver::DriverConfig;
use glovebox::vitals::*;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// The main job: a ward of patients whose wearables send encrypted heart rate and SpO2 once a
/// second; the server computes encrypted alerts without any secret key; the clinic decrypts
/// them, and every alert is checked against the rules run on the plaintext.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Patients in the ward.
    #[arg(long, default_value_t = 8)]
    pub patients: usize,
    /// Seconds of readings per patient (one reading per second).
    #[arg(long, default_value_t = 30)]
    pub seconds: usize,
    /// Seed of the simulated vitals streams (not of the keys: those come from the OS).
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Heart rate below this (bpm) raises an alert.
    #[arg(long, default_value_t = 50)]
    pub hr_low: u8,
    /// Heart rate above this (bpm) raises an alert.
    #[arg(long, default_value_t = 120)]
    pub hr_high: u8,
    /// SpO2 below this (%) raises an alert.
    #[arg(long, default_value_t = 92)]
    pub spo2_low: u8,
    /// Consecutive alert readings that make an alert sustained (1..=15).
    #[arg(long, default_value_t = 3)]
    pub sustained: usize,
    #[command(flatten)]
    pub params: ParamsArg,
    #[command(flatten)]
    pub backend: BackendArg,
    /// Time steps evaluated concurrently (the ward is replayed: in real time, the seconds
    /// whose readings wait for their alerts). Enough to fill the backend's batches: 16 steps
    /// of 8 patients make a mean batch of about 55 where 4 made 27.
    #[arg(long, default_value_t = 16)]
    pub steps_in_flight: usize,
    /// Also draw the ward's timelines (heart rate, SpO2, the decrypted alerts, sustained
    /// spans) into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// One patient's row of the report.
#[derive(Serialize)]
struct PatientRow {
    patient: usize,
    heart_rate: Vec<u8>,
    spo2: Vec<u8>,
    alerts: PatientAlerts,
    timeline: String,
}

#[derive(Serialize)]
struct VitalsReport {
    params: &'static str,
    backend: String,
    threads: usize,
    patients: usize,
    seconds: usize,
    seed: u64,
    rules: AlertRules,
    ward: Vec<PatientRow>,
    verified: usize,
    alert_values: usize,
    keygen_s: f64,
    encrypt_s: f64,
    /// Bytes of one encrypted reading's envelope (a packed compact list under the clinic's
    /// public key).
    reading_bytes: usize,
    server_s: f64,
    pbs: u64,
    readings_per_s: f64,
    pbs_per_s: f64,
    pbs_per_reading: f64,
    realtime_patients: u64,
    mean_batch_size: f64,
    backend_busy: f64,
    #[serde(skip)]
    security: String,
}

impl Report for VitalsReport {
    fn print_table(&self) {
        let r = &self.rules;
        println!(
            "ward: {} patients x {} s, one reading per second; parameters {} ({})",
            self.patients, self.seconds, self.params, self.security
        );
        println!(
            "rules: heart rate outside {}-{} bpm, SpO2 below {} %, sustained over {} readings",
            r.heart_rate_low, r.heart_rate_high, r.spo2_low, r.sustained_readings
        );
        println!(
            "clinic: key generation {:.1} s; devices (the clinic's public key, no secret): {} \
             readings encrypted in {:.2} s, {} bytes each",
            self.keygen_s,
            self.patients * self.seconds,
            self.encrypt_s,
            self.reading_bytes
        );
        println!();
        println!(
            "{:>7} {:>7} {:>7} {:>9} {:>8} {:>9} {:>6}  timeline (· ok, h HR, s SpO2, b both; CAPS sustained)",
            "patient", "HR max", "HR min", "SpO2 min", "HR alrt", "SpO2 alrt", "count"
        );
        for p in &self.ward {
            let a = &p.alerts;
            println!(
                "{:>7} {:>7} {:>7} {:>9} {:>8} {:>9} {:>6}  {}",
                p.patient,
                p.heart_rate.iter().max().unwrap_or(&0),
                p.heart_rate.iter().min().unwrap_or(&0),
                p.spo2.iter().min().unwrap_or(&0),
                a.heart_rate.iter().filter(|&&x| x).count(),
                a.spo2.iter().filter(|&&x| x).count(),
                a.count,
                p.timeline
            );
        }
        println!();
        println!(
            "server: {} PBS on `{}` ({} threads) in {:.2} s: {:.1} PBS/s, mean batch {:.1}, \
             backend busy {:.0} %",
            self.pbs,
            self.backend,
            self.threads,
            self.server_s,
            self.pbs_per_s,
            self.mean_batch_size,
            100.0 * self.backend_busy
        );
        println!(
            "throughput: {:.2} readings/s, {:.2} PBS per reading: this machine monitors {} \
             patients in real time (1 reading/s each)",
            self.readings_per_s, self.pbs_per_reading, self.realtime_patients
        );
        println!(
            "verified: {}/{} alerts match",
            self.verified, self.alert_values
        );
    }
}

pub fn run(args: Args) -> CliResult<()> {
    if args.patients == 0 || args.seconds == 0 {
        return Err(
            CliError::Usage("need at least one patient and one second of readings".into()).into(),
        );
    }
    let rules = AlertRules {
        heart_rate_low: args.hr_low,
        heart_rate_high: args.hr_high,
        spo2_low: args.spo2_low,
        sustained_readings: args.sustained,
    };
    rules.validate()?;
    let params = args.params.resolve()?;
    let backend = args.backend.open()?;

    // Clinic side: keys.
    let t0 = Instant::now();
    let clinic = Clinic::new(params)?;
    let server_key =
        server_key_with_bar(args.output, params, |p| clinic.server_key_with_progress(p))?;
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
        .collect::<glovebox::health::Result<_>>()?;
    let encrypt_s = t1.elapsed().as_secs_f64();
    let reading_bytes = encrypted.first().and_then(|s| s.first()).map_or(0, |r| {
        glovebox::engine::serialization::to_bytes(&r.list).len()
    });

    // Server side: only the server key crosses over.
    let server = MonitoringServer::new(
        Arc::new(server_key),
        backend,
        rules.clone(),
        DriverConfig::default(),
    )?
    .with_casting_key(&clinic.casting_key()?)?
    .with_steps_in_flight(args.steps_in_flight);
    let bar = progress_bar(
        args.output,
        args.seconds as u64,
        "monitoring {bar:40} {pos}/{len} s of readings [{elapsed}, {per_sec}]",
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
        .collect::<glovebox::health::Result<_>>()?;
    let expected: Vec<PatientAlerts> = ward.iter().map(|s| rules.evaluate(s)).collect();
    let total: usize = expected.iter().map(|e| e.values()).sum();
    let matching: usize = decrypted
        .iter()
        .zip(&expected)
        .map(|(d, e)| d.matching(e))
        .sum();

    if let Some(path) = &args.plot {
        let timelines: Vec<super::plot::PatientTimeline> = decrypted
            .iter()
            .zip(&ward)
            .enumerate()
            .map(|(patient, (a, w))| super::plot::PatientTimeline {
                patient,
                heart_rate: w.iter().map(|r| r.heart_rate).collect(),
                spo2: w.iter().map(|r| r.spo2).collect(),
                heart_rate_alert: a.heart_rate.clone(),
                spo2_alert: a.spo2.clone(),
                sustained: a.sustained.clone(),
            })
            .collect();
        super::plot::vitals(
            path,
            &format!(
                "glovebox vitals: {} patients x {} s, alerts computed blind on `{}`, decrypted by \
                 the clinic (seed {})",
                args.patients,
                args.seconds,
                server.backend_name(),
                args.seed
            ),
            &timelines,
            &super::plot::Limits {
                heart_rate_low: rules.heart_rate_low,
                heart_rate_high: rules.heart_rate_high,
                spo2_low: rules.spo2_low,
            },
        )?;
    }
    let readings = args.patients * args.seconds;
    let readings_per_s = readings as f64 / server_s;
    let report = VitalsReport {
        params: params.name,
        backend: server.backend_name().to_string(),
        threads: threads(),
        patients: args.patients,
        seconds: args.seconds,
        seed: args.seed,
        rules,
        ward: decrypted
            .into_iter()
            .zip(&ward)
            .enumerate()
            .map(|(patient, (alerts, w))| PatientRow {
                patient,
                heart_rate: w.iter().map(|r| r.heart_rate).collect(),
                spo2: w.iter().map(|r| r.spo2).collect(),
                timeline: alerts.timeline(),
                alerts,
            })
            .collect(),
        verified: matching,
        alert_values: total,
        keygen_s,
        encrypt_s,
        reading_bytes,
        server_s,
        pbs,
        readings_per_s,
        pbs_per_s: pbs as f64 / server_s,
        pbs_per_reading: pbs as f64 / readings as f64,
        realtime_patients: readings_per_s.floor() as u64,
        mean_batch_size: stats.mean_batch_size,
        backend_busy: stats.backend_busy,
        security: security_level(params),
    };
    report.emit(args.output);
    check_passed(
        total - matching,
        total,
        "decrypted alerts differ from the plaintext rules",
    )
}
