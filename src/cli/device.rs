//! `glovebox device`: simulated wearables streaming encrypted readings to a server.

use super::clinic::ClinicFiles;
use super::{progress_bar, CliResult, OutputArgs, Report};
use glovebox::service::{DeviceClient, ServiceError};
use glovebox::vitals::{simulate_ward, EncryptedReading};
use rayon::prelude::*;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Simulated wearables: each patient's device encrypts a heart rate and an SpO2 reading per
/// tick and posts it to the clinic's server. The devices are provisioned by the clinic (they
/// encrypt under its key, read from `--clinic`; the key never leaves this machine); one device
/// per patient is added at the server the first time.
#[derive(clap::Args)]
pub struct Args {
    /// The clinic's directory (`glovebox clinic register`).
    #[arg(long, default_value = "glovebox-clinic")]
    pub clinic: PathBuf,
    /// Patients (one wearable each: patient-1, patient-2, …).
    #[arg(long, default_value_t = 4)]
    pub patients: usize,
    /// Seconds of readings per patient.
    #[arg(long, default_value_t = 30)]
    pub seconds: usize,
    /// Readings per second per device (0: as fast as the server acknowledges).
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Seed of the simulated vitals.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Serialize)]
struct Streamed {
    patients: usize,
    readings: usize,
    accepted: usize,
    replays: usize,
    seconds: f64,
    readings_per_second: f64,
}

impl Report for Streamed {
    fn print_table(&self) {
        println!(
            "{} devices sent {} encrypted readings in {:.1} s ({:.1} readings/s): {} committed, {} replays ignored",
            self.patients, self.readings, self.seconds, self.readings_per_second, self.accepted, self.replays
        );
        println!("`glovebox clinic alerts` fetches and decrypts their alerts");
    }
}

pub fn run(args: Args) -> CliResult<()> {
    let mut files = ClinicFiles::open(&args.clinic)?;
    let ward = simulate_ward(args.patients, args.seconds, args.seed);
    let mut devices = Vec::with_capacity(args.patients);
    for p in 0..args.patients {
        let entry = files.device(&format!("patient-{}", p + 1))?;
        devices.push((
            DeviceClient::connect(&files.state.url, &entry.token)?,
            entry.next_seq,
        ));
    }
    let sensor = files.keys.provision_device();
    let bar = progress_bar(
        args.output,
        (args.patients * args.seconds) as u64,
        "streaming {bar:40} {pos}/{len} readings [{elapsed}]",
    );
    let tick = (args.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / args.rate));
    let start = Instant::now();
    let (mut accepted, mut replays) = (0, 0);
    for t in 0..args.seconds {
        if let Some(tick) = tick {
            let due = start + tick * t as u32;
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let outcomes: Vec<Result<_, ServiceError>> = devices
            .par_iter()
            .zip(&ward)
            .map(|((device, first), stream)| {
                let reading: EncryptedReading = sensor.encrypt(stream[t])?;
                device.post_readings(&[(first + t as u64, &reading)])
            })
            .collect();
        for o in outcomes {
            let o = o?;
            accepted += o.accepted;
            replays += o.replays.len();
        }
        bar.inc(args.patients as u64);
    }
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    for (p, (_, first)) in devices.iter().enumerate() {
        let name = format!("patient-{}", p + 1);
        if let Some(d) = files.state.devices.iter_mut().find(|d| d.patient == name) {
            d.next_seq = first + args.seconds as u64;
        }
    }
    files.save()?;
    let readings = args.patients * args.seconds;
    Streamed {
        patients: args.patients,
        readings,
        accepted,
        replays,
        seconds,
        readings_per_second: readings as f64 / seconds,
    }
    .emit(args.output);
    Ok(())
}
