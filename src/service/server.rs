//! `glovebox serve`: the HTTP routes (axum on tokio) and the alert worker.

use super::store::{CohortRow, NewRecord, PendingReading, PendingRecord, RecordInsert, Store};
use super::{put_item, put_record, records, ServiceError};
use crate::prelude::*;
use crate::records::{
    analyze_records, cohort_statistics, value_blocks, RecordHistory, RecordInput, MAX_VALUE,
    MAX_WINDOW,
};
use crate::vitals::{AlertRules, EncryptedReading, MonitoringServer};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use glovebox_driver::DriverConfig;
use glovebox_engine::serialization::{from_bytes, to_bytes, Header};
use glovebox_integer::{BoolCiphertext, RadixCiphertext, RadixLayout};
use rand::RngCore;
use std::collections::HashMap;
use std::path::PathBuf;
use std::result::Result;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a service runs with.
pub struct ServiceConfig {
    /// The SQLite database (created if missing).
    pub database: PathBuf,
    /// The backend every clinic's bootstraps run on.
    pub backend: Arc<dyn Backend>,
    /// The alert rules.
    pub rules: AlertRules,
    /// Largest request body (a compressed server key on the default set is about 30 MB).
    pub max_body_bytes: usize,
    /// Readings per step of the worker (one per device).
    pub max_readings_per_step: usize,
    /// How long a reading waits for a missing predecessor before it is evaluated without it.
    pub reorder_grace: Duration,
}

impl ServiceConfig {
    /// A configuration with the default rules and limits.
    pub fn new(database: PathBuf, backend: Arc<dyn Backend>) -> Self {
        Self {
            database,
            backend,
            rules: AlertRules::default(),
            max_body_bytes: 64 << 20,
            max_readings_per_step: 64,
            reorder_grace: Duration::from_secs(2),
        }
    }
}

struct AppState {
    store: Store,
    config: ServiceConfig,
    /// Each clinic's expanded key and compiled rules, made at registration (after a restart:
    /// on first use).
    monitors: Mutex<HashMap<i64, Arc<ClinicMonitor>>>,
    /// Signalled when readings are committed (wakes the worker).
    work: tokio::sync::Notify,
    work_sync: (Mutex<bool>, std::sync::Condvar),
    /// Signalled when alerts are stored (wakes long polls).
    alerts: tokio::sync::Notify,
    /// Signalled when analyses or cohort results are stored.
    analyses: tokio::sync::Notify,
}

struct ClinicMonitor {
    params: &'static Parameters,
    key_id: u64,
    server: MonitoringServer,
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let (status, kind) = self.status();
        let body = serde_json::json!({ "error": self.to_string(), "kind": kind });
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(body),
        )
            .into_response()
    }
}

type Shared = Arc<AppState>;

/// Runs the service on `listener` until `shutdown` resolves. The worker thread starts first
/// and resumes any readings a previous run left pending.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: ServiceConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let store = Store::open(&config.database)?;
    let limit = config.max_body_bytes;
    let state = Arc::new(AppState {
        store,
        config,
        monitors: Mutex::new(HashMap::new()),
        work: tokio::sync::Notify::new(),
        work_sync: (Mutex::new(true), std::sync::Condvar::new()),
        alerts: tokio::sync::Notify::new(),
        analyses: tokio::sync::Notify::new(),
    });
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let worker = {
        let (state, stop) = (state.clone(), stop.clone());
        std::thread::Builder::new()
            .name("glovebox-alerts".into())
            .spawn(move || worker(state, stop))
            .map_err(|e| ServiceError::Store(format!("starting the worker: {e}")))?
    };
    let app = Router::new()
        .route("/v1/clinics", post(register_clinic))
        .route("/v1/devices", post(add_device))
        .route("/v1/readings", post(post_readings))
        .route("/v1/alerts", get(get_alerts))
        .route("/v1/records", post(post_record))
        .route("/v1/analyses", get(get_analyses))
        .route("/v1/cohorts", post(post_cohort))
        .route("/v1/cohorts/{id}", get(get_cohort))
        .route("/v1/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state.clone());
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| ServiceError::Http(e.to_string()));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    wake_worker(&state);
    let _ = worker.join();
    result
}

fn wake_worker(state: &AppState) {
    let (flag, cv) = &state.work_sync;
    *flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
    cv.notify_all();
    state.work.notify_waiters();
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// `Authorization: Bearer <prefix><id>.<secret>` → (id, secret).
fn bearer(headers: &HeaderMap, prefix: char) -> Result<(i64, String), ServiceError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ServiceError::Unauthorized("no bearer token".into()))?;
    let token = value
        .strip_prefix("Bearer ")
        .ok_or_else(|| ServiceError::Unauthorized("not a bearer token".into()))?;
    let rest = token
        .strip_prefix(prefix)
        .ok_or_else(|| ServiceError::Unauthorized("a token of the wrong kind".into()))?;
    let (id, secret) = rest
        .split_once('.')
        .ok_or_else(|| ServiceError::Unauthorized("a malformed token".into()))?;
    let id = id
        .parse()
        .map_err(|_| ServiceError::Unauthorized("a malformed token".into()))?;
    Ok((id, secret.to_string()))
}

fn clinic_id(state: &AppState, headers: &HeaderMap) -> Result<i64, ServiceError> {
    let (id, secret) = bearer(headers, 'c')?;
    if state.store.authenticate_clinic(id, &secret)? {
        Ok(id)
    } else {
        Err(ServiceError::Unauthorized("unknown clinic token".into()))
    }
}

/// The body, or the typed error for a body that could not be read (over the limit: 413).
fn body_or_error(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ServiceError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ServiceError::TooLarge {
                limit: state.config.max_body_bytes,
            }
        } else {
            ServiceError::BadRequest(e.body_text())
        }
    })
}

/// `POST /v1/clinics`, body: a compressed server key envelope → `{clinic_id, token}`.
async fn register_clinic(
    State(state): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ServiceError> {
    let body = body_or_error(&state, body)?;
    let task = tokio::task::spawn_blocking(move || -> Result<_, ServiceError> {
        let header = Header::parse(&body)?;
        let params = glovebox_engine::parameters::ALL
            .iter()
            .find(|p| p.fingerprint() == header.parameters_fingerprint)
            .ok_or_else(|| {
                ServiceError::Engine(Error::InvalidParameters(format!(
                    "parameter set {:#018x} is not one this server runs",
                    header.parameters_fingerprint
                )))
            })?;
        let secure = matches!(
            params.security,
            glovebox_engine::parameters::SecurityLevel::Secure { .. }
        );
        if !secure && !insecure_allowed() {
            return Err(ServiceError::BadRequest(format!(
                "{} is not a secure parameter set",
                params.name
            )));
        }
        let key: CompressedServerKey = from_bytes(&body, params, None, body.len())?;
        let secret = new_secret();
        let id = state
            .store
            .insert_clinic(&secret, params.name, key.key_id(), &body)?;
        // Expanded and uploaded to the backend now, once, so the first reading does not wait.
        load_monitor(&state, id)?;
        Ok((id, format!("c{id}.{secret}")))
    });
    let (id, token) = task
        .await
        .map_err(|e| ServiceError::Store(e.to_string()))??;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "clinic_id": id, "token": token })),
    ))
}

/// Insecure (test) parameter sets are refused unless `GLOVEBOX_ALLOW_INSECURE=1` (the tests).
fn insecure_allowed() -> bool {
    std::env::var_os("GLOVEBOX_ALLOW_INSECURE").is_some()
}

#[derive(serde::Deserialize)]
struct NewDevice {
    patient: String,
}

/// `POST /v1/devices` (clinic token), body `{"patient": name}` → `{device_id, token}`.
async fn add_device(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ServiceError> {
    let clinic = clinic_id(&state, &headers)?;
    let body = body_or_error(&state, body)?;
    let device: NewDevice = serde_json::from_slice(&body)
        .map_err(|e| ServiceError::BadRequest(format!("device: {e}")))?;
    if device.patient.is_empty() || device.patient.len() > 200 {
        return Err(ServiceError::BadRequest(
            "a patient name of 1 to 200 bytes".into(),
        ));
    }
    let secret = new_secret();
    let id = state
        .store
        .insert_device(clinic, &device.patient, &secret)?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "device_id": id, "token": format!("d{id}.{secret}") })),
    ))
}

/// `POST /v1/readings` (device token), body: reading records → `{accepted, replays}`.
/// Every envelope is decoded under the clinic's parameters and key before anything is
/// stored; then all are committed in one transaction.
async fn post_readings(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ServiceError> {
    let (device, secret) = bearer(&headers, 'd')?;
    let clinic = state
        .store
        .authenticate_device(device, &secret)?
        .ok_or_else(|| ServiceError::Unauthorized("unknown device token".into()))?;
    let body = body_or_error(&state, body)?;
    let monitor = monitor(&state, clinic).await?;
    let parsed = records(&body, 1).map_err(ServiceError::BadRequest)?;
    if parsed.is_empty() {
        return Err(ServiceError::BadRequest("no readings".into()));
    }
    let mut readings = Vec::with_capacity(parsed.len());
    for (head, envelope) in parsed {
        let cts: Vec<Ciphertext> =
            from_bytes(envelope, monitor.params, Some(monitor.key_id), 1 << 20)?;
        EncryptedReading::from_ciphertexts(cts, monitor.params)?;
        if head[0] > i64::MAX as u64 {
            return Err(ServiceError::BadRequest(
                "a sequence number above 2^63".into(),
            ));
        }
        readings.push((head[0], envelope.to_vec()));
    }
    let replays = state.store.insert_readings(clinic, device, &readings)?;
    wake_worker(&state);
    Ok(Json(serde_json::json!({
        "accepted": readings.len() - replays.len(),
        "replays": replays,
    })))
}

#[derive(serde::Deserialize)]
struct AlertsQuery {
    #[serde(default)]
    since: i64,
    #[serde(default)]
    wait_ms: u64,
    #[serde(default)]
    limit: Option<usize>,
}

/// Waits until `ready` has something (re-checked whenever `notify` fires) or `wait_ms` (at
/// most 30 s) passed; `None` at the deadline.
async fn long_poll<T>(
    notify: &tokio::sync::Notify,
    wait_ms: u64,
    mut ready: impl FnMut() -> Result<Option<T>, ServiceError>,
) -> Result<Option<T>, ServiceError> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms.min(30_000));
    loop {
        // Registered before the check, so a result stored in between still wakes this poll.
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(x) = ready()? {
            return Ok(Some(x));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

/// `GET /v1/alerts?since=ID&wait_ms=MS&limit=N` (clinic token): the clinic's alert records
/// after `since`, waiting up to `wait_ms` (at most 30 s) for the first one.
async fn get_alerts(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<AlertsQuery>,
) -> Result<Vec<u8>, ServiceError> {
    let clinic = clinic_id(&state, &headers)?;
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let rows = long_poll(&state.alerts, q.wait_ms, || {
        let rows = state.store.alerts_since(clinic, q.since, limit)?;
        Ok((!rows.is_empty()).then_some(rows))
    })
    .await?
    .unwrap_or_default();
    let mut out = (rows.len() as u32).to_le_bytes().to_vec();
    for r in rows {
        put_record(
            &mut out,
            &[r.id as u64, r.device_id as u64, r.seq],
            &r.flags,
        );
    }
    Ok(out)
}

#[derive(serde::Deserialize)]
struct RecordQuery {
    patient: String,
    test: String,
    date: String,
    #[serde(default)]
    change: u16,
    #[serde(default = "default_window")]
    window: usize,
}

fn default_window() -> usize {
    3
}

/// A calendar date `YYYY-MM-DD` (what orders a series).
fn valid_date(d: &str) -> bool {
    let b = d.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
    {
        return false;
    }
    let month: u32 = d[5..7].parse().unwrap_or(0);
    let day: u32 = d[8..10].parse().unwrap_or(0);
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

fn check_name(what: &str, v: &str) -> Result<(), ServiceError> {
    if v.is_empty() || v.len() > 200 {
        return Err(ServiceError::BadRequest(format!(
            "a {what} of 1 to 200 bytes"
        )));
    }
    Ok(())
}

/// `POST /v1/records?patient=&test=&date=&change=&window=` (clinic token), body: the value's
/// blocks (a ciphertext batch) → 201 `{record_id, replay: false}`, or 200 with
/// `replay: true` when the same (patient, test, date) is stored already.
async fn post_record(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<RecordQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ServiceError> {
    let clinic = clinic_id(&state, &headers)?;
    let body = body_or_error(&state, body)?;
    check_name("patient", &q.patient)?;
    check_name("test type", &q.test)?;
    if !valid_date(&q.date) {
        return Err(ServiceError::BadRequest(format!(
            "date {:?} is not YYYY-MM-DD",
            q.date
        )));
    }
    if q.change > MAX_VALUE {
        return Err(ServiceError::BadRequest(format!(
            "a change threshold above {MAX_VALUE}"
        )));
    }
    if !(1..=MAX_WINDOW).contains(&q.window) {
        return Err(ServiceError::BadRequest(format!(
            "a mean window of 1 to {MAX_WINDOW} records"
        )));
    }
    let monitor = monitor(&state, clinic).await?;
    decode_value(&monitor, &body)?;
    let inserted = state.store.insert_record(
        clinic,
        &NewRecord {
            patient: &q.patient,
            test: &q.test,
            date: &q.date,
            change_threshold: q.change,
            mean_window: q.window,
            value: &body,
        },
    )?;
    match inserted {
        RecordInsert::Stored(id) => {
            wake_worker(&state);
            Ok((
                StatusCode::CREATED,
                Json(serde_json::json!({ "record_id": id, "replay": false })),
            ))
        }
        RecordInsert::Replay(id) => Ok((
            StatusCode::OK,
            Json(serde_json::json!({ "record_id": id, "replay": true })),
        )),
        RecordInsert::OutOfOrder { latest } => Err(ServiceError::Conflict(format!(
            "{}'s {} series has a record of {latest}, after {}",
            q.patient, q.test, q.date
        ))),
    }
}

/// `GET /v1/analyses?since=ID&wait_ms=MS&limit=N` (clinic token): the clinic's record
/// analyses after `since`, waiting up to `wait_ms` (at most 30 s) for the first one.
async fn get_analyses(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<AlertsQuery>,
) -> Result<Vec<u8>, ServiceError> {
    let clinic = clinic_id(&state, &headers)?;
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let rows = long_poll(&state.analyses, q.wait_ms, || {
        let rows = state.store.analyses_since(clinic, q.since, limit)?;
        Ok((!rows.is_empty()).then_some(rows))
    })
    .await?
    .unwrap_or_default();
    let mut out = (rows.len() as u32).to_le_bytes().to_vec();
    for r in rows {
        let meta = serde_json::json!({
            "id": r.id,
            "record_id": r.record_id,
            "patient": r.patient,
            "test": r.test,
            "date": r.date,
            "window": r.mean_window,
        });
        put_item(&mut out, &meta, r.body.as_deref().unwrap_or(&[]));
    }
    Ok(out)
}

#[derive(serde::Deserialize)]
struct NewCohort {
    test: String,
    threshold: u16,
}

/// `POST /v1/cohorts` (clinic token), body `{"test": T, "threshold": X}` → 202
/// `{cohort_id}`: statistics over each patient's latest record of T stored so far.
async fn post_cohort(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ServiceError> {
    let clinic = clinic_id(&state, &headers)?;
    let body = body_or_error(&state, body)?;
    let job: NewCohort = serde_json::from_slice(&body)
        .map_err(|e| ServiceError::BadRequest(format!("cohort: {e}")))?;
    check_name("test type", &job.test)?;
    if job.threshold > MAX_VALUE {
        return Err(ServiceError::BadRequest(format!(
            "a threshold above {MAX_VALUE}"
        )));
    }
    let id = state
        .store
        .insert_cohort(clinic, &job.test, job.threshold)?
        .ok_or_else(|| ServiceError::NotFound(format!("no records of test {:?}", job.test)))?;
    wake_worker(&state);
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "cohort_id": id })),
    ))
}

#[derive(serde::Deserialize)]
struct WaitQuery {
    #[serde(default)]
    wait_ms: u64,
}

/// `GET /v1/cohorts/{id}?wait_ms=MS` (clinic token): 200 with the result item when done
/// (waiting up to `wait_ms`, at most 30 s), else 202 `{state: "pending"}`.
async fn get_cohort(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<WaitQuery>,
) -> Result<Response, ServiceError> {
    let clinic = clinic_id(&state, &headers)?;
    let job = long_poll(&state.analyses, q.wait_ms, || {
        let job = state
            .store
            .cohort(clinic, id)?
            .ok_or_else(|| ServiceError::NotFound(format!("cohort {id}")))?;
        Ok((job.done || job.failed).then_some(job))
    })
    .await?;
    let Some(job) = job else {
        return Ok((
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "cohort_id": id, "state": "pending" })),
        )
            .into_response());
    };
    if job.failed {
        let error = job.error.as_deref().unwrap_or("unknown");
        return Err(ServiceError::Failed(format!("cohort {id}: {error}")));
    }
    let meta = serde_json::json!({
        "cohort_id": job.id,
        "test": job.test,
        "threshold": job.threshold,
        "patients": job.patients,
    });
    let mut out = Vec::new();
    put_item(&mut out, &meta, job.body.as_deref().unwrap_or(&[]));
    Ok(out.into_response())
}

/// The clinic's monitor: its key expanded and uploaded, its rules compiled (once).
async fn monitor(state: &Shared, clinic: i64) -> Result<Arc<ClinicMonitor>, ServiceError> {
    if let Some(m) = state
        .monitors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&clinic)
    {
        return Ok(m.clone());
    }
    let state2 = state.clone();
    tokio::task::spawn_blocking(move || load_monitor(&state2, clinic))
        .await
        .map_err(|e| ServiceError::Store(e.to_string()))?
}

fn load_monitor(state: &AppState, clinic: i64) -> Result<Arc<ClinicMonitor>, ServiceError> {
    let cached = |state: &AppState| {
        state
            .monitors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&clinic)
            .cloned()
    };
    if let Some(m) = cached(state) {
        return Ok(m);
    }
    // Expanded without holding the lock, so other clinics' requests go on meanwhile; two
    // concurrent first uses may both expand, and the first one stored is kept.
    let row = state
        .store
        .clinic(clinic)?
        .ok_or_else(|| ServiceError::Unauthorized("unknown clinic".into()))?;
    let params = Parameters::by_name(&row.params)?;
    let key: CompressedServerKey = from_bytes(
        &row.server_key,
        params,
        Some(row.key_id),
        row.server_key.len(),
    )?;
    let server = MonitoringServer::new(
        Arc::new(key.expand()?),
        state.config.backend.clone(),
        state.config.rules.clone(),
        DriverConfig::default(),
    )?;
    let m = Arc::new(ClinicMonitor {
        params,
        key_id: row.key_id,
        server,
    });
    Ok(state
        .monitors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(clinic)
        .or_insert(m)
        .clone())
}

/// The worker: steps of pending readings (one per device), of pending records (one per
/// series), and pending cohort jobs (one at a time), until `stop`.
fn worker(state: Shared, stop: Arc<std::sync::atomic::AtomicBool>) {
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let steps = [
            readings_step(&state),
            records_step(&state),
            cohort_step(&state),
        ];
        let mut busy = false;
        for step in steps {
            match step {
                Ok(did) => busy |= did,
                Err(e) => {
                    eprintln!("glovebox serve: {e}");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        if !busy {
            let (flag, cv) = &state.work_sync;
            let mut woken = flag.lock().unwrap_or_else(|e| e.into_inner());
            if !*woken {
                woken = cv
                    .wait_timeout(woken, Duration::from_millis(500))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            *woken = false;
        }
    }
}

/// Attempts of a job that fails on its own before it is marked failed.
const MAX_ATTEMPTS: u32 = 5;

/// One step of jobs (readings or records): per clinic, all its jobs in one batch; when the
/// batch fails, one job at a time, to find the jobs that fail alone: each of those counts an
/// attempt (`fail`) and fails for good after [`MAX_ATTEMPTS`] (its stream or series goes on
/// without it). Whether there was any job.
fn run_step<J>(
    state: &AppState,
    pending: Vec<J>,
    clinic_of: impl Fn(&J) -> i64,
    run: impl Fn(&AppState, i64, &[J]) -> Result<(), ServiceError>,
    fail: impl Fn(&J, &str) -> Result<String, ServiceError>,
) -> Result<bool, ServiceError> {
    if pending.is_empty() {
        return Ok(false);
    }
    let mut by_clinic: HashMap<i64, Vec<J>> = HashMap::new();
    for p in pending {
        by_clinic.entry(clinic_of(&p)).or_default().push(p);
    }
    let mut result = Ok(true);
    for (clinic, jobs) in by_clinic {
        if run(state, clinic, &jobs).is_err() {
            for job in &jobs {
                if let Err(e) = run(state, clinic, std::slice::from_ref(job)) {
                    let what = fail(job, &e.to_string())?;
                    result = Err(ServiceError::Store(format!("clinic {clinic}, {what}: {e}")));
                }
            }
        }
    }
    result
}

/// One step of readings (one per device).
fn readings_step(state: &AppState) -> Result<bool, ServiceError> {
    let pending = state.store.next_pending(
        state.config.max_readings_per_step,
        state.config.reorder_grace,
    )?;
    let result = run_step(
        state,
        pending,
        |r: &PendingReading| r.clinic_id,
        evaluate,
        |r, error| {
            state
                .store
                .fail_reading(r.device_id, r.seq, error, MAX_ATTEMPTS)?;
            Ok(format!("device {}, reading {}", r.device_id, r.seq))
        },
    );
    state.alerts.notify_waiters();
    result
}

/// One step of records (one per series).
fn records_step(state: &AppState) -> Result<bool, ServiceError> {
    let pending = state
        .store
        .next_pending_records(state.config.max_readings_per_step)?;
    let result = run_step(
        state,
        pending,
        |r: &PendingRecord| r.clinic_id,
        analyze,
        |r, error| {
            state.store.fail_record(r.id, error, MAX_ATTEMPTS)?;
            Ok(format!("record {}", r.id))
        },
    );
    state.analyses.notify_waiters();
    result
}

/// The oldest pending cohort job; whether there was one.
fn cohort_step(state: &AppState) -> Result<bool, ServiceError> {
    let Some(job) = state.store.next_pending_cohort()? else {
        return Ok(false);
    };
    if let Err(e) = compute_cohort(state, &job) {
        state
            .store
            .fail_cohort(job.id, &e.to_string(), MAX_ATTEMPTS)?;
        return Err(ServiceError::Store(format!("cohort {}: {e}", job.id)));
    }
    state.analyses.notify_waiters();
    Ok(true)
}

fn compute_cohort(state: &AppState, job: &CohortRow) -> Result<(), ServiceError> {
    let monitor = load_monitor(state, job.clinic_id)?;
    let values = state.store.cohort_values(job)?;
    let decoded = values
        .iter()
        .map(|v| decode_value(&monitor, v))
        .collect::<Result<Vec<_>, _>>()?;
    let ints = monitor.server.integers()?;
    let stats = cohort_statistics(&ints, &decoded.iter().collect::<Vec<_>>(), job.threshold)?;
    let cts: Vec<Ciphertext> = [&stats.count_above, &stats.sum_above, &stats.sum_all]
        .iter()
        .flat_map(|x| blocks_of(x))
        .collect();
    commit_delay();
    state
        .store
        .complete_cohort(job.id, stats.patients, &to_bytes(&cts))
}

fn blocks_of(x: &RadixCiphertext) -> Vec<Ciphertext> {
    x.blocks().iter().map(|b| b.ciphertext().clone()).collect()
}

/// A stored lab value (or running maximum): a batch of a `u16`'s blocks.
fn decode_value(monitor: &ClinicMonitor, bytes: &[u8]) -> Result<RadixCiphertext, ServiceError> {
    let layout = RadixLayout::new(monitor.params)?;
    let cts: Vec<Ciphertext> = from_bytes(bytes, monitor.params, Some(monitor.key_id), 1 << 20)?;
    if cts.len() != value_blocks(&layout) {
        return Err(ServiceError::Engine(Error::DimensionMismatch {
            what: "blocks of a lab value",
            expected: value_blocks(&layout),
            got: cts.len(),
        }));
    }
    Ok(RadixCiphertext::from_fresh_blocks(cts, &layout))
}

/// One step of a clinic's records: decode each with its series' running maximum and window,
/// analyze them together, store analyses and running maxima (one transaction).
fn analyze(state: &AppState, clinic: i64, records: &[PendingRecord]) -> Result<(), ServiceError> {
    let monitor = load_monitor(state, clinic)?;
    struct Decoded {
        value: RadixCiphertext,
        previous_max: Option<RadixCiphertext>,
        window: Vec<RadixCiphertext>,
    }
    let decoded = records
        .iter()
        .map(|r| {
            Ok(Decoded {
                value: decode_value(&monitor, &r.value)?,
                previous_max: r
                    .previous_max
                    .as_ref()
                    .map(|m| decode_value(&monitor, m))
                    .transpose()?,
                window: r
                    .window
                    .iter()
                    .map(|v| decode_value(&monitor, v))
                    .collect::<Result<_, ServiceError>>()?,
            })
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    let inputs: Vec<RecordInput<'_>> = decoded
        .iter()
        .zip(records)
        .map(|(d, r)| RecordInput {
            value: &d.value,
            history: d.previous_max.as_ref().map(|m| RecordHistory {
                previous_max: m,
                last: d.window.last().expect("a previous record is in the window"),
                window: d.window.iter().collect(),
            }),
            change_threshold: r.change_threshold,
        })
        .collect();
    let ints = monitor.server.integers()?;
    let outcomes = analyze_records(&ints, &inputs)?;
    let done: Vec<(i64, i64, usize, Vec<u8>, Option<Vec<u8>>)> = records
        .iter()
        .zip(outcomes)
        .map(|(r, o)| {
            let (window, body) = match o.analysis {
                Some(a) => {
                    let mut cts = vec![
                        a.above_max.block().ciphertext().clone(),
                        a.changed.block().ciphertext().clone(),
                    ];
                    cts.extend(blocks_of(&a.gap_times_k));
                    (a.window, Some(to_bytes(&cts)))
                }
                None => (0, None),
            };
            (
                clinic,
                r.id,
                window,
                to_bytes(&blocks_of(&o.running_max)),
                body,
            )
        })
        .collect();
    commit_delay();
    state.store.complete_records(&done)
}

/// A fault-injection hook for the crash test: `GLOVEBOX_FAULT_COMMIT_DELAY_MS` makes the
/// worker wait that long between computing a step's results and committing them, so a test
/// can kill the server while results are computed but not stored.
fn commit_delay() {
    static DELAY: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
    let delay = DELAY.get_or_init(|| {
        std::env::var("GLOVEBOX_FAULT_COMMIT_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
    });
    if let Some(d) = delay {
        std::thread::sleep(*d);
    }
}

/// One step of a clinic's readings: decode, gather each device's earlier "any" flags,
/// evaluate, and store the alerts with the readings marked done (one transaction).
fn evaluate(
    state: &AppState,
    clinic: i64,
    readings: &[PendingReading],
) -> Result<(), ServiceError> {
    let monitor = load_monitor(state, clinic)?;
    let (params, key_id) = (monitor.params, monitor.key_id);
    let k = monitor.server.rules().sustained_readings as u64;
    let mut decoded = Vec::with_capacity(readings.len());
    let mut previous: Vec<Vec<BoolCiphertext>> = Vec::with_capacity(readings.len());
    for r in readings {
        let cts: Vec<Ciphertext> = from_bytes(&r.body, params, Some(key_id), 1 << 20)?;
        decoded.push(EncryptedReading::from_ciphertexts(cts, params)?);
        // The window: the k − 1 readings just before, all present (a gap in the stream
        // restarts it).
        let from = r.seq.saturating_sub(k - 1);
        let earlier = state.store.device_alerts(r.device_id, from, r.seq)?;
        let full = earlier.len() as u64 == r.seq - from && r.seq >= k - 1;
        let mut flags = Vec::new();
        if full {
            for (_, bytes) in earlier {
                let mut f: Vec<Ciphertext> = from_bytes(&bytes, params, Some(key_id), 1 << 20)?;
                if f.len() != 4 {
                    return Err(ServiceError::Store(
                        "a stored alert record of the wrong size".into(),
                    ));
                }
                flags.push(BoolCiphertext::from_ciphertext(f.swap_remove(2)));
            }
        }
        previous.push(flags);
    }
    let items: Vec<(&EncryptedReading, Vec<&BoolCiphertext>)> = decoded
        .iter()
        .zip(&previous)
        .map(|(r, p)| (r, p.iter().collect()))
        .collect();
    let alerts = monitor.server.evaluate_readings(&items)?;
    let done: Vec<(i64, i64, u64, Vec<u8>)> = readings
        .iter()
        .zip(alerts)
        .map(|(r, a)| {
            let flags: Vec<Ciphertext> = [a.heart_rate, a.spo2, a.any, a.sustained]
                .iter()
                .map(|b| b.block().ciphertext().clone())
                .collect();
            (clinic, r.device_id, r.seq, to_bytes(&flags))
        })
        .collect();
    commit_delay();
    state.store.complete(&done)
}
