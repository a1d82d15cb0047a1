//! `glovebox device`: simulated wearables streaming encrypted readings to a server.

use super::clinic::{endpoint_in, io, write_private, DeviceEntry};
use super::{progress_bar, CliResult, OutputArgs, Report};
use glovebox::engine::serialization::{from_bytes, to_bytes};
use glovebox::engine::shortint::public_key::CompactPublicKey;
use glovebox::prelude::Parameters;
use glovebox::service::{DeviceClient, ServiceError};
use glovebox::vitals::{simulate_ward, Device, EncryptedReading};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Simulated wearables: each patient's device encrypts a heart rate and an SpO2 reading per
/// tick under the clinic's compact public key and posts it to the clinic's server. The devices
/// come from a device directory (`glovebox clinic provision`): the public key and their
/// tokens, nothing that decrypts. Each device's next sequence number is saved after every
/// acknowledged tick.
#[derive(clap::Args)]
pub struct Args {
    /// The device directory (`glovebox clinic provision --out`).
    #[arg(long, default_value = "glovebox-devices")]
    pub devices: PathBuf,
    /// Patients (the directory's first N devices: patient-1, patient-2, …).
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

/// `devices.json` of a device directory.
#[derive(Clone, Serialize, Deserialize)]
pub struct FleetState {
    pub url: String,
    pub params: String,
    pub key_id: u64,
    pub devices: Vec<DeviceEntry>,
}

/// A device directory: `public.key` (the clinic's compact public key), `devices.json`, and
/// `server-ca.pem` (the server's certificate) when the clinic has one.
pub struct DeviceFleet {
    pub dir: PathBuf,
    pub public: CompactPublicKey,
    pub state: FleetState,
}

impl DeviceFleet {
    /// Writes (or updates) the directory: the public key, and `devices` merged with those
    /// already there (a device's saved sequence number is kept).
    pub fn write(
        dir: &Path,
        url: &str,
        public: &CompactPublicKey,
        devices: Vec<DeviceEntry>,
    ) -> Result<Self, ServiceError> {
        std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
        let params = glovebox::engine::parameters::ALL
            .iter()
            .find(|p| p.fingerprint() == public.compute_fingerprint())
            .ok_or_else(|| ServiceError::BadRequest("the public key's set is unknown".into()))?;
        let old = Self::open(dir).ok();
        let mut merged = Vec::with_capacity(devices.len());
        for mut d in devices {
            if let Some(o) = old.as_ref().and_then(|f| {
                f.state
                    .devices
                    .iter()
                    .find(|o| o.device_id == d.device_id && f.state.key_id == public.key_id())
            }) {
                d.next_seq = d.next_seq.max(o.next_seq);
            }
            merged.push(d);
        }
        let fleet = Self {
            dir: dir.to_path_buf(),
            public: public.clone(),
            state: FleetState {
                url: url.to_string(),
                params: params.name.to_string(),
                key_id: public.key_id(),
                devices: merged,
            },
        };
        write_private(&dir.join("public.key"), &to_bytes(public))?;
        fleet.save()?;
        Ok(fleet)
    }

    /// Opens a device directory.
    pub fn open(dir: &Path) -> Result<Self, ServiceError> {
        let state_path = dir.join("devices.json");
        let bytes = std::fs::read(&state_path).map_err(|e| {
            io(
                "reading (run `glovebox clinic provision` first)",
                &state_path,
                e,
            )
        })?;
        let state: FleetState = serde_json::from_slice(&bytes)
            .map_err(|e| ServiceError::BadRequest(format!("{}: {e}", state_path.display())))?;
        let params = Parameters::by_name(&state.params)?;
        let key_path = dir.join("public.key");
        let bytes = std::fs::read(&key_path).map_err(|e| io("reading", &key_path, e))?;
        let public: CompactPublicKey = from_bytes(&bytes, params, Some(state.key_id), 1 << 22)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            public,
            state,
        })
    }

    /// Saves `devices.json` (atomically).
    pub fn save(&self) -> Result<(), ServiceError> {
        let json = serde_json::to_vec_pretty(&self.state).expect("plain JSON");
        write_private(&self.dir.join("devices.json"), &json)
    }
}

pub fn run(args: Args) -> CliResult<()> {
    let mut fleet = DeviceFleet::open(&args.devices)?;
    if fleet.state.devices.len() < args.patients {
        return Err(ServiceError::BadRequest(format!(
            "{} holds {} devices; `glovebox clinic provision --patients {}` adds the rest",
            args.devices.display(),
            fleet.state.devices.len(),
            args.patients
        ))
        .into());
    }
    let ward = simulate_ward(args.patients, args.seconds, args.seed);
    let endpoint = endpoint_in(&fleet.dir, &fleet.state.url)?;
    let mut devices = Vec::with_capacity(args.patients);
    for entry in &fleet.state.devices[..args.patients] {
        devices.push((
            DeviceClient::connect(&endpoint, &entry.token)?,
            entry.next_seq,
        ));
    }
    let sensor = Device::new(fleet.public.clone());
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
        // Every acknowledged reading moves its device's next sequence number on, saved before
        // the next tick: an interrupted run resumes after what the server holds.
        let mut failed = None;
        for ((entry, (_, first)), o) in fleet.state.devices.iter_mut().zip(&devices).zip(outcomes) {
            match o {
                Ok(o) => {
                    accepted += o.accepted;
                    replays += o.replays.len();
                    entry.next_seq = entry.next_seq.max(first + t as u64 + 1);
                }
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        fleet.save()?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        bar.inc(args.patients as u64);
    }
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
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
