//! The service's threat table, as a hospital's security reviewer would run it: one row per
//! defect issue 25 found, each a request (or a device) against the real server over TLS on
//! loopback, and the outcome that shows the defect closed. The README's "Security" section
//! lists the same rows. Rows that need a process of their own (the crash kills, the dead
//! worker, the command-line checks) are in `tests/service.rs`, named in the README.

mod common;
use common::FaultingBackend;
use glovebox::engine::serialization::{from_bytes, to_bytes};
use glovebox::engine::shortint::public_key::{CompactPrivateKey, CompactPublicKey};
use glovebox::prelude::*;
use glovebox::service::store::{Quotas, Store};
use glovebox::service::{
    serve, tls, ClinicClient, DeviceClient, Endpoint, ServiceConfig, ServiceError, StreamItem,
};
use glovebox::vitals::*;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The server under review and what the rows share.
struct Review {
    url: String,
    cert: String,
    database: std::path::PathBuf,
    backend: Arc<FaultingBackend>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Review {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Review {
    /// The service over TLS with a budget of one clinic's keys, two long polls, a 1 s header
    /// timeout.
    fn start() -> Self {
        std::env::set_var("GLOVEBOX_ALLOW_INSECURE", "1");
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("clinic.sqlite");
        Store::open(&database).unwrap();
        let backend = Arc::new(FaultingBackend::new());
        let mut config = ServiceConfig::new(database.clone(), backend.clone());
        let (cert, key) = tls::self_signed(&["127.0.0.1"]).unwrap();
        config.tls = Some(tls::server_config(cert.as_bytes(), key.as_bytes()).unwrap());
        config.key_cache_bytes = 1;
        config.max_long_polls = 2;
        config.header_timeout = Duration::from_secs(1);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime
                .block_on(serve(listener, config, async {
                    let _ = rx.await;
                }))
                .unwrap();
        });
        Self {
            url,
            cert,
            database,
            backend,
            stop: Some(tx),
            thread: Some(thread),
            _dir: dir,
        }
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::new(&self.url, Some(self.cert.as_bytes())).unwrap()
    }

    fn enroll(&self, quotas: Quotas) -> String {
        let secret = glovebox::service::new_token_secret();
        let expires = glovebox::service::store::now_ms() + 600_000;
        let id = Store::open(&self.database)
            .unwrap()
            .create_enrollment(&secret, expires, quotas)
            .unwrap();
        format!("e{id}.{secret}")
    }

    fn register(&self, quotas: Quotas) -> (Clinic, ClinicClient) {
        let keys = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
        let client = ClinicClient::register(
            &self.endpoint(),
            &self.enroll(quotas),
            &keys.compressed_server_key().unwrap(),
            &keys.compressed_casting_key().unwrap(),
        )
        .unwrap();
        (keys, client)
    }

    /// A raw request: its status and JSON body.
    fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> (u16, serde_json::Value) {
        let mut r = self
            .endpoint()
            .agent()
            .request(method, &format!("{}{path}", self.url));
        if let Some(t) = token {
            r = r.set("Authorization", &format!("Bearer {t}"));
        }
        let result = if method == "GET" {
            r.call()
        } else {
            r.send_bytes(body)
        };
        match result {
            Ok(resp) => (resp.status(), resp.into_json().unwrap_or_default()),
            Err(ureq::Error::Status(s, resp)) => (s, resp.into_json().unwrap_or_default()),
            Err(e) => (0, serde_json::json!({ "transport": e.to_string() })),
        }
    }

    fn health(&self) -> serde_json::Value {
        self.request("GET", "/v1/health", None, &[]).1
    }
}

fn status(r: std::result::Result<(), ServiceError>) -> u16 {
    match r {
        Ok(()) => 200,
        Err(ServiceError::Status { status, .. }) => status,
        Err(_) => 0,
    }
}

fn expect(what: &str, got: impl std::fmt::Debug, ok: bool) -> std::result::Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}"))
    }
}

fn all_alerts(clinic: &ClinicClient, count: usize) -> Vec<StreamItem> {
    let mut got = Vec::new();
    let begin = Instant::now();
    while got.len() < count && begin.elapsed() < Duration::from_secs(60) {
        let since = got.last().map_or(0, StreamItem::id);
        got.extend(clinic.fetch_stream(since, Duration::from_secs(2)).unwrap());
    }
    got
}

type Row = (
    &'static str,
    &'static str,
    fn(&Review) -> std::result::Result<(), String>,
);

/// The table: (defect, outcome that closes it, the check).
fn rows() -> Vec<Row> {
    vec![
        (
            "a wearable held the clinic's secret key",
            "it holds the compact public key only: its bytes are no secret key of any kind",
            |_| {
                let clinic = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
                let held = to_bytes(clinic.provision_device().public_key());
                let p = &TEST_PARAMS_INSECURE;
                let public = from_bytes::<CompactPublicKey>(&held, p, None, 1 << 24).is_ok();
                let client = from_bytes::<ClientKey>(&held, p, None, 1 << 24).is_err();
                let private = from_bytes::<CompactPrivateKey>(&held, p, None, 1 << 24).is_err();
                expect(
                    "decodes",
                    (public, client, private),
                    public && client && private,
                )
            },
        ),
        (
            "plain HTTP: tokens, names and ciphertexts in clear",
            "TLS; a client refuses plain HTTP to a host other than loopback",
            |r| {
                let refused = Endpoint::new("http://10.1.2.3:8080", None).is_err();
                expect(
                    "plain http off loopback",
                    refused,
                    refused && r.url.starts_with("https"),
                )
            },
        ),
        (
            "a client could not tell the server from an impostor",
            "a client that trusts another certificate is refused",
            |r| {
                let (other, _) = tls::self_signed(&["127.0.0.1"]).unwrap();
                let e = Endpoint::new(&r.url, Some(other.as_bytes())).unwrap();
                let got = e.agent().get(&format!("{}/v1/health", r.url)).call();
                expect("impostor trusted", got.is_ok(), got.is_err())
            },
        ),
        (
            "anyone could register a clinic",
            "401 without an enrollment token, and for a used one",
            |r| {
                let (none, _) = r.request("POST", "/v1/clinics", None, b"x");
                let token = r.enroll(Quotas::default());
                let keys = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
                let (key, casting) = (
                    keys.compressed_server_key().unwrap(),
                    keys.compressed_casting_key().unwrap(),
                );
                let first = ClinicClient::register(&r.endpoint(), &token, &key, &casting).is_ok();
                let again = ClinicClient::register(&r.endpoint(), &token, &key, &casting);
                let again = status(again.map(|_| ()));
                expect(
                    "statuses",
                    (none, first, again),
                    none == 401 && first && again == 401,
                )
            },
        ),
        (
            "a secret key could be uploaded as a key",
            "a client key in a registration is a 422 and nothing is stored",
            |r| {
                let keys = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
                let before = Store::open(&r.database).unwrap().clinic_count().unwrap();
                let body = glovebox::service::wire::encode_registration(
                    &to_bytes(keys.client_key()),
                    &to_bytes(&keys.compressed_casting_key().unwrap()),
                );
                let token = r.enroll(Quotas::default());
                let (s, _) = r.request("POST", "/v1/clinics", Some(&token), &body);
                let after = Store::open(&r.database).unwrap().clinic_count().unwrap();
                expect(
                    "status, clinics",
                    (s, before, after),
                    s == 422 && before == after,
                )
            },
        ),
        (
            "every expanded key stayed in memory for ever",
            "an LRU cache under a budget: three clinics, one resident",
            |r| {
                for _ in 0..3 {
                    let (keys, clinic) = r.register(Quotas::default());
                    let d = clinic.add_device("p").unwrap();
                    let e = keys
                        .provision_device()
                        .encrypt(Reading::new(80, 97))
                        .unwrap();
                    d.post_readings(&[(0, &e)]).unwrap();
                    all_alerts(&clinic, 1);
                }
                let h = r.health();
                expect("health", &h, h["clinics_cached"] == 1)
            },
        ),
        (
            "one 64 MiB body limit for every route",
            "a device's JSON over 4 KiB is a 413",
            |r| {
                let (_, clinic) = r.register(Quotas::default());
                let body = format!("{{\"patient\":\"{}\"}}", "x".repeat(5000));
                let (s, _) =
                    r.request("POST", "/v1/devices", Some(clinic.token()), body.as_bytes());
                expect("status", s, s == 413)
            },
        ),
        (
            "bodies were read before the token was checked",
            "an 8 MiB body with a forged token: a 401, the body never kept",
            |r| {
                let body = vec![7u8; 8 << 20];
                let (s, _) = r.request("POST", "/v1/readings", Some("d1.forged"), &body);
                expect("status", s, s == 401)
            },
        ),
        (
            "no header or idle timeout",
            "a connection that sends nothing is closed after the header timeout",
            |r| {
                use std::io::Read;
                let mut tcp =
                    std::net::TcpStream::connect(r.url.trim_start_matches("https://")).unwrap();
                tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let begin = Instant::now();
                let mut buf = [0u8; 16];
                let closed = matches!(tcp.read(&mut buf), Ok(0) | Err(_));
                let t = begin.elapsed();
                expect("closed after", t, closed && t < Duration::from_secs(5))
            },
        ),
        (
            "no cap on open long polls",
            "a long poll past the cap is a 503",
            |r| {
                let (_, clinic) = r.register(Quotas::default());
                let statuses = std::thread::scope(|s| {
                    let polls: Vec<_> = (0..2)
                        .map(|_| s.spawn(|| clinic.fetch_alerts(0, Duration::from_millis(4000))))
                        .collect();
                    std::thread::sleep(Duration::from_millis(1000));
                    let third = status(
                        clinic
                            .fetch_alerts(0, Duration::from_millis(1500))
                            .map(|_| ()),
                    );
                    for p in polls {
                        let _ = p.join();
                    }
                    third
                });
                expect("status", statuses, statuses == 503)
            },
        ),
        (
            "a device had no quota",
            "readings past the clinic's rate are a 429",
            |r| {
                let (keys, clinic) = r.register(Quotas {
                    readings_per_second: 2,
                    ..Quotas::default()
                });
                let d = clinic.add_device("p").unwrap();
                let e = keys
                    .provision_device()
                    .encrypt(Reading::new(80, 97))
                    .unwrap();
                let batch: Vec<(u64, &EncryptedReading)> = (0..6).map(|s| (s, &e)).collect();
                let burst = d.post_readings(&batch[..4]).map(|o| o.accepted);
                let s = status(d.post_readings(&batch[4..]).map(|_| ()));
                expect("burst, then", (&burst, s), burst.is_ok() && s == 429)
            },
        ),
        (
            "a 1–2 s outage dropped every pending alert",
            "backend faults beyond a job's attempts are retried, not counted: the alert comes",
            |r| {
                let (keys, clinic) = r.register(Quotas::default());
                let d = clinic.add_device("p").unwrap();
                r.backend.faults.store(6, Ordering::SeqCst);
                let e = keys
                    .provision_device()
                    .encrypt(Reading::new(130, 97))
                    .unwrap();
                d.post_readings(&[(0, &e)]).unwrap();
                let got = all_alerts(&clinic, 1);
                let ok = matches!(got.first(), Some(StreamItem::Alerts(a))
                    if keys.decrypt_flag(&a.heart_rate).unwrap());
                expect("stream", got.len(), ok)
            },
        ),
        (
            "a failed reading vanished silently",
            "it reaches the clinic's stream with its reason",
            |r| {
                let (_, clinic) = r.register(Quotas::default());
                let d = clinic.add_device("p").unwrap();
                Store::open(&r.database)
                    .unwrap()
                    .insert_readings(clinic.clinic_id(), d.device_id(), &[(0, b"GBOX?".to_vec())])
                    .unwrap();
                let got = all_alerts(&clinic, 1);
                let ok = matches!(got.first(), Some(StreamItem::Failed(f)) if !f.reason.is_empty());
                expect("stream", got.len(), ok)
            },
        ),
        (
            "health said ok whatever the worker did",
            "health reports both worker lanes, restarts and pending jobs",
            |r| {
                let h = r.health();
                let ok = h["status"] == "ok"
                    && h["worker_lanes_running"] == 2
                    && h["worker_restarts"].is_u64()
                    && h["pending_readings"].is_u64();
                expect("health", &h, ok)
            },
        ),
        (
            "another reading under a used sequence number was dropped silently",
            "a 409, nothing of the batch stored",
            |r| {
                let (keys, clinic) = r.register(Quotas::default());
                let d = clinic.add_device("p").unwrap();
                let dev = keys.provision_device();
                let (a, b) = (
                    dev.encrypt(Reading::new(80, 97)).unwrap(),
                    dev.encrypt(Reading::new(80, 97)).unwrap(),
                );
                d.post_readings(&[(0, &a)]).unwrap();
                let same = d.post_readings(&[(0, &a)]).map(|o| o.replays);
                let other = status(d.post_readings(&[(0, &b)]).map(|_| ()));
                expect(
                    "replay, conflict",
                    (&same, other),
                    same.is_ok() && other == 409,
                )
            },
        ),
        (
            "plain-text and empty error bodies; store errors word for word",
            "every rejection a JSON body with a request id",
            |r| {
                let cases = [
                    r.request("GET", "/v1/nothing", None, &[]),
                    r.request("PUT", "/v1/alerts", None, b"x"),
                    r.request("GET", "/v1/alerts?since=abc", Some("c1.x"), &[]),
                ];
                let ok = cases.iter().all(|(s, j)| {
                    (400..500).contains(s) && j["error"].is_string() && j["request_id"].is_string()
                });
                expect("answers", &cases, ok)
            },
        ),
        (
            "2026-02-30 was a date",
            "a record dated 2026-02-30 is a 400",
            |r| {
                let (keys, clinic) = r.register(Quotas::default());
                let v = keys.encrypt_lab_value(100).unwrap();
                let s = status(
                    clinic
                        .post_record("p-1", "glucose", "2026-02-30", &v, 10, 3)
                        .map(|_| ()),
                );
                expect("status", s, s == 400)
            },
        ),
        (
            "a stolen device or clinic token worked for ever",
            "a revoked device and a rotated-away clinic token are 401s",
            |r| {
                let (keys, mut clinic) = r.register(Quotas::default());
                let d = clinic.add_device("p").unwrap();
                clinic.revoke_device(d.device_id()).unwrap();
                let e = keys
                    .provision_device()
                    .encrypt(Reading::new(80, 97))
                    .unwrap();
                let revoked = status(d.post_readings(&[(0, &e)]).map(|_| ()));
                let old = clinic.token().to_string();
                clinic.rotate_token().unwrap();
                let (stale, _) = r.request("GET", "/v1/alerts", Some(&old), &[]);
                let again = DeviceClient::connect(&r.endpoint(), d.token()).unwrap();
                let still = status(again.post_readings(&[(1, &e)]).map(|_| ()));
                expect(
                    "statuses",
                    (revoked, stale, still),
                    revoked == 401 && stale == 401 && still == 401,
                )
            },
        ),
    ]
}

/// Every row of the table holds; a failing row names its defect.
#[test]
fn the_threat_table_holds() {
    let review = Review::start();
    let mut failed = Vec::new();
    for (defect, outcome, check) in rows() {
        let begin = Instant::now();
        let result = check(&review);
        eprintln!(
            "{:<70} {:<6} {:>6.2} s  {outcome}",
            defect,
            if result.is_ok() { "ok" } else { "FAILED" },
            begin.elapsed().as_secs_f64()
        );
        if let Err(e) = result {
            failed.push(format!("{defect}: {e}"));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}
