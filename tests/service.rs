//! The clinic service end to end: the real server on a loopback port with a temporary SQLite
//! database, driven by the real clients. Every decrypted alert equals the rules run on the
//! plaintext; replays are not double-counted; bad requests get their 4xx and a JSON error,
//! with nothing stored.

mod common;
use common::FaultingBackend;
use glovebox::engine::serialization::to_bytes;
use glovebox::engine::shortint::public_key::CompactPrivateKey;
use glovebox::prelude::*;
use glovebox::service::store::{Database, Store};
use glovebox::service::{serve, tls, ClinicClient, Endpoint, ServiceConfig, ServiceError};
use glovebox::vitals::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Running {
    url: String,
    /// The server's self-signed certificate (PEM), `None` for plain HTTP.
    ca: Option<String>,
    database: Database,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Running {
    /// The server as its clients reach it (trusting its certificate).
    fn endpoint(&self) -> Endpoint {
        Endpoint::new(&self.url, self.ca.as_deref().map(str::as_bytes)).unwrap()
    }
}

/// The service in-process on a loopback port, over TLS (a self-signed certificate).
fn start() -> Running {
    start_with(|_| {})
}

/// Starts the server (over TLS) on a database that `prepare` wrote first.
fn start_with(prepare: impl FnOnce(&std::path::Path)) -> Running {
    start_on(true, prepare)
}

fn start_on(with_tls: bool, prepare: impl FnOnce(&std::path::Path)) -> Running {
    start_configured(with_tls, prepare, |_| {})
}

/// The database a test's server runs on.
#[derive(Clone, Copy, Debug)]
enum Db {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A new database in the test PostgreSQL cluster ([`common::postgres_database`]).
    Postgres,
}

/// The service over TLS on a new database of kind `db`.
fn start_in(db: Db) -> Running {
    match db {
        Db::Sqlite => start(),
        Db::Postgres => start_at(
            Some(Database::Postgres(common::postgres_database())),
            true,
            |_| {},
            |_| {},
        ),
    }
}

fn start_configured(
    with_tls: bool,
    prepare: impl FnOnce(&std::path::Path),
    configure: impl FnOnce(&mut ServiceConfig),
) -> Running {
    start_at(None, with_tls, prepare, configure)
}

/// Starts the server on `database` (`None`: a SQLite file that `prepare` wrote first).
fn start_at(
    database: Option<Database>,
    with_tls: bool,
    prepare: impl FnOnce(&std::path::Path),
    configure: impl FnOnce(&mut ServiceConfig),
) -> Running {
    std::env::set_var("GLOVEBOX_ALLOW_INSECURE", "1");
    let dir = tempfile::tempdir().unwrap();
    let database = database.unwrap_or_else(|| {
        let file = dir.path().join("clinic.sqlite");
        prepare(&file);
        Database::Sqlite(file)
    });
    let mut config = ServiceConfig::new(database.clone(), Arc::new(CpuFftBackend::new()));
    configure(&mut config);
    let ca = with_tls.then(|| {
        let (cert, key) = tls::self_signed(&["127.0.0.1"]).unwrap();
        config.tls = Some(tls::server_config(cert.as_bytes(), key.as_bytes()).unwrap());
        cert
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let scheme = if with_tls { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        runtime
            .block_on(serve(listener, config, async {
                let _ = rx.await;
            }))
            .unwrap();
    });
    Running {
        url,
        ca,
        database,
        stop: Some(tx),
        thread: Some(thread),
        _dir: dir,
    }
}

/// Fetches until `count` records arrived (or a minute passed).
fn fetch_all(clinic: &ClinicClient, count: usize) -> Vec<AlertRecord> {
    let mut got = Vec::new();
    let start = Instant::now();
    while got.len() < count && start.elapsed() < Duration::from_secs(120) {
        let since = got.last().map_or(0, |r: &AlertRecord| r.id);
        got.extend(clinic.fetch_alerts(since, Duration::from_secs(5)).unwrap());
    }
    got
}

use glovebox::service::{AlertRecord, AnalysisRecord};

/// Fetches analyses until `count` arrived (or two minutes passed).
fn fetch_all_analyses(clinic: &ClinicClient, count: usize) -> Vec<AnalysisRecord> {
    let mut got = Vec::new();
    let start = Instant::now();
    while got.len() < count && start.elapsed() < Duration::from_secs(120) {
        let since = got.last().map_or(0, |a: &AnalysisRecord| a.id);
        got.extend(
            clinic
                .fetch_analyses(since, Duration::from_secs(5))
                .unwrap(),
        );
    }
    got
}

/// An enrollment token made in the server's store (what `glovebox serve enroll` does).
fn enroll_in(database: &Database) -> String {
    let secret = glovebox::service::new_token_secret();
    let expires = glovebox::service::store::now_ms() + 3_600_000;
    let id = Store::open_database(database)
        .unwrap()
        .create_enrollment(&secret, expires, Default::default())
        .unwrap();
    format!("e{id}.{secret}")
}

/// `keys` registered at the server of `database` (reached at `endpoint`) with a fresh
/// enrollment token: their compressed server and casting keys.
fn register_keys(endpoint: &Endpoint, database: &Database, keys: &Clinic) -> ClinicClient {
    ClinicClient::register(
        endpoint,
        &enroll_in(database),
        &keys.compressed_server_key().unwrap(),
        &keys.compressed_casting_key().unwrap(),
    )
    .unwrap()
}

/// A clinic's keys, registered at `server`.
fn register(server: &Running) -> (Clinic, ClinicClient) {
    let keys = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
    let client = register_keys(&server.endpoint(), &server.database, &keys);
    (keys, client)
}

#[test]
fn readings_in_alerts_out_equal_to_the_plaintext_rules() {
    readings_in_alerts_out_equal_to_the_plaintext_rules_on(Db::Sqlite);
}

#[test]
fn postgres_readings_in_alerts_out_equal_to_the_plaintext_rules() {
    readings_in_alerts_out_equal_to_the_plaintext_rules_on(Db::Postgres);
}

fn readings_in_alerts_out_equal_to_the_plaintext_rules_on(db: Db) {
    let server = start_in(db);
    let (clinic_keys, clinic) = register(&server);
    // Episodes that raise every flag: tachycardia sustained over readings 1–4 (with a
    // desaturation and bradycardia at 4), then a calm stream with one isolated alert.
    let r = Reading::new;
    let ward = vec![
        vec![
            r(80, 97),
            r(130, 97),
            r(135, 96),
            r(140, 97),
            r(40, 85),
            r(80, 97),
        ],
        vec![
            r(70, 98),
            r(72, 98),
            r(45, 98),
            r(71, 97),
            r(73, 98),
            r(74, 90),
        ],
    ];
    let rules = AlertRules::default();
    let expected: Vec<PatientAlerts> = ward.iter().map(|s| rules.evaluate(s)).collect();
    assert!(
        expected[0].sustained.iter().any(|&x| x),
        "the ward exercises 'sustained'"
    );
    assert!(expected.iter().any(|e| e.spo2.iter().any(|&x| x)));
    let device = clinic_keys.provision_device();
    let mut devices = Vec::new();
    for (p, stream) in ward.iter().enumerate() {
        let d = clinic.add_device(&format!("patient {p}")).unwrap();
        let encrypted: Vec<EncryptedReading> =
            stream.iter().map(|&r| device.encrypt(r).unwrap()).collect();
        // Two posts, the second replaying one reading of the first.
        let first: Vec<(u64, &EncryptedReading)> = encrypted[..4]
            .iter()
            .enumerate()
            .map(|(i, r)| (i as u64, r))
            .collect();
        let out = d.post_readings(&first).unwrap();
        assert_eq!((out.accepted, out.replays.len()), (4, 0));
        let second: Vec<(u64, &EncryptedReading)> =
            (3..6).map(|i| (i as u64, &encrypted[i])).collect();
        let out = d.post_readings(&second).unwrap();
        assert_eq!(out.accepted, 2);
        assert_eq!(out.replays, vec![3]);
        devices.push(d);
    }
    let records = fetch_all(&clinic, 12);
    assert_eq!(records.len(), 12, "every reading's alerts, once");
    for (p, want) in expected.iter().enumerate() {
        let mut mine: Vec<&AlertRecord> = records
            .iter()
            .filter(|r| r.device_id == devices[p].device_id())
            .collect();
        mine.sort_by_key(|r| r.seq);
        assert_eq!(mine.len(), 6);
        for (t, r) in mine.iter().enumerate() {
            assert_eq!(r.seq, t as u64);
            let got = [
                clinic_keys.decrypt_flag(&r.heart_rate).unwrap(),
                clinic_keys.decrypt_flag(&r.spo2).unwrap(),
                clinic_keys.decrypt_flag(&r.any).unwrap(),
                clinic_keys.decrypt_flag(&r.sustained).unwrap(),
            ];
            let expected = [
                want.heart_rate[t],
                want.spo2[t],
                want.any[t],
                want.sustained[t],
            ];
            assert_eq!(got, expected, "patient {p}, reading {t}");
        }
    }
    let (stored, pending, alerts) = Store::open_database(&server.database)
        .unwrap()
        .counts()
        .unwrap();
    assert_eq!((stored, pending, alerts), (12, 0, 12));
}

#[test]
fn bad_requests_get_their_status_and_store_nothing() {
    bad_requests_get_their_status_and_store_nothing_on(Db::Sqlite);
}

#[test]
fn postgres_bad_requests_get_their_status_and_store_nothing() {
    bad_requests_get_their_status_and_store_nothing_on(Db::Postgres);
}

fn bad_requests_get_their_status_and_store_nothing_on(db: Db) {
    let server = start_in(db);
    let params = TEST_PARAMS_INSECURE;
    let keys = Clinic::new(&params).unwrap();
    let other = Clinic::new(&params).unwrap();
    let clinic = register_keys(&server.endpoint(), &server.database, &keys);
    let other_clinic = register_keys(&server.endpoint(), &server.database, &other);
    let d = clinic.add_device("p").unwrap();
    let reading = keys
        .provision_device()
        .encrypt(Reading::new(80, 97))
        .unwrap();
    let foreign = other
        .provision_device()
        .encrypt(Reading::new(80, 97))
        .unwrap();
    // Every bad request as raw HTTP: (what, method, path, token, body, expected status).
    let reading_body = |seq: u64, env: Vec<u8>| {
        let mut b = seq.to_le_bytes().to_vec();
        b.extend_from_slice(&(env.len() as u32).to_le_bytes());
        b.extend_from_slice(&env);
        b
    };
    let other_params = ClientKey::new(&PARAM_MESSAGE_2_CARRY_2_KS_PBS).unwrap();
    let under_other_params: Vec<Ciphertext> =
        (0..8).map(|_| other_params.encrypt(1).unwrap()).collect();
    let reading_under_other_params = to_bytes(
        &CompactPrivateKey::new(&other_params)
            .unwrap()
            .public_key()
            .unwrap()
            .encrypt_packed(&[1, 2, 3, 4])
            .unwrap(),
    );
    let registration = |server_key: Vec<u8>, casting_key: Vec<u8>| {
        glovebox::service::wire::encode_registration(&server_key, &casting_key)
    };
    let server_key = to_bytes(&keys.compressed_server_key().unwrap());
    let casting_key = to_bytes(&keys.compressed_casting_key().unwrap());
    let mut cut = Vec::new();
    cut.extend_from_slice(&0u64.to_le_bytes());
    cut.extend_from_slice(&100u32.to_le_bytes());
    cut.extend_from_slice(&[0; 10]);
    let mut garbage = Vec::new();
    garbage.extend_from_slice(&0u64.to_le_bytes());
    garbage.extend_from_slice(&40u32.to_le_bytes());
    garbage.extend_from_slice(&[7; 40]);
    let forged = format!("c{}.{}", clinic.clinic_id(), "00".repeat(32));
    let device_token = d.token().to_string();
    // An enrollment token for the registration rows (none of them registers, so none uses
    // it), and one used already.
    let enrollment = enroll_in(&server.database);
    let used_enrollment = {
        let t = enroll_in(&server.database);
        let other = Clinic::new(&params).unwrap();
        ClinicClient::register(
            &server.endpoint(),
            &t,
            &other.compressed_server_key().unwrap(),
            &other.compressed_casting_key().unwrap(),
        )
        .unwrap();
        t
    };
    let clinic_token = clinic.token().to_string();
    let record = |q: &str| format!("/v1/records?patient=p&test=glucose&{q}");
    let value = to_bytes(
        &keys
            .encrypt_lab_value(7)
            .unwrap()
            .blocks()
            .iter()
            .map(|b| b.ciphertext().clone())
            .collect::<Vec<_>>(),
    );
    let foreign_value = to_bytes(
        &other
            .encrypt_lab_value(7)
            .unwrap()
            .blocks()
            .iter()
            .map(|b| b.ciphertext().clone())
            .collect::<Vec<_>>(),
    );
    let cases: Vec<(&str, &str, String, Option<&str>, Vec<u8>, u16)> = vec![
        (
            "reading under another clinic's key",
            "POST",
            "/v1/readings".into(),
            Some(&device_token),
            reading_body(0, to_bytes(&foreign.list)),
            422,
        ),
        (
            "reading under another parameter set",
            "POST",
            "/v1/readings".into(),
            Some(&device_token),
            reading_body(0, reading_under_other_params.clone()),
            422,
        ),
        (
            "readings: 3 bytes",
            "POST",
            "/v1/readings".into(),
            Some(&device_token),
            vec![1, 2, 3],
            400,
        ),
        (
            "readings: empty",
            "POST",
            "/v1/readings".into(),
            Some(&device_token),
            vec![],
            400,
        ),
        (
            "readings: a record cut short",
            "POST",
            "/v1/readings".into(),
            Some(&device_token),
            cut.clone(),
            400,
        ),
        (
            "readings: a garbage envelope",
            "POST",
            "/v1/readings".into(),
            Some(&device_token),
            garbage.clone(),
            422,
        ),
        (
            "readings without a token",
            "POST",
            "/v1/readings".into(),
            None,
            reading_body(0, to_bytes(&reading.list)),
            401,
        ),
        (
            "readings with a clinic token",
            "POST",
            "/v1/readings".into(),
            Some(&clinic_token),
            reading_body(0, to_bytes(&reading.list)),
            401,
        ),
        (
            "alerts with a forged secret",
            "GET",
            "/v1/alerts".into(),
            Some(&forged),
            vec![],
            401,
        ),
        (
            "a device added with a forged secret",
            "POST",
            "/v1/devices".into(),
            Some(&forged),
            br#"{"patient":"x"}"#.to_vec(),
            401,
        ),
        (
            "a device without a patient",
            "POST",
            "/v1/devices".into(),
            Some(&clinic_token),
            b"{}".to_vec(),
            400,
        ),
        (
            "registration without an enrollment token",
            "POST",
            "/v1/clinics".into(),
            None,
            registration(server_key.clone(), casting_key.clone()),
            401,
        ),
        (
            "registration with a used enrollment token",
            "POST",
            "/v1/clinics".into(),
            Some(&used_enrollment),
            registration(server_key.clone(), casting_key.clone()),
            401,
        ),
        (
            "registration with a clinic token",
            "POST",
            "/v1/clinics".into(),
            Some(&clinic_token),
            registration(server_key.clone(), casting_key.clone()),
            401,
        ),
        (
            "registration: garbage",
            "POST",
            "/v1/clinics".into(),
            Some(&enrollment),
            vec![7; 100],
            400,
        ),
        (
            "registration: garbage in the frame",
            "POST",
            "/v1/clinics".into(),
            Some(&enrollment),
            registration(vec![7; 100], casting_key.clone()),
            422,
        ),
        (
            "registration: the server key alone",
            "POST",
            "/v1/clinics".into(),
            Some(&enrollment),
            {
                let mut b = Vec::new();
                glovebox::service::wire::put_record(&mut b, &[], &server_key);
                b
            },
            400,
        ),
        (
            "registration: a client key (a secret!)",
            "POST",
            "/v1/clinics".into(),
            Some(&enrollment),
            registration(to_bytes(keys.client_key()), casting_key.clone()),
            422,
        ),
        (
            "registration: a compact private key (a secret!) as the casting key",
            "POST",
            "/v1/clinics".into(),
            Some(&enrollment),
            registration(server_key.clone(), to_bytes(keys.compact_key())),
            422,
        ),
        (
            "registration: another clinic's casting key",
            "POST",
            "/v1/clinics".into(),
            Some(&enrollment),
            registration(
                server_key.clone(),
                to_bytes(&other.compressed_casting_key().unwrap()),
            ),
            422,
        ),
        (
            "registration: a key under an unknown parameter set",
            "POST",
            "/v1/clinics".into(),
            Some(&enrollment),
            {
                let mut b = server_key.clone();
                b[8] ^= 1;
                registration(b, casting_key.clone())
            },
            422,
        ),
        (
            "record: a value under another clinic's key",
            "POST",
            record("date=2026-01-01"),
            Some(&clinic_token),
            foreign_value.clone(),
            422,
        ),
        (
            "record: a value under another parameter set",
            "POST",
            record("date=2026-01-01"),
            Some(&clinic_token),
            to_bytes(&under_other_params),
            422,
        ),
        (
            "record: a bad date",
            "POST",
            record("date=2026-02-30x"),
            Some(&clinic_token),
            value.clone(),
            400,
        ),
        (
            "record: a window of 9",
            "POST",
            record("date=2026-01-01&window=9"),
            Some(&clinic_token),
            value.clone(),
            400,
        ),
        (
            "record: with a device token",
            "POST",
            record("date=2026-01-01"),
            Some(&device_token),
            value.clone(),
            401,
        ),
        (
            "cohort of a test nobody took",
            "POST",
            "/v1/cohorts".into(),
            Some(&clinic_token),
            br#"{"test":"none","threshold":1}"#.to_vec(),
            404,
        ),
        (
            "cohort: malformed",
            "POST",
            "/v1/cohorts".into(),
            Some(&clinic_token),
            b"{".to_vec(),
            400,
        ),
        (
            "a cohort that does not exist",
            "GET",
            "/v1/cohorts/99".into(),
            Some(&clinic_token),
            vec![],
            404,
        ),
        (
            "a cohort id that is not a number",
            "GET",
            "/v1/cohorts/abc".into(),
            Some(&clinic_token),
            vec![],
            400,
        ),
        (
            "alerts: a query that does not parse",
            "GET",
            "/v1/alerts?since=yesterday".into(),
            Some(&clinic_token),
            vec![],
            400,
        ),
        (
            "record: February 30th",
            "POST",
            record("date=2026-02-30"),
            Some(&clinic_token),
            value.clone(),
            400,
        ),
        (
            "a route that does not exist",
            "GET",
            "/v1/nothing".into(),
            Some(&clinic_token),
            vec![],
            404,
        ),
        (
            "a route with another method",
            "PUT",
            "/v1/alerts".into(),
            Some(&clinic_token),
            vec![],
            405,
        ),
    ];
    for (what, method, path, token, body, want) in &cases {
        let mut request = server
            .endpoint()
            .agent()
            .request(method, &format!("{}{path}", server.url));
        if let Some(t) = token {
            request = request.set("Authorization", &format!("Bearer {t}"));
        }
        let result = if *method == "GET" {
            request.call()
        } else {
            request.send_bytes(body)
        };
        match result {
            Err(ureq::Error::Status(status, response)) => {
                let header = response.header("x-request-id").map(str::to_string);
                let json: serde_json::Value = response.into_json().unwrap_or_default();
                assert_eq!(status, *want, "{what}: {json}");
                assert_eq!(header.as_deref(), json["request_id"].as_str(), "{what}");
                assert!(
                    json["error"].is_string()
                        && json["kind"].is_string()
                        && json["request_id"].as_str().is_some_and(|id| id.len() == 16),
                    "{what}: a JSON error body with the request id, got {json}"
                );
            }
            other => panic!("{what}: expected {want}, got {other:?}"),
        }
    }
    // A body over the limit (declared by its length; the server answers before reading it).
    // Raw HTTP/1.1 over a socket (written and read at once from two threads), so on a plain
    // loopback server of the same configuration; a token of that server's own device.
    let plain = start_on(false, |_| {});
    let (_, plain_clinic) = register(&plain);
    let plain_device = plain_clinic.add_device("p").unwrap();
    let plain_enrollment = enroll_in(&plain.database);
    for (path, token) in [
        ("/v1/clinics", plain_enrollment.as_str()),
        ("/v1/readings", plain_device.token()),
    ] {
        use std::io::{Read, Write};
        let mut tcp =
            std::net::TcpStream::connect(plain.url.trim_start_matches("http://")).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            tcp,
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            (64usize << 20) + 1
        )
        .unwrap();
        // The body is written from another thread, errors ignored: the server may answer and
        // close before it has all of it.
        let mut writer = tcp.try_clone().unwrap();
        let feeding = std::thread::spawn(move || {
            let chunk = vec![0u8; 1 << 20];
            for _ in 0..65 {
                if writer.write_all(&chunk).is_err() {
                    return;
                }
            }
        });
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        assert!(
            answer.contains("\"kind\":\"too_large\""),
            "{path}: {answer}"
        );
        feeding.join().unwrap();
    }
    // Nothing of the above was stored (the refused registrations neither: three clinics);
    // another clinic sees none of this one's rows.
    let store = Store::open_database(&server.database).unwrap();
    assert_eq!(store.clinic_count().unwrap(), 3);
    assert_eq!(store.counts().unwrap().0, 0);
    assert_eq!(store.record_counts().unwrap().0, 0);
    d.post_readings(&[(0, &reading)]).unwrap();
    let mine = fetch_all(&clinic, 1);
    assert_eq!(mine.len(), 1);
    assert!(other_clinic
        .fetch_alerts(0, Duration::ZERO)
        .unwrap()
        .is_empty());
}

/// `glovebox serve` as a child process on a loopback port; returns it and its URL.
/// With `commit_delay_ms`, the worker waits that long between computing results and
/// committing them (the server's fault-injection hook).
/// `glovebox serve --dev-tls` as a child process: the child, and the server as its clients
/// reach it (trusting the certificate it wrote beside the database).
fn spawn_server(
    database: &std::path::Path,
    commit_delay_ms: Option<u64>,
) -> (std::process::Child, Endpoint) {
    spawn_server_with(database, commit_delay_ms, &[])
}

fn spawn_server_with(
    database: &std::path::Path,
    commit_delay_ms: Option<u64>,
    envs: &[(&str, &str)],
) -> (std::process::Child, Endpoint) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_glovebox"));
    command.envs(envs.iter().copied());
    command
        .args([
            "serve",
            "--dev-tls",
            "--listen",
            "127.0.0.1:0",
            "--database",
        ])
        .arg(database)
        .env("GLOVEBOX_ALLOW_INSECURE", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    if let Some(ms) = commit_delay_ms {
        command.env("GLOVEBOX_FAULT_COMMIT_DELAY_MS", ms.to_string());
    }
    let mut child = command.spawn().unwrap();
    let (line, url) = common::served_url(&mut child);
    assert!(line.contains("SHA-256"), "{line}");
    let ca = std::fs::read(format!("{}.dev-cert.pem", database.display())).unwrap();
    (child, Endpoint::new(&url, Some(&ca)).unwrap())
}

/// The crash test: the server is killed with SIGKILL while a device streams and while its
/// worker holds computed but uncommitted results (the commit-delay hook makes sure of it);
/// after a restart on the same database every acknowledged reading and record is stored
/// exactly once, every alert and analysis is computed exactly once, and they decrypt to the
/// plaintext computation.
#[test]
fn a_killed_server_loses_nothing_acknowledged_and_computes_every_alert_once() {
    use glovebox::records::reference_analysis;
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("clinic.sqlite");
    let (mut child, url) = spawn_server(&database, Some(300));
    let keys = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
    let clinic = register_keys(&url, &database.clone().into(), &keys);
    let ca_path = format!("{}.dev-cert.pem", database.display());
    let first_certificate = std::fs::read(&ca_path).unwrap();
    let token = clinic.token().to_string();
    let stream: Vec<Reading> = (0..40)
        .map(|t| {
            Reading::new(
                if t % 7 < 4 { 130 } else { 75 },
                if t % 11 == 0 { 85 } else { 97 },
            )
        })
        .collect();
    let device_keys = keys.provision_device();
    let encrypted: Vec<EncryptedReading> = stream
        .iter()
        .map(|&r| device_keys.encrypt(r).unwrap())
        .collect();
    let device = clinic.add_device("p").unwrap();
    let glucose = [110u16, 95, 140, 139];
    for (day, &v) in glucose.iter().enumerate() {
        let ct = keys.encrypt_lab_value(v).unwrap();
        let date = format!("2026-06-{:02}", day + 1);
        assert!(
            !clinic
                .post_record("p", "glucose", &date, &ct, 20, 2)
                .unwrap()
                .replay
        );
    }
    // Post in batches of 4; kill the server after the fifth acknowledgement.
    let mut acknowledged = Vec::new();
    for (b, chunk) in encrypted.chunks(4).enumerate() {
        let batch: Vec<(u64, &EncryptedReading)> = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| ((4 * b + i) as u64, r))
            .collect();
        if b == 5 {
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
            // The kill hit unfinished work: readings and records still pending.
            let store = Store::open(&database).unwrap();
            let (_, pending, _) = store.counts().unwrap();
            let (_, records_pending, _, _) = store.record_counts().unwrap();
            assert!(
                pending > 0 && records_pending > 0,
                "{pending} {records_pending}"
            );
            assert!(
                device.post_readings(&batch).is_err(),
                "posted to a dead server"
            );
            continue;
        }
        if b > 5 {
            break;
        }
        device.post_readings(&batch).unwrap();
        acknowledged.extend(batch.iter().map(|(s, _)| *s));
    }
    // Restart on the same database: the pending readings resume; the device re-sends
    // everything from the start (the acknowledged ones are replays, ignored).
    let (mut child, url) = spawn_server(&database, None);
    // A restarted `--dev-tls` server has a new certificate: the old one is not trusted.
    assert_ne!(std::fs::read(&ca_path).unwrap(), first_certificate);
    let stale = Endpoint::new(url.url(), Some(&first_certificate)).unwrap();
    match ClinicClient::connect(&stale, &token, &TEST_PARAMS_INSECURE, keys.key_id())
        .unwrap()
        .fetch_alerts(0, Duration::ZERO)
    {
        Err(ServiceError::Http(m)) => assert!(m.to_lowercase().contains("certificate"), "{m}"),
        x => panic!("a server with another certificate was trusted: {x:?}"),
    }
    let clinic = ClinicClient::connect(&url, &token, &TEST_PARAMS_INSECURE, keys.key_id()).unwrap();
    let device = glovebox::service::DeviceClient::connect(&url, device.token()).unwrap();
    let all: Vec<(u64, &EncryptedReading)> = encrypted
        .iter()
        .enumerate()
        .map(|(i, r)| (i as u64, r))
        .collect();
    let out = device.post_readings(&all).unwrap();
    assert_eq!(
        out.replays, acknowledged,
        "every acknowledged reading survived the kill"
    );
    assert_eq!(out.accepted, 40 - acknowledged.len());
    let records = fetch_all(&clinic, 40);
    let analyses = fetch_all_analyses(&clinic, glucose.len());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(analyses.len(), glucose.len(), "each record's analysis once");
    for (i, a) in analyses.iter().enumerate() {
        assert_eq!(a.date, format!("2026-06-{:02}", i + 1));
        let got = a
            .analysis
            .as_ref()
            .map(|x| keys.decrypt_analysis(x).unwrap());
        assert_eq!(got, reference_analysis(glucose[i], &glucose[..i], 20, 2));
    }
    assert_eq!(records.len(), 40);
    let mut seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (0..40).collect::<Vec<u64>>(),
        "each reading's alerts once"
    );
    let want = AlertRules::default().evaluate(&stream);
    for r in &records {
        let t = r.seq as usize;
        assert_eq!(
            keys.decrypt_flag(&r.any).unwrap(),
            want.any[t],
            "reading {t}"
        );
        assert_eq!(
            keys.decrypt_flag(&r.sustained).unwrap(),
            want.sustained[t],
            "reading {t}"
        );
    }
    let (stored, pending, alerts) = Store::open(&database).unwrap().counts().unwrap();
    assert_eq!((stored, pending, alerts), (40, 0, 40));
}

#[test]
fn records_and_cohorts_equal_the_plaintext_computation() {
    records_and_cohorts_equal_the_plaintext_computation_on(Db::Sqlite);
}

#[test]
fn postgres_records_and_cohorts_equal_the_plaintext_computation() {
    records_and_cohorts_equal_the_plaintext_computation_on(Db::Postgres);
}

/// Lab records compared with each patient's past, and cohort statistics, through the real
/// server: every decrypted value equals the plaintext computation; replays and out-of-order
/// records are answered without storing anything; another clinic sees none of it.
fn records_and_cohorts_equal_the_plaintext_computation_on(db: Db) {
    use glovebox::records::{reference_analysis, reference_cohort};
    let server = start_in(db);
    let (keys, clinic) = register(&server);
    let (other_keys, other) = register(&server);
    // Three patients' glucose series (mg/dL), one creatinine series; changes of ±30 and the
    // mean of the last 3 records.
    let series: Vec<(&str, &str, Vec<u16>)> = vec![
        ("ana", "glucose", vec![98, 104, 131, 97, 99, 4095]),
        ("ben", "glucose", vec![180, 150, 151]),
        ("eva", "glucose", vec![0]),
        ("ana", "creatinine", vec![9, 9, 14]),
    ];
    let (change, window) = (30u16, 3usize);
    let mut posted = 0;
    let mut first = None;
    for (patient, test, values) in &series {
        for (day, &v) in values.iter().enumerate() {
            let date = format!("2026-03-{:02}", day + 1);
            let ct = keys.encrypt_lab_value(v).unwrap();
            let out = clinic
                .post_record(patient, test, &date, &ct, change, window)
                .unwrap();
            assert!(!out.replay);
            assert_eq!(out.version, Some(1));
            first.get_or_insert(ct);
            posted += 1;
        }
    }
    // A replay (the same record again), another value for an earlier date (a correction
    // only the series' latest date takes), and a new earlier date: answered, nothing stored.
    let replay = clinic
        .post_record(
            "ana",
            "glucose",
            "2026-03-01",
            first.as_ref().unwrap(),
            change,
            window,
        )
        .unwrap();
    assert!(replay.replay);
    let again = keys.encrypt_lab_value(98).unwrap();
    assert_eq!(
        match clinic.post_record("ana", "glucose", "2026-03-01", &again, change, window) {
            Err(ServiceError::Status { status, .. }) => status,
            x => panic!("{x:?}"),
        },
        409
    );
    let status = |r: std::result::Result<glovebox::service::RecordPosted, ServiceError>| match r {
        Err(ServiceError::Status { status, kind, .. }) => {
            assert!(!kind.is_empty(), "a JSON error body");
            status
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        status(clinic.post_record("ben", "glucose", "2026-02-01", &again, change, window)),
        409
    );
    // Bad dates, windows, thresholds, bodies, keys.
    assert_eq!(
        status(clinic.post_record("ben", "glucose", "2026-13-01", &again, change, window)),
        400
    );
    assert_eq!(
        status(clinic.post_record("ben", "glucose", "2026-04-01", &again, change, 9)),
        400
    );
    assert_eq!(
        status(clinic.post_record("ben", "glucose", "2026-04-01", &again, 5000, window)),
        400
    );
    assert_eq!(
        status(clinic.post_record_raw("ben", "glucose", "2026-04-01", &[9; 64], change, window)),
        422
    );
    let foreign = other_keys.encrypt_lab_value(100).unwrap();
    assert_eq!(
        status(clinic.post_record("ben", "glucose", "2026-04-01", &foreign, change, window)),
        422
    );
    let short_body = glovebox::engine::serialization::to_bytes(
        &keys.encrypt_lab_value(7).unwrap().blocks()[..3]
            .iter()
            .map(|b| b.ciphertext().clone())
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        status(clinic.post_record_raw("ben", "glucose", "2026-04-01", &short_body, change, window)),
        422
    );
    // Every analysis, once, equal to the plaintext.
    let got = fetch_all_analyses(&clinic, posted);
    assert_eq!(got.len(), posted, "one analysis per record");
    for (patient, test, values) in &series {
        let mut mine: Vec<_> = got
            .iter()
            .filter(|a| a.patient == *patient && a.test == *test)
            .collect();
        mine.sort_by(|a, b| a.date.cmp(&b.date));
        assert_eq!(mine.len(), values.len());
        for (i, a) in mine.iter().enumerate() {
            let want = reference_analysis(values[i], &values[..i], change, window);
            let decrypted = a
                .analysis
                .as_ref()
                .map(|x| keys.decrypt_analysis(x).unwrap());
            assert_eq!(decrypted, want, "{patient} {test} record {i}");
        }
    }
    assert!(other.fetch_analyses(0, Duration::ZERO).unwrap().is_empty());
    // Cohort statistics over each patient's latest glucose value.
    for threshold in [100u16, 4095] {
        let id = clinic.request_cohort("glucose", threshold).unwrap();
        let mut result = None;
        let begin = Instant::now();
        while result.is_none() && begin.elapsed() < Duration::from_secs(180) {
            result = clinic.fetch_cohort(id, Duration::from_secs(5)).unwrap();
        }
        let result = result.expect("the cohort job finished");
        let latest: Vec<u16> = series
            .iter()
            .filter(|s| s.1 == "glucose")
            .map(|s| *s.2.last().unwrap())
            .collect();
        assert_eq!(
            keys.decrypt_cohort(&result.statistics).unwrap(),
            reference_cohort(&latest, threshold),
            "threshold {threshold}"
        );
        // Another clinic cannot read it.
        match other.fetch_cohort(id, Duration::ZERO) {
            Err(ServiceError::Status { status: 404, .. }) => {}
            x => panic!("{x:?}"),
        }
    }
    match clinic.request_cohort("no such test", 10) {
        Err(ServiceError::Status { status: 404, .. }) => {}
        x => panic!("{x:?}"),
    }
    let (records, pending, analyses, cohorts_pending) = Store::open_database(&server.database)
        .unwrap()
        .record_counts()
        .unwrap();
    assert_eq!(
        (records, pending, analyses, cohorts_pending),
        (posted as u64, 0, posted as u64, 0)
    );
}

/// The three commands of the README's "Run it as a service", as a user runs them: `glovebox
/// serve`, `glovebox clinic` (register, records, alerts, analyses, cohort) and `glovebox
/// device`; every decrypted alert equals the rules on the simulated plaintext.
#[test]
fn the_serve_clinic_and_device_commands_work_together() {
    let dir = tempfile::tempdir().unwrap();
    let (child, url) = spawn_server(&dir.path().join("clinic.sqlite"), None);
    // Killed however the test ends (a panic included), so no server outlives it.
    let _server = common::Kill(child);
    let clinic_dir = dir.path().join("my-clinic");
    let run = common::glovebox_json;
    let d = clinic_dir.to_str().unwrap();
    let ca = format!(
        "{}.dev-cert.pem",
        dir.path().join("clinic.sqlite").display()
    );
    // The operator makes an enrollment token (the server runs meanwhile).
    let enrolled = std::process::Command::new(env!("CARGO_BIN_EXE_glovebox"))
        .args(["serve", "--database"])
        .arg(dir.path().join("clinic.sqlite"))
        .args(["enroll", "--valid-hours", "1"])
        .output()
        .unwrap();
    assert!(
        enrolled.status.success(),
        "{}",
        String::from_utf8_lossy(&enrolled.stderr)
    );
    let token = String::from_utf8(enrolled.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(token.starts_with('e'), "{token}");
    let registered = run(&[
        "clinic",
        "--dir",
        d,
        "register",
        "--url",
        url.url(),
        "--enrollment-token",
        &token,
        "--ca",
        &ca,
        "--params",
        "test",
    ]);
    // Plain HTTP on an address other than loopback is refused unless asked for by name.
    let open = std::process::Command::new(env!("CARGO_BIN_EXE_glovebox"))
        .args(["serve", "--listen", "0.0.0.0:0", "--database"])
        .arg(dir.path().join("open.sqlite"))
        .output()
        .unwrap();
    assert_eq!(open.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&open.stderr).contains("--insecure-http"));
    // The certificate is kept in the clinic's directory.
    assert_eq!(
        std::fs::read(clinic_dir.join("server-ca.pem")).unwrap(),
        std::fs::read(&ca).unwrap()
    );
    assert_eq!(registered["params"], "TEST_PARAMS_INSECURE");
    // Registering the same directory again is refused: its devices' tokens belong to it.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_glovebox"))
        .args([
            "clinic",
            "--dir",
            d,
            "register",
            "--url",
            url.url(),
            "--enrollment-token",
            &token,
            "--params",
            "test",
        ])
        .env("GLOVEBOX_ALLOW_INSECURE", "1")
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    // The device directory holds the public key and the tokens, nothing secret.
    let devices_dir = dir.path().join("devices");
    let f = devices_dir.to_str().unwrap();
    let provisioned = run(&[
        "clinic",
        "--dir",
        d,
        "provision",
        "--patients",
        "2",
        "--out",
        f,
    ]);
    assert_eq!(provisioned["devices"], 2);
    let mut files: Vec<String> = std::fs::read_dir(&devices_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["devices.json", "public.key", "server-ca.pem"]);
    let public_key = std::fs::read(devices_dir.join("public.key")).unwrap();
    assert_eq!(
        glovebox::engine::serialization::Header::parse(&public_key)
            .unwrap()
            .kind,
        glovebox::engine::serialization::Kind::CompactPublicKey
    );
    let streamed = run(&[
        "device",
        "--devices",
        f,
        "--patients",
        "2",
        "--seconds",
        "4",
        "--rate",
        "0",
        "--seed",
        "7",
    ]);
    assert_eq!(streamed["accepted"], 8);
    // Each device's next sequence number is saved in its directory.
    let fleet: serde_json::Value =
        serde_json::from_slice(&std::fs::read(devices_dir.join("devices.json")).unwrap()).unwrap();
    let next: Vec<u64> = fleet["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["next_seq"].as_u64().unwrap())
        .collect();
    assert_eq!(next, [4, 4]);
    let mut alerts = Vec::new();
    let begin = Instant::now();
    while alerts.len() < 8 && begin.elapsed() < Duration::from_secs(120) {
        let got = run(&["clinic", "--dir", d, "alerts", "--wait", "5"]);
        alerts.extend(got["alerts"].as_array().unwrap().clone());
    }
    assert_eq!(
        alerts.len(),
        8,
        "each reading's alerts once, the cursor saved"
    );
    let ward = simulate_ward(2, 4, 7);
    let rules = AlertRules::default();
    for a in &alerts {
        let p: usize = a["patient"].as_str().unwrap()["patient-".len()..]
            .parse::<usize>()
            .unwrap()
            - 1;
        let t = a["seq"].as_u64().unwrap() as usize;
        let want = rules.evaluate(&ward[p]);
        assert_eq!(a["any"], want.any[t], "{a}");
        assert_eq!(a["heart_rate"], want.heart_rate[t], "{a}");
        assert_eq!(a["sustained"], want.sustained[t], "{a}");
    }
    for (day, value) in [(1, 100), (2, 130), (3, 120)] {
        run(&[
            "clinic",
            "--dir",
            d,
            "record",
            "--patient",
            "Ana Lopez-Garcia",
            "--test",
            "glucose",
            "--date",
            &format!("2026-05-0{day}"),
            "--value",
            &value.to_string(),
            "--change",
            "15",
        ]);
    }
    let mut analyses = Vec::new();
    let begin = Instant::now();
    while analyses.len() < 3 && begin.elapsed() < Duration::from_secs(120) {
        let got = run(&["clinic", "--dir", d, "analyses", "--wait", "5"]);
        analyses.extend(got["analyses"].as_array().unwrap().clone());
    }
    assert_eq!(analyses.len(), 3);
    assert!(analyses[0]["analysis"].is_null());
    assert_eq!(analyses[1]["analysis"]["above_max"], true);
    assert_eq!(analyses[2]["analysis"]["changed"], false);
    // 3·120 − (100 + 130) with a window of 3 capped at the 2 earlier records: 2·120 − 230.
    assert_eq!(analyses[2]["analysis"]["gap_times_k"], 10);
    let cohort = run(&[
        "clinic",
        "--dir",
        d,
        "cohort",
        "--test",
        "glucose",
        "--threshold",
        "110",
    ]);
    assert_eq!(
        (cohort["count_above"].as_u64(), cohort["sum_all"].as_u64()),
        (Some(1), Some(120))
    );
    // The analyses show the name again (kept in the clinic's directory)...
    assert!(analyses.iter().all(|a| a["patient"] == "Ana Lopez-Garcia"));
    // ...and the server never saw a name: its database (and its log) holds pseudonyms only.
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", dir.path().join("clinic.sqlite").display());
        let bytes = std::fs::read(&path).unwrap_or_default();
        for name in ["Ana Lopez-Garcia", "patient-1", "patient-2"] {
            assert!(
                !bytes.windows(name.len()).any(|w| w == name.as_bytes()),
                "{name} in {path}"
            );
        }
    }
}

/// A job that fails on its own (a stored reading or record whose bytes were corrupted on disk)
/// is retried a bounded number of times, then marked failed, and its clinic's stream says so
/// with the reason; the rest of its stream and series goes on: later readings get their alerts
/// ("sustained" restarts after the gap), later records are compared with the records before
/// it.
#[test]
fn a_poisoned_job_fails_alone_after_its_attempts() {
    use glovebox::engine::serialization::to_bytes;
    use glovebox::records::reference_analysis;
    use glovebox::service::store::NewRecord;
    let keys = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
    let sensor = keys.provision_device();
    let garbage = {
        // A well-formed envelope header over bytes that decode to nothing.
        let mut b = to_bytes(
            &keys.encrypt_lab_value(1).unwrap().blocks()[0]
                .ciphertext()
                .clone(),
        );
        let n = b.len();
        b[n - 8..].fill(0xff);
        b.truncate(n - 3);
        b
    };
    let mut token = String::new();
    let glucose = [100u16, 150, 90, 95];
    let server = start_with(|db| {
        let store = Store::open(db).unwrap();
        let key = to_bytes(&keys.compressed_server_key().unwrap());
        let casting = to_bytes(&keys.compressed_casting_key().unwrap());
        let clinic = store
            .insert_clinic(
                "s3cret",
                TEST_PARAMS_INSECURE.name,
                keys.key_id(),
                &key,
                &casting,
            )
            .unwrap();
        token = format!("c{clinic}.s3cret");
        let device = store.insert_device(clinic, "p", "x").unwrap();
        let readings: Vec<(u64, Vec<u8>)> = (0..6u64)
            .map(|seq| {
                let r = sensor.encrypt(Reading::new(130, 97)).unwrap();
                let body = if seq == 2 {
                    garbage.clone()
                } else {
                    to_bytes(&r.list)
                };
                (seq, body)
            })
            .collect();
        store.insert_readings(clinic, device, &readings).unwrap();
        for (i, &v) in glucose.iter().enumerate() {
            let ct = keys.encrypt_lab_value(v).unwrap();
            let cts: Vec<Ciphertext> = ct.blocks().iter().map(|b| b.ciphertext().clone()).collect();
            let body = if i == 1 {
                garbage.clone()
            } else {
                to_bytes(&cts)
            };
            let date = format!("2026-07-0{}", i + 1);
            store
                .insert_record(
                    clinic,
                    &NewRecord {
                        patient: "p",
                        test: "glucose",
                        date: &date,
                        change_threshold: 10,
                        mean_window: 3,
                        value: &body,
                    },
                )
                .unwrap();
        }
    });
    let clinic = ClinicClient::connect(
        &server.endpoint(),
        &token,
        &TEST_PARAMS_INSECURE,
        keys.key_id(),
    )
    .unwrap();
    let alerts = fetch_all(&clinic, 5);
    let mut seqs: Vec<u64> = alerts.iter().map(|a| a.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [0, 1, 3, 4, 5], "every reading but the poisoned one");
    // The poisoned reading's failure reaches the clinic in its stream, with the reason.
    let begin = Instant::now();
    let mut failed = Vec::new();
    while failed.is_empty() && begin.elapsed() < Duration::from_secs(60) {
        failed = clinic
            .fetch_stream(0, Duration::from_secs(2))
            .unwrap()
            .into_iter()
            .filter_map(|item| match item {
                glovebox::service::StreamItem::Failed(f) => Some(f),
                glovebox::service::StreamItem::Alerts(_) => None,
            })
            .collect();
    }
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].seq, 2);
    assert!(
        failed[0].reason.contains("malformed bytes"),
        "{}",
        failed[0].reason
    );
    for a in &alerts {
        assert!(keys.decrypt_flag(&a.any).unwrap());
        // Sustained needs the 2 readings before, all present: only reading 5 after the gap.
        let sustained = keys.decrypt_flag(&a.sustained).unwrap();
        assert_eq!(sustained, a.seq == 5, "reading {}", a.seq);
    }
    let analyses = fetch_all_analyses(&clinic, 3);
    let dates: Vec<&str> = analyses.iter().map(|a| a.date.as_str()).collect();
    assert_eq!(dates, ["2026-07-01", "2026-07-03", "2026-07-04"]);
    // The series without the poisoned record: 100, 90, 95.
    let series = [glucose[0], glucose[2], glucose[3]];
    for (i, a) in analyses.iter().enumerate() {
        let got = a
            .analysis
            .as_ref()
            .map(|x| keys.decrypt_analysis(x).unwrap());
        assert_eq!(
            got,
            reference_analysis(series[i], &series[..i], 10, 3),
            "record {i}"
        );
    }
    let (stored, pending, alerts_stored) = Store::open_database(&server.database)
        .unwrap()
        .counts()
        .unwrap();
    assert_eq!((stored, pending, alerts_stored), (6, 0, 5));
}

#[test]
fn a_late_reading_is_waited_for() {
    a_late_reading_is_waited_for_on(Db::Sqlite);
}

#[test]
fn postgres_a_late_reading_is_waited_for() {
    a_late_reading_is_waited_for_on(Db::Postgres);
}

/// A reading that arrives after a later one (reordered on the network) is waited for, so
/// "sustained" sees the whole stream: the alerts equal the rules on the stream in order.
fn a_late_reading_is_waited_for_on(db: Db) {
    let server = start_in(db);
    let (keys, clinic) = register(&server);
    let stream: Vec<Reading> = [130, 131, 132, 133, 134, 70]
        .iter()
        .map(|&hr| Reading::new(hr, 97))
        .collect();
    let sensor = keys.provision_device();
    let enc: Vec<EncryptedReading> = stream.iter().map(|&r| sensor.encrypt(r).unwrap()).collect();
    let device = clinic.add_device("p").unwrap();
    let early: Vec<(u64, &EncryptedReading)> = [0usize, 1, 3, 4, 5]
        .iter()
        .map(|&i| (i as u64, &enc[i]))
        .collect();
    device.post_readings(&early).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    device.post_readings(&[(2, &enc[2])]).unwrap();
    let records = fetch_all(&clinic, 6);
    let want = AlertRules::default().evaluate(&stream);
    assert!(want.sustained[3] && want.sustained[4]);
    for r in &records {
        let t = r.seq as usize;
        assert_eq!(
            keys.decrypt_flag(&r.sustained).unwrap(),
            want.sustained[t],
            "reading {t}"
        );
    }
    assert_eq!(records.len(), 6);
}

/// The expanded-key cache holds its budget: with room for one clinic, two clinics streaming in
/// turn are evicted and expanded again as their readings come, their keys leave the backend,
/// and every alert is still computed once and right.
#[test]
fn a_key_cache_of_one_clinic_evicts_and_expands_again() {
    let backend = Arc::new(CpuFftBackend::new());
    let shared = backend.clone();
    let server = start_configured(
        true,
        |_| {},
        move |c| {
            c.backend = shared;
            c.key_cache_bytes = 1;
        },
    );
    let clinics: Vec<(Clinic, ClinicClient)> = (0..2).map(|_| register(&server)).collect();
    let rules = AlertRules::default();
    let stream = [
        Reading::new(130, 97),
        Reading::new(70, 85),
        Reading::new(72, 97),
    ];
    let devices: Vec<_> = clinics
        .iter()
        .map(|(_, c)| c.add_device("p").unwrap())
        .collect();
    for (t, r) in stream.iter().enumerate() {
        for ((keys, _), d) in clinics.iter().zip(&devices) {
            let e = keys.provision_device().encrypt(*r).unwrap();
            d.post_readings(&[(t as u64, &e)]).unwrap();
            // Each reading waits for its alerts, so the two clinics take turns in the cache.
            let (_, clinic) = &clinics[devices
                .iter()
                .position(|x| x.device_id() == d.device_id())
                .unwrap()];
            let got = fetch_all(clinic, t + 1);
            assert_eq!(got.len(), t + 1);
        }
    }
    let want = rules.evaluate(&stream);
    for (keys, clinic) in &clinics {
        let mut got = fetch_all(clinic, 3);
        got.sort_by_key(|a| a.seq);
        let any: Vec<bool> = got
            .iter()
            .map(|a| keys.decrypt_flag(&a.any).unwrap())
            .collect();
        assert_eq!(any, want.any);
    }
    let health: serde_json::Value = server
        .endpoint()
        .agent()
        .get(&format!("{}/v1/health", server.url))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(health["clinics_cached"], 1, "{health}");
    // The evicted clinic's keys are freed on the backend once no job holds them.
    let begin = Instant::now();
    while backend.resident_keys().0 > 1 && begin.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(backend.resident_keys(), (1, 2));
}

/// A worker that dies is restarted by its supervisor: its readings' alerts still come, and
/// `/v1/health` reports the restart (the first worker panics by a fault hook).
#[test]
fn a_dead_worker_is_restarted_and_health_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("clinic.sqlite");
    let (child, endpoint) =
        spawn_server_with(&database, None, &[("GLOVEBOX_FAULT_WORKER_PANIC", "1")]);
    let _child = common::Kill(child);
    let keys = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
    let clinic = register_keys(&endpoint, &database.clone().into(), &keys);
    let d = clinic.add_device("p").unwrap();
    let e = keys
        .provision_device()
        .encrypt(Reading::new(130, 97))
        .unwrap();
    d.post_readings(&[(0, &e)]).unwrap();
    let got = fetch_all(&clinic, 1);
    assert!(keys.decrypt_flag(&got[0].heart_rate).unwrap());
    // Health says "degraded" (503) while a lane waits for its restart, "ok" once both run.
    let health = |endpoint: &Endpoint| -> (u16, serde_json::Value) {
        match endpoint
            .agent()
            .get(&format!("{}/v1/health", endpoint.url()))
            .call()
        {
            Ok(r) => (r.status(), r.into_json().unwrap()),
            Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap()),
            Err(e) => panic!("{e}"),
        }
    };
    // (A loaded machine may start the lane that panics late: wait for its restart.)
    let begin = Instant::now();
    let mut answer = health(&endpoint);
    while (answer.0 != 200 || answer.1["worker_restarts"] != 1)
        && begin.elapsed() < Duration::from_secs(30)
    {
        if answer.0 != 200 {
            assert_eq!(answer.0, 503, "{answer:?}");
            assert_eq!(answer.1["status"], "degraded", "{answer:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
        answer = health(&endpoint);
    }
    let health = answer.1;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["worker_restarts"], 1, "{health}");
    assert_eq!(health["pending_readings"], 0, "{health}");
}

/// After a restart, concurrent first requests of one clinic expand its keys once (single
/// flight): four devices post at the same moment, the worker wants the key too.
#[test]
fn concurrent_first_requests_expand_a_key_once() {
    let keys = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
    let mut tokens = Vec::new();
    let server = start_with(|db| {
        let store = Store::open(db).unwrap();
        let key = to_bytes(&keys.compressed_server_key().unwrap());
        let casting = to_bytes(&keys.compressed_casting_key().unwrap());
        let clinic = store
            .insert_clinic(
                "s3cret",
                TEST_PARAMS_INSECURE.name,
                keys.key_id(),
                &key,
                &casting,
            )
            .unwrap();
        for p in 0..4 {
            let id = store.insert_device(clinic, &format!("p{p}"), "x").unwrap();
            tokens.push(format!("d{id}.x"));
        }
    });
    let reading = keys
        .provision_device()
        .encrypt(Reading::new(70, 97))
        .unwrap();
    let barrier = std::sync::Barrier::new(tokens.len());
    std::thread::scope(|s| {
        for t in &tokens {
            let (server, reading, barrier) = (&server, &reading, &barrier);
            s.spawn(move || {
                let d = glovebox::service::DeviceClient::connect(&server.endpoint(), t).unwrap();
                barrier.wait();
                d.post_readings(&[(0, reading)]).unwrap();
            });
        }
    });
    let health: serde_json::Value = server
        .endpoint()
        .agent()
        .get(&format!("{}/v1/health", server.url))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(health["key_expansions"], 1, "{health}");
}

/// The server's own bounds: a connection past the cap is closed at accept; a client that
/// sends no headers is disconnected after the header timeout; a long poll past the cap is a
/// 503; a request past the request timeout is a 408; a JSON route's body over its 4 KiB limit
/// is a 413 although the registration route takes megabytes.
#[test]
fn connections_polls_and_slow_clients_are_bounded() {
    use std::io::{Read, Write};
    let server = start_configured(
        false,
        |_| {},
        |c| {
            c.max_connections = 3;
            c.max_long_polls = 1;
            c.header_timeout = Duration::from_millis(500);
            c.request_timeout = Duration::from_secs(5);
        },
    );
    let addr = server.url.trim_start_matches("http://").to_string();
    let (_, clinic) = register(&server);
    // A client that says nothing is let go after the header timeout.
    let mut silent = std::net::TcpStream::connect(&addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let begin = Instant::now();
    let mut buf = [0u8; 256];
    let n = silent.read(&mut buf).unwrap_or(0);
    let _ = n;
    assert!(
        begin.elapsed() < Duration::from_secs(5),
        "held past the timeout"
    );
    // Three connections open; a fourth is closed without an answer.
    let held: Vec<std::net::TcpStream> = (0..3)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut extra = std::net::TcpStream::connect(&addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = write!(extra, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut answer = Vec::new();
    let _ = extra.read_to_end(&mut answer);
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    drop(held);
    std::thread::sleep(Duration::from_millis(700));
    // One long poll waits; a second is a 503, and a poll that does not wait still answers.
    std::thread::scope(|s| {
        let waiting = s.spawn(|| clinic.fetch_alerts(0, Duration::from_millis(3000)));
        std::thread::sleep(Duration::from_millis(1000));
        match clinic.fetch_alerts(0, Duration::from_millis(1500)) {
            Err(ServiceError::Status {
                status: 503, kind, ..
            }) => assert_eq!(kind, "busy"),
            x => panic!("{x:?}"),
        }
        assert!(clinic.fetch_alerts(0, Duration::ZERO).unwrap().is_empty());
        assert!(waiting.join().unwrap().unwrap().is_empty());
    });
    // A request still running after the request timeout (a body that never comes) is a 408.
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        slow,
        "POST /v1/clinics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Length: 1000\r\n\r\nabc",
        enroll_in(&server.database)
    )
    .unwrap();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"kind\":\"timeout\""), "{answer}");
    // A device's JSON over 4 KiB.
    let big = format!("{{\"patient\":\"{}\"}}", "x".repeat(5000));
    let status = server
        .endpoint()
        .agent()
        .post(&format!("{}/v1/devices", server.url))
        .set("Authorization", &format!("Bearer {}", clinic.token()))
        .send_string(&big);
    match status {
        Err(ureq::Error::Status(413, _)) => {}
        x => panic!("{x:?}"),
    }
}

#[test]
fn tokens_are_revoked_and_rotated_and_quotas_hold() {
    tokens_are_revoked_and_rotated_and_quotas_hold_on(Db::Sqlite);
}

#[test]
fn postgres_tokens_are_revoked_and_rotated_and_quotas_hold() {
    tokens_are_revoked_and_rotated_and_quotas_hold_on(Db::Postgres);
}

/// Who may register, and what a clinic may do: an enrollment token registers one clinic and
/// gives it its quotas; devices past the device quota, readings past the rate and bytes past
/// the storage quota are 429s; a revoked device and a rotated-away token are 401s.
fn tokens_are_revoked_and_rotated_and_quotas_hold_on(db: Db) {
    use glovebox::service::store::Quotas;
    let server = start_in(db);
    let enroll_with = |quotas: Quotas| {
        let secret = glovebox::service::new_token_secret();
        let expires = glovebox::service::store::now_ms() + 60_000;
        let id = Store::open_database(&server.database)
            .unwrap()
            .create_enrollment(&secret, expires, quotas)
            .unwrap();
        format!("e{id}.{secret}")
    };
    let keys = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
    let register = |token: &str| {
        ClinicClient::register(
            &server.endpoint(),
            token,
            &keys.compressed_server_key().unwrap(),
            &keys.compressed_casting_key().unwrap(),
        )
    };
    let status = |r: std::result::Result<(), ServiceError>| match r {
        Err(ServiceError::Status { status, .. }) => status,
        Err(e) => panic!("{e}"),
        Ok(_) => 200,
    };
    // An expired token registers nothing.
    let expired = {
        let secret = glovebox::service::new_token_secret();
        let id = Store::open_database(&server.database)
            .unwrap()
            .create_enrollment(&secret, 0, Quotas::default())
            .unwrap();
        format!("e{id}.{secret}")
    };
    assert_eq!(status(register(&expired).map(|_| ())), 401);
    let token = enroll_with(Quotas {
        max_devices: 2,
        readings_per_second: 3,
        max_stored_bytes: 1 << 30,
    });
    let mut clinic = register(&token).unwrap();
    // The token is used: a second registration with it is refused.
    assert_eq!(status(register(&token).map(|_| ())), 401);
    // Two registrations racing with one token: one registers, the other is refused (the
    // token is claimed before the keys expand).
    let shared = enroll_with(Quotas::default());
    let outcomes: Vec<u16> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..2)
            .map(|_| s.spawn(|| status(register(&shared).map(|_| ()))))
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut sorted = outcomes.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [200, 401], "{outcomes:?}");
    let a = clinic.add_device("a").unwrap();
    let b = clinic.add_device("b").unwrap();
    assert_eq!(status(clinic.add_device("c").map(|_| ())), 429);
    let reading = keys
        .provision_device()
        .encrypt(Reading::new(70, 97))
        .unwrap();
    // Readings past the rate (3 a second, 6 of burst): a batch larger than the burst is a
    // 400, readings past what is left a 429 (refused whole).
    let seven: Vec<(u64, &EncryptedReading)> = (0..7).map(|s| (s, &reading)).collect();
    assert_eq!(status(a.post_readings(&seven).map(|_| ())), 400);
    assert_eq!(a.post_readings(&seven[..5]).unwrap().accepted, 5);
    assert_eq!(status(a.post_readings(&seven[5..7]).map(|_| ())), 429);
    std::thread::sleep(Duration::from_secs(1));
    // A revoked device is refused, and frees its place in the quota.
    clinic.revoke_device(a.device_id()).unwrap();
    assert_eq!(status(a.post_readings(&seven[2..3]).map(|_| ())), 401);
    let c = clinic.add_device("c").unwrap();
    // A rotated device token: the old one refused, the new one accepted.
    let b2 = clinic.rotate_device_token(b.device_id()).unwrap();
    assert_eq!(status(b.post_readings(&seven[..1]).map(|_| ())), 401);
    assert_eq!(b2.post_readings(&seven[..1]).unwrap().accepted, 1);
    // A rotated clinic token: the old one refused.
    let old = ClinicClient::connect(
        &server.endpoint(),
        clinic.token(),
        &TEST_PARAMS_INSECURE,
        keys.key_id(),
    )
    .unwrap();
    clinic.rotate_token().unwrap();
    assert_eq!(status(old.fetch_alerts(0, Duration::ZERO).map(|_| ())), 401);
    assert!(clinic.fetch_alerts(0, Duration::ZERO).is_ok());
    // Another device's revocation by another clinic: not found.
    let (_, other) = register_other(&server);
    assert_eq!(status(other.revoke_device(c.device_id())), 404);
    // Storage: a clinic whose quota holds two readings stores two, then refuses.
    let small = enroll_with(Quotas {
        max_stored_bytes: 2 * to_bytes(&reading.list).len() as u64 + 10,
        ..Quotas::default()
    });
    let tight = register(&small).unwrap();
    let d = tight.add_device("p").unwrap();
    assert_eq!(d.post_readings(&seven[..2]).unwrap().accepted, 2);
    assert_eq!(status(d.post_readings(&[(2, &reading)]).map(|_| ())), 429);
}

/// Another clinic, registered at `server`.
fn register_other(server: &Running) -> (Clinic, ClinicClient) {
    register(server)
}

#[test]
fn a_used_sequence_number_with_another_reading_is_a_conflict() {
    a_used_sequence_number_with_another_reading_is_a_conflict_on(Db::Sqlite);
}

#[test]
fn postgres_a_used_sequence_number_with_another_reading_is_a_conflict() {
    a_used_sequence_number_with_another_reading_is_a_conflict_on(Db::Postgres);
}

/// The same sequence number with the same body is a replay; with another body it is a 409
/// and nothing of its batch is stored.
fn a_used_sequence_number_with_another_reading_is_a_conflict_on(db: Db) {
    let server = start_in(db);
    let (keys, clinic) = register(&server);
    let d = clinic.add_device("p").unwrap();
    let device = keys.provision_device();
    let first = device.encrypt(Reading::new(70, 97)).unwrap();
    let other = device.encrypt(Reading::new(70, 97)).unwrap();
    assert_eq!(d.post_readings(&[(0, &first)]).unwrap().accepted, 1);
    assert_eq!(d.post_readings(&[(0, &first)]).unwrap().replays, vec![0]);
    match d.post_readings(&[(1, &first), (0, &other)]) {
        Err(ServiceError::Status { status: 409, .. }) => {}
        x => panic!("{x:?}"),
    }
    let (readings, ..) = Store::open_database(&server.database)
        .unwrap()
        .counts()
        .unwrap();
    assert_eq!(readings, 1, "nothing of the refused batch is stored");
}

/// Backend faults are transient: a reading that meets more of them than a job's attempts is
/// retried with back-off, never counted, and gets its alerts once the backend works again.
#[test]
fn transient_backend_faults_count_against_no_job() {
    let backend = Arc::new(FaultingBackend::new());
    let shared = backend.clone();
    let server = start_configured(true, |_| {}, move |c| c.backend = shared);
    let (keys, clinic) = register(&server);
    let d = clinic.add_device("p").unwrap();
    // Six faults: more than a job's five attempts (the lane backs off 0.2 s, doubling).
    backend.faults.store(6, std::sync::atomic::Ordering::SeqCst);
    let reading = keys
        .provision_device()
        .encrypt(Reading::new(130, 97))
        .unwrap();
    d.post_readings(&[(0, &reading)]).unwrap();
    let got = fetch_all(&clinic, 1);
    assert_eq!(got.len(), 1);
    assert!(keys.decrypt_flag(&got[0].heart_rate).unwrap());
    assert_eq!(backend.faults.load(std::sync::atomic::Ordering::SeqCst), 0);
    let items = clinic.fetch_stream(0, Duration::ZERO).unwrap();
    assert!(items
        .iter()
        .all(|i| matches!(i, glovebox::service::StreamItem::Alerts(_))));
}

/// The HTTP fuzzer: random methods, paths (every route, mutated, and junk), query strings,
/// tokens (valid clinic, device and enrollment tokens, forged, malformed, none) and bodies
/// (valid readings and registrations, mutated, random) against the real server over TLS. No
/// request gets a 5xx outside the documented list (503 `busy`), and the server serves and
/// works on afterwards. 10,000 cases in CI; `GLOVEBOX_FUZZ_CASES=1000000 cargo test
/// --release --test service http_fuzz` for more (`GLOVEBOX_FUZZ_SEED` picks the seed).
#[test]
fn http_fuzz_finds_no_5xx_and_no_panic() {
    use rand::{Rng, SeedableRng};
    let cases: usize = std::env::var("GLOVEBOX_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let seed: u64 = std::env::var("GLOVEBOX_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let server = start();
    let (keys, clinic) = register(&server);
    let device = clinic.add_device("p").unwrap();
    let reading = keys
        .provision_device()
        .encrypt(Reading::new(90, 97))
        .unwrap();
    let reading_body = {
        let mut b = Vec::new();
        glovebox::service::wire::put_record(&mut b, &[0], &to_bytes(&reading.list));
        b
    };
    let registration = glovebox::service::wire::encode_registration(
        &to_bytes(&keys.compressed_server_key().unwrap()),
        &to_bytes(&keys.compressed_casting_key().unwrap()),
    );
    let value = to_bytes(
        &keys
            .encrypt_lab_value(100)
            .unwrap()
            .blocks()
            .iter()
            .map(|b| b.ciphertext().clone())
            .collect::<Vec<_>>(),
    );
    let enrollment = enroll_in(&server.database);
    let tokens: Vec<Option<String>> = vec![
        None,
        Some(clinic.token().to_string()),
        Some(device.token().to_string()),
        Some(enrollment),
        Some(format!("c{}.{}", clinic.clinic_id(), "0".repeat(64))),
        Some("d999999.x".into()),
        Some("e1.".into()),
        Some("c.".into()),
        Some("Bearer".into()),
        Some("d-1.x y".into()),
    ];
    let routes = [
        ("POST", "/v1/clinics"),
        ("POST", "/v1/clinics/token"),
        ("POST", "/v1/devices"),
        ("DELETE", "/v1/devices/{id}"),
        ("POST", "/v1/devices/{id}/token"),
        ("POST", "/v1/readings"),
        ("GET", "/v1/alerts"),
        ("POST", "/v1/records"),
        ("GET", "/v1/analyses"),
        ("POST", "/v1/cohorts"),
        ("GET", "/v1/cohorts/{id}"),
        ("GET", "/v1/health"),
    ];
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
    let agent = server.endpoint().agent().clone();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for case in 0..cases {
        let (right, route) = routes[rng.gen_range(0..routes.len())];
        // The route's own method most of the time, so requests reach the handlers.
        let method = if rng.gen_bool(0.7) {
            right
        } else {
            methods[rng.gen_range(0..methods.len())]
        };
        let mut path = route.to_string();
        let id = match rng.gen_range(0..4) {
            0 => device.device_id().to_string(),
            1 => rng.gen::<i64>().to_string(),
            2 => "x%00y".to_string(),
            _ => "1".to_string(),
        };
        path = path.replace("{id}", &id);
        match rng.gen_range(0..20) {
            0 => path.push_str("/extra"),
            1 => path = path.replace("/v1", "/v2"),
            2 => path = format!("/{}", "a".repeat(rng.gen_range(0..300))),
            3 => path.push_str("%2F.."),
            _ => {}
        }
        let query = match rng.gen_range(0..6) {
            0 => String::new(),
            1 => format!("?since={}&wait_ms=0", rng.gen::<i64>()),
            2 => format!(
                "?patient=p&test=glucose&date=2026-0{}-{}&change={}&window={}",
                rng.gen_range(0..13),
                rng.gen_range(0..40),
                rng.gen::<i32>(),
                rng.gen_range(-2..12)
            ),
            3 => "?limit=-1&since=abc".to_string(),
            4 => format!(
                "?wait_ms={}&limit={}",
                rng.gen_range(0..40),
                rng.gen::<u64>()
            ),
            _ => "?%ff%fe=%00".to_string(),
        };
        let body: Vec<u8> = match rng.gen_range(0..8) {
            0 => Vec::new(),
            1 => reading_body.clone(),
            2 => {
                let mut b = reading_body.clone();
                for _ in 0..rng.gen_range(1..4) {
                    let i = rng.gen_range(0..b.len());
                    b[i] ^= rng.gen_range(1..=255u8);
                }
                b
            }
            3 => value.clone(),
            4 => {
                let mut b = registration.clone();
                let i = rng.gen_range(0..b.len());
                b[i] ^= rng.gen_range(1..=255u8);
                b
            }
            5 => format!(
                "{{\"patient\":\"{}\",\"test\":\"t\",\"threshold\":{}}}",
                "q".repeat(rng.gen_range(0..300)),
                rng.gen::<i64>()
            )
            .into_bytes(),
            _ => (0..rng.gen_range(0..2048)).map(|_| rng.gen()).collect(),
        };
        let mut request = agent.request(method, &format!("{}{path}{query}", server.url));
        if let Some(t) = &tokens[rng.gen_range(0..tokens.len())] {
            request = request.set("Authorization", &format!("Bearer {t}"));
        }
        if rng.gen_bool(0.1) {
            request = request.set("Content-Type", "application/json");
        }
        let result = if method == "GET" || method == "HEAD" {
            request.call()
        } else {
            request.send_bytes(&body)
        };
        let status = match result {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(s, _)) => s,
            Err(e) => panic!("case {case}: {method} {path}{query}: {e}"),
        };
        *statuses.entry(status).or_default() += 1;
        assert!(
            status < 500 || status == 503,
            "case {case}: {method} {path}{query} answered {status}"
        );
    }
    eprintln!("http fuzz: {cases} cases, seed {seed}, statuses {statuses:?}");
    // The server still serves and works: a reading's alerts still come.
    let health: serde_json::Value = agent
        .get(&format!("{}/v1/health", server.url))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    // (The fuzzer may have rotated the clinic's token: a clinic of its own checks.)
    let (keys, clinic) = register(&server);
    let d = clinic.add_device("after").unwrap();
    let reading = keys
        .provision_device()
        .encrypt(Reading::new(90, 97))
        .unwrap();
    d.post_readings(&[(0, &reading)]).unwrap();
    assert_eq!(fetch_all(&clinic, 1).len(), 1);
}

/// Waits (up to a minute) for a fault point's marker file, then kills the server with SIGKILL.
fn kill_at_marker(child: &mut std::process::Child, marker: &std::path::Path) {
    let begin = Instant::now();
    while !marker.exists() {
        assert!(
            begin.elapsed() < Duration::from_secs(60),
            "the server never reached {}",
            marker.display()
        );
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
}

/// The crash test's other kills, each at a deterministic point *inside* a transaction (a fault
/// hook pauses the server there and says so): while the worker commits alerts, while a
/// registration commits, while a cohort's result commits. After each, a restart on the same
/// database finds nothing half-written, loses nothing acknowledged, and computes every result
/// once.
#[test]
fn kills_inside_transactions_lose_nothing_and_compute_once() {
    use glovebox::records::reference_cohort;
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("clinic.sqlite");
    let marker = dir.path().join("paused");
    let pause_at = |point: &'static str| {
        let _ = std::fs::remove_file(&marker);
        spawn_server_with(
            &database,
            None,
            &[
                ("GLOVEBOX_FAULT_PAUSE_AT", point),
                ("GLOVEBOX_FAULT_MARKER", marker.to_str().unwrap()),
            ],
        )
    };
    let keys = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();

    // 1. Inside the worker's transaction: the alerts inserted, not committed.
    let (mut child, endpoint) = pause_at("alerts-commit");
    let clinic = register_keys(&endpoint, &database.clone().into(), &keys);
    let token = clinic.token().to_string();
    let device = clinic.add_device("p").unwrap();
    let stream = [
        Reading::new(130, 97),
        Reading::new(135, 97),
        Reading::new(70, 85),
    ];
    let encrypted: Vec<EncryptedReading> = stream
        .iter()
        .map(|&r| keys.provision_device().encrypt(r).unwrap())
        .collect();
    let batch: Vec<(u64, &EncryptedReading)> = encrypted
        .iter()
        .enumerate()
        .map(|(i, r)| (i as u64, r))
        .collect();
    device.post_readings(&batch).unwrap();
    kill_at_marker(&mut child, &marker);
    let (stored, pending, alerts) = Store::open(&database).unwrap().counts().unwrap();
    assert_eq!(stored, 3, "every acknowledged reading is stored");
    assert_eq!(alerts, 0, "the killed transaction left no alert");
    assert!(pending >= 1);

    // 2. Inside a registration's transaction: nothing stored, the token not used.
    let (mut child, endpoint) = pause_at("registration-commit");
    let clinics_before = Store::open(&database).unwrap().clinic_count().unwrap();
    let enrollment = enroll_in(&database.clone().into());
    let other = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
    let registering = {
        let (endpoint, enrollment) = (endpoint.clone(), enrollment.clone());
        let key = other.compressed_server_key().unwrap();
        let casting = other.compressed_casting_key().unwrap();
        std::thread::spawn(move || ClinicClient::register(&endpoint, &enrollment, &key, &casting))
    };
    kill_at_marker(&mut child, &marker);
    assert!(
        registering.join().unwrap().is_err(),
        "the client saw the kill"
    );
    assert_eq!(
        Store::open(&database).unwrap().clinic_count().unwrap(),
        clinics_before,
        "no clinic half-registered"
    );

    // 3. Inside a cohort's transaction. (This server also finishes the readings of step 1.)
    let (mut child, endpoint) = pause_at("cohort-commit");
    let clinic =
        ClinicClient::connect(&endpoint, &token, &TEST_PARAMS_INSECURE, keys.key_id()).unwrap();
    let alerts = fetch_all(&clinic, 3);
    let mut seqs: Vec<u64> = alerts.iter().map(|a| a.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [0, 1, 2], "each reading's alerts once");
    let want = AlertRules::default().evaluate(&stream);
    for a in &alerts {
        assert_eq!(keys.decrypt_flag(&a.any).unwrap(), want.any[a.seq as usize]);
    }
    // The enrollment token the killed registration held is still good.
    assert!(ClinicClient::register(
        &endpoint,
        &enrollment,
        &other.compressed_server_key().unwrap(),
        &other.compressed_casting_key().unwrap(),
    )
    .is_ok());
    let values = [120u16, 90, 150];
    for (i, v) in values.iter().enumerate() {
        let ct = keys.encrypt_lab_value(*v).unwrap();
        clinic
            .post_record(&format!("q{i}"), "glucose", "2026-06-01", &ct, 10, 3)
            .unwrap();
    }
    assert_eq!(fetch_all_analyses(&clinic, 3).len(), 3);
    let cohort = clinic.request_cohort("glucose", 100).unwrap();
    kill_at_marker(&mut child, &marker);
    let (_, _, _, cohorts_pending) = Store::open(&database).unwrap().record_counts().unwrap();
    assert_eq!(cohorts_pending, 1, "the killed cohort is still pending");

    // The restart (no fault) completes everything once.
    let (mut child, endpoint) = spawn_server(&database, None);
    let clinic =
        ClinicClient::connect(&endpoint, &token, &TEST_PARAMS_INSECURE, keys.key_id()).unwrap();
    let mut result = None;
    let begin = Instant::now();
    while result.is_none() && begin.elapsed() < Duration::from_secs(120) {
        result = clinic.fetch_cohort(cohort, Duration::from_secs(5)).unwrap();
    }
    let result = result.expect("the cohort finished after the restart");
    assert_eq!(
        keys.decrypt_cohort(&result.statistics).unwrap(),
        reference_cohort(&values, 100)
    );
    let store = Store::open(&database).unwrap();
    assert_eq!(store.counts().unwrap(), (3, 0, 3), "alerts computed once");
    assert_eq!(store.record_counts().unwrap(), (3, 0, 3, 0));
    assert_eq!(
        clinic.fetch_alerts(0, Duration::ZERO).unwrap().len(),
        3,
        "no alert twice"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_corrected_record_is_a_new_version() {
    a_corrected_record_is_a_new_version_on(Db::Sqlite);
}

#[test]
fn postgres_a_corrected_record_is_a_new_version() {
    a_corrected_record_is_a_new_version_on(Db::Postgres);
}

/// A record for a (patient, test, date) stored already with another value is a new version:
/// it supersedes the old one in the series' later windows and in cohorts, and its analysis
/// (compared with the records before its date) reaches the clinic with its version.
fn a_corrected_record_is_a_new_version_on(db: Db) {
    use glovebox::records::{reference_analysis, reference_cohort};
    let server = start_in(db);
    let (keys, clinic) = register(&server);
    let (change, window) = (10u16, 3usize);
    let post = |date: &str, v: u16| {
        clinic
            .post_record(
                "p-1",
                "glucose",
                date,
                &keys.encrypt_lab_value(v).unwrap(),
                change,
                window,
            )
            .unwrap()
    };
    assert_eq!(post("2026-04-01", 100).version, Some(1));
    assert_eq!(post("2026-04-02", 300).version, Some(1));
    assert_eq!(fetch_all_analyses(&clinic, 2).len(), 2);
    // 300 was a typo for 130.
    let corrected = post("2026-04-02", 130);
    assert_eq!((corrected.replay, corrected.version), (false, Some(2)));
    let analyses = fetch_all_analyses(&clinic, 3);
    let last = analyses.last().unwrap();
    assert_eq!((last.date.as_str(), last.version), ("2026-04-02", 2));
    assert_eq!(
        last.analysis
            .as_ref()
            .map(|a| keys.decrypt_analysis(a).unwrap()),
        reference_analysis(130, &[100], change, window)
    );
    // The next record compares with the corrected value, and a cohort counts it.
    post("2026-04-03", 125);
    let analyses = fetch_all_analyses(&clinic, 4);
    let next = analyses.last().unwrap();
    assert_eq!(
        next.analysis
            .as_ref()
            .map(|a| keys.decrypt_analysis(a).unwrap()),
        reference_analysis(125, &[100, 130], change, window)
    );
    let cohort = clinic.request_cohort("glucose", 120).unwrap();
    let mut result = None;
    let begin = Instant::now();
    while result.is_none() && begin.elapsed() < Duration::from_secs(60) {
        result = clinic.fetch_cohort(cohort, Duration::from_secs(5)).unwrap();
    }
    assert_eq!(
        keys.decrypt_cohort(&result.unwrap().statistics).unwrap(),
        reference_cohort(&[125], 120)
    );
}
