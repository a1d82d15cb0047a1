//! The scaled-out service: one API server that computes nothing (`glovebox serve --no-worker`)
//! and three `glovebox worker` processes, all on one PostgreSQL database (the test script's
//! throwaway cluster), 32 devices posting over TLS on loopback. A worker is killed (SIGKILL)
//! while it holds claimed readings, and PostgreSQL is restarted while the devices post: every
//! acknowledged reading gets exactly one alert, in its device's order, and all decrypt to the
//! rules run on the plaintext.

mod common;
use glovebox::prelude::*;
use glovebox::service::store::{Database, Quotas, Store};
use glovebox::service::{AlertRecord, ClinicClient, DeviceClient, Endpoint, ServiceError};
use glovebox::vitals::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEVICES: usize = 32;
const READINGS: u64 = 8;
/// The workers' lease: a killed worker's readings wait this long.
const LEASE_SECS: &str = "3";

/// Kills the process when dropped (a test that fails leaves none behind).
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `glovebox serve --no-worker` on `database`, over TLS with a certificate made in `dir`.
fn api_server(database: &str, dir: &std::path::Path) -> (Process, Endpoint) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_glovebox"))
        .args([
            "serve",
            "--dev-tls",
            "--no-worker",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--lease-secs", LEASE_SECS, "--database", database])
        .current_dir(dir)
        .env("GLOVEBOX_ALLOW_INSECURE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (_, url) = common::served_url(&mut child);
    let ca = std::fs::read(dir.join("glovebox.dev-cert.pem")).unwrap();
    (Process(child), Endpoint::new(&url, Some(&ca)).unwrap())
}

/// `glovebox worker` on `database` (one thread); `commit_delay_ms` holds each step's results
/// that long before their commit (the victim's, so that it dies holding claimed readings).
fn worker(database: &str, commit_delay_ms: Option<u64>) -> Process {
    let mut command = Command::new(env!("CARGO_BIN_EXE_glovebox"));
    command
        .args(["worker", "--threads", "1", "--batch", "16"])
        .args(["--lease-secs", LEASE_SECS, "--database", database])
        .env("GLOVEBOX_ALLOW_INSECURE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(ms) = commit_delay_ms {
        command.env("GLOVEBOX_FAULT_COMMIT_DELAY_MS", ms.to_string());
    }
    Process(command.spawn().unwrap())
}

/// Posts until acknowledged, through outages (a 503 while PostgreSQL is down); returns the
/// statuses of the refusals met.
fn post_until_acknowledged(device: &DeviceClient, batch: &[(u64, &EncryptedReading)]) -> Vec<u16> {
    let mut refusals = Vec::new();
    let start = Instant::now();
    loop {
        match device.post_readings(batch) {
            Ok(_) => return refusals,
            Err(ServiceError::Status { status, kind, .. }) => {
                assert!(
                    status == 503 && kind == "unavailable",
                    "an outage answered {status} {kind}"
                );
                refusals.push(status);
            }
            Err(e) => panic!("posting: {e}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never acknowledged"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn fetch_all(clinic: &ClinicClient, count: usize) -> Vec<AlertRecord> {
    let mut got = Vec::new();
    let start = Instant::now();
    while got.len() < count && start.elapsed() < Duration::from_secs(180) {
        let since = got.last().map_or(0, |r: &AlertRecord| r.id);
        match clinic.fetch_alerts(since, Duration::from_secs(5)) {
            Ok(more) => got.extend(more),
            Err(ServiceError::Status { status: 503, .. }) => {}
            Err(e) => panic!("fetching: {e}"),
        }
    }
    got
}

/// A worker holding computed but uncommitted readings is killed; PostgreSQL restarts while
/// the devices post. Nothing acknowledged is lost, and every alert is computed once.
#[test]
fn a_killed_worker_and_a_restarted_database_lose_nothing_and_compute_once() {
    let url = common::postgres_database();
    let cluster = std::env::var("GLOVEBOX_TEST_POSTGRES_DIR")
        .expect("GLOVEBOX_TEST_POSTGRES_DIR: the test cluster's directory (scripts/test.sh)");
    let dir = tempfile::tempdir().unwrap();
    let (_api, endpoint) = api_server(&url, dir.path());
    let database = Database::parse(&url);
    let store = Store::open_database(&database).unwrap();
    let secret = glovebox::service::new_token_secret();
    let quotas = Quotas {
        readings_per_second: 100_000,
        ..Quotas::default()
    };
    let enrollment = store
        .create_enrollment(
            &secret,
            glovebox::service::store::now_ms() + 600_000,
            quotas,
        )
        .unwrap();
    let keys = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
    let clinic = ClinicClient::register(
        &endpoint,
        &format!("e{enrollment}.{secret}"),
        &keys.compressed_server_key().unwrap(),
        &keys.compressed_casting_key().unwrap(),
    )
    .unwrap();

    // Each device's stream: heart rates that cross the threshold for a few readings, so that
    // "sustained" depends on the order they are evaluated in.
    let stream = |d: usize| -> Vec<Reading> {
        (0..READINGS)
            .map(|t| {
                let high = (t as usize + d) % 5 < 3;
                Reading::new(
                    if high { 135 } else { 72 },
                    if t as usize % 4 == d % 4 { 88 } else { 97 },
                )
            })
            .collect()
    };
    let device_keys = keys.provision_device();
    let devices: Vec<(DeviceClient, Vec<EncryptedReading>)> = (0..DEVICES)
        .map(|d| {
            let device = clinic.add_device(&format!("patient-{d}")).unwrap();
            let encrypted = stream(d)
                .iter()
                .map(|&r| device_keys.encrypt(r).unwrap())
                .collect();
            (device, encrypted)
        })
        .collect();

    // The victim first, alone, with a commit delay: it claims readings and holds them.
    let mut victim = worker(&url, Some(60_000));
    let post_half = |from: u64, to: u64| -> Vec<u16> {
        let mut refusals = Vec::new();
        std::thread::scope(|s| {
            let handles: Vec<_> = devices
                .iter()
                .map(|(device, encrypted)| {
                    s.spawn(move || {
                        let batch: Vec<(u64, &EncryptedReading)> =
                            (from..to).map(|t| (t, &encrypted[t as usize])).collect();
                        post_until_acknowledged(device, &batch)
                    })
                })
                .collect();
            for h in handles {
                refusals.extend(h.join().unwrap());
            }
        });
        refusals
    };
    post_half(0, READINGS / 2);
    let victim_owner = format!("w{}-", victim.0.id());
    let held = |store: &Store| -> u64 {
        store
            .leases_held(&victim_owner)
            .unwrap_or_else(|e| panic!("reading the leases: {e}"))
    };
    let start = Instant::now();
    while held(&store) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the victim claimed nothing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    victim.0.kill().unwrap(); // SIGKILL
    victim.0.wait().unwrap();
    assert!(held(&store) > 0, "the victim died holding claimed readings");
    let (_, pending, alerts) = store.counts().unwrap();
    assert_eq!(alerts, 0, "the victim committed nothing");
    assert_eq!(pending, DEVICES as u64 * READINGS / 2);

    // Three live workers; PostgreSQL is down for three seconds while the second half is
    // posted: the API answers 503 (JSON, kind "unavailable"), the devices retry.
    let _workers: Vec<Process> = (0..3).map(|_| worker(&url, None)).collect();
    let refusals = std::thread::scope(|s| {
        let restart = s.spawn(|| {
            let status = Command::new("bash")
                .args(["scripts/postgres.sh", "restart", &cluster, "3"])
                .status()
                .unwrap();
            assert!(status.success(), "restarting PostgreSQL");
        });
        std::thread::sleep(Duration::from_millis(1000));
        let refusals = post_half(READINGS / 2, READINGS);
        restart.join().unwrap();
        refusals
    });
    assert!(
        !refusals.is_empty(),
        "posts during the outage were answered 503"
    );
    eprintln!(
        "{} posts answered 503 while PostgreSQL was down (retried)",
        refusals.len()
    );

    let total = DEVICES * READINGS as usize;
    let alerts = fetch_all(&clinic, total);
    assert_eq!(alerts.len(), total, "every acknowledged reading's alert");
    let mut by_device: std::collections::BTreeMap<i64, Vec<&AlertRecord>> = Default::default();
    for a in &alerts {
        by_device.entry(a.device_id).or_default().push(a);
    }
    assert_eq!(by_device.len(), DEVICES);
    for (d, (device, _)) in devices.iter().enumerate() {
        let got = &by_device[&device.device_id()];
        assert_eq!(
            got.iter().map(|a| a.seq).collect::<Vec<_>>(),
            (0..READINGS).collect::<Vec<_>>(),
            "device {d}: each reading once, in order"
        );
        let want = AlertRules::default().evaluate(&stream(d));
        for a in got {
            let t = a.seq as usize;
            assert_eq!(
                keys.decrypt_flag(&a.heart_rate).unwrap(),
                want.heart_rate[t]
            );
            assert_eq!(keys.decrypt_flag(&a.spo2).unwrap(), want.spo2[t]);
            assert_eq!(keys.decrypt_flag(&a.any).unwrap(), want.any[t]);
            assert_eq!(
                keys.decrypt_flag(&a.sustained).unwrap(),
                want.sustained[t],
                "device {d}, reading {t}"
            );
        }
    }
    let store = Store::open_database(&database).unwrap();
    assert_eq!(store.counts().unwrap(), (total as u64, 0, total as u64));
}

/// A worker needs a shared store, and so does a server that leaves its jobs to workers: on
/// SQLite both are usage errors (exit code 2), not a server whose jobs nobody computes.
#[test]
fn workers_need_a_shared_store() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clinic.sqlite");
    for args in [
        vec!["worker", "--database", file.to_str().unwrap()],
        vec![
            "serve",
            "--no-worker",
            "--listen",
            "127.0.0.1:0",
            "--database",
            file.to_str().unwrap(),
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_glovebox"))
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("postgres://"), "{args:?}: {stderr}");
    }
    assert!(!file.exists(), "no store was created");
}
