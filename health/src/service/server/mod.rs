//! `glovebox serve`: the HTTP service (axum on tokio) and its alert worker, by concern:
//!
//! - `routes`: the router and one handler group per resource (clinics and devices,
//!   readings and alerts, records, analyses and cohorts);
//! - `auth`: the clinic and device tokens as extractors that every handler names;
//! - `keys`: the cache of each clinic's expanded key and compiled rules;
//! - `worker`: the thread that computes pending jobs and commits their results;
//! - the store ([`super::store`]) is reached from async code only through `with_store`,
//!   off the runtime's threads: a long fsync never stalls an acknowledgement or a long poll.

mod auth;
mod drain;
mod keys;
mod limits;
mod routes;
mod worker;

use super::store::{Database, Store, StoreError};
use super::ServiceError;
use crate::prelude::*;
use crate::vitals::AlertRules;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keys::KeyCache;
use std::result::Result;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a service runs with.
pub struct ServiceConfig {
    /// The store: a SQLite file (created if missing), or a PostgreSQL database shared with
    /// other API servers and workers.
    pub database: Database,
    /// The backend every clinic's bootstraps run on.
    pub backend: Arc<dyn Backend>,
    /// The alert rules.
    pub rules: AlertRules,
    /// Largest request body (a compressed server key on the default set is about 30 MB).
    pub max_body_bytes: usize,
    /// Readings per step of the worker (one per device).
    pub max_readings_per_step: usize,
    /// Steps of readings a worker computes at once, each on devices of its own (a part of the
    /// worker's share): while one step's bootstraps rotate, the next one's batch forms, and
    /// one step's claim, decoding and commit overlap the others' bootstraps.
    pub steps_in_flight: usize,
    /// The schedule of `backend`, shared by every clinic's driver on it: their batches take
    /// turns on the backend, and each clinic's batch grows while another's rotates.
    pub backend_schedule: Arc<glovebox_driver::BackendSchedule>,
    /// How long a reading waits for a missing predecessor before it is evaluated without it.
    pub reorder_grace: Duration,
    /// How long a worker's claim on a job lasts without a heartbeat (it sends one every
    /// quarter of it while it lives): a dead worker's jobs are claimed again after it.
    pub lease: Duration,
    /// Whether the server computes jobs itself (its worker lanes). A server on a shared
    /// store (PostgreSQL) may leave them to `glovebox worker` processes.
    pub in_process_worker: bool,
    /// TLS (rustls): `None` serves plain HTTP, which `glovebox serve` allows on loopback only.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Memory for clinics' expanded keys (host and backend); least recently used clinics are
    /// evicted past it (and expanded again on their next request).
    pub key_cache_bytes: usize,
    /// Connections open at once; a connection past it is closed at accept.
    pub max_connections: usize,
    /// Long polls waiting at once; one past it is a 503.
    pub max_long_polls: usize,
    /// How long a client has to send a request's headers (also how long a kept-alive
    /// connection may sit idle).
    pub header_timeout: Duration,
    /// How long a request may take in all (body, work, long poll): past it, a 408.
    pub request_timeout: Duration,
}

impl ServiceConfig {
    /// A configuration with the default rules and limits.
    pub fn new(database: impl Into<Database>, backend: Arc<dyn Backend>) -> Self {
        Self {
            database: database.into(),
            backend,
            rules: AlertRules::default(),
            max_body_bytes: 64 << 20,
            max_readings_per_step: 64,
            steps_in_flight: 2,
            backend_schedule: Arc::new(glovebox_driver::BackendSchedule::new()),
            reorder_grace: Duration::from_secs(2),
            lease: Duration::from_secs(30),
            in_process_worker: true,
            tls: None,
            key_cache_bytes: 8 << 30,
            max_connections: 4096,
            max_long_polls: 1024,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
        }
    }
}

/// The state every handler and the worker share.
struct AppState {
    store: Store,
    /// This process's name on the leases its worker takes.
    owner: String,
    config: ServiceConfig,
    /// Each clinic's expanded key and compiled rules.
    keys: KeyCache,
    /// Set and signalled when jobs are committed (wakes the worker).
    /// A generation counted up and signalled when jobs are committed (each worker lane keeps
    /// the last one it saw, so no lane can take another's wake-up).
    work: (Mutex<u64>, std::sync::Condvar),
    /// Signalled when alerts are stored (wakes long polls).
    alerts: tokio::sync::Notify,
    /// Signalled when analyses or cohort results are stored.
    analyses: tokio::sync::Notify,
    /// Worker lanes running now (of [`worker::Lane`]'s two), and how many times a supervisor
    /// restarted one that stopped (a panic).
    workers_running: std::sync::atomic::AtomicUsize,
    worker_restarts: std::sync::atomic::AtomicU64,
    /// Permits of waiting long polls.
    long_polls: tokio::sync::Semaphore,
}

impl AppState {
    /// Wakes the worker: jobs were committed.
    fn wake_worker(&self) {
        let (generation, cv) = &self.work;
        *generation.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        cv.notify_all();
    }
}

type Shared = Arc<AppState>;

tokio::task_local! {
    /// The id of the request being answered (set by [`routes`]'s request-id layer).
    pub(super) static REQUEST_ID: String;
}

/// Errors as answers: a JSON body `{"error", "kind", "request_id"}`. An internal failure (the
/// store, the server itself) is logged with the request id and answered generically: its
/// details (SQL, paths) stay in the server's log.
impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let (status, kind) = self.status();
        let id = REQUEST_ID.try_with(|id| id.clone()).unwrap_or_default();
        let internal = matches!(
            self,
            ServiceError::Store(_)
                | ServiceError::Internal(_)
                | ServiceError::Io(_)
                | ServiceError::Http(_)
                | ServiceError::Status { .. }
        );
        let message = if internal {
            eprintln!("glovebox serve: request {id}: {self}");
            format!("internal error (request {id}; the server's log has the details)")
        } else {
            self.to_string()
        };
        let body = serde_json::json!({ "error": message, "kind": kind, "request_id": id });
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(body),
        )
            .into_response()
    }
}

/// Runs `f` on the store on tokio's blocking pool, off the runtime's worker threads (SQLite
/// with `synchronous = FULL` waits for the disk, and the worker holds the store's connection
/// for whole transactions).
async fn with_store<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ServiceError> {
    let state = state.clone();
    blocking(move || f(&state.store).map_err(ServiceError::from)).await
}

/// Runs blocking work (the store, key expansion) on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::Internal(format!("a blocking task: {e}")))?
}

/// The state of a server or a worker process over `store`.
fn new_state(store: Store, config: ServiceConfig) -> Shared {
    let cache_bytes = config.key_cache_bytes;
    let long_polls = tokio::sync::Semaphore::new(config.max_long_polls);
    Arc::new(AppState {
        store,
        owner: Store::new_lease_owner(),
        config,
        keys: KeyCache::new(cache_bytes),
        work: (Mutex::new(0), std::sync::Condvar::new()),
        alerts: tokio::sync::Notify::new(),
        analyses: tokio::sync::Notify::new(),
        workers_running: std::sync::atomic::AtomicUsize::new(0),
        worker_restarts: std::sync::atomic::AtomicU64::new(0),
        long_polls,
    })
}

/// Starts the worker: its lanes' supervisors, and the heartbeat that extends its leases.
fn start_worker(
    state: &Shared,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> Result<Vec<std::thread::JoinHandle<()>>, ServiceError> {
    let mut threads = Vec::new();
    for lane in [worker::Lane::Alerts, worker::Lane::Batch] {
        let (state, stop) = (state.clone(), stop.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("glovebox-supervisor-{lane:?}").to_lowercase())
                .spawn(move || worker::supervise(state, stop, lane))
                .map_err(|e| ServiceError::Internal(format!("starting the worker: {e}")))?,
        );
    }
    let (state, stop) = (state.clone(), stop.clone());
    threads.push(
        std::thread::Builder::new()
            .name("glovebox-heartbeat".into())
            .spawn(move || worker::heartbeat(state, stop))
            .map_err(|e| ServiceError::Internal(format!("starting the heartbeat: {e}")))?,
    );
    Ok(threads)
}

/// On a shared store, the thread that turns the store's notifications (jobs stored by any
/// API server, results stored by any worker) into this process's wake-ups.
fn listen(
    state: &Shared,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> Result<Vec<std::thread::JoinHandle<()>>, ServiceError> {
    if !state.store.is_shared() {
        return Ok(Vec::new());
    }
    let (state, stop) = (state.clone(), stop.clone());
    let thread = std::thread::Builder::new()
        .name("glovebox-listen".into())
        .spawn(move || {
            let woken = |channel: &str| match channel {
                super::store::JOBS_CHANNEL => state.wake_worker(),
                _ => {
                    state.alerts.notify_waiters();
                    state.analyses.notify_waiters();
                }
            };
            let stopped = || stop.load(std::sync::atomic::Ordering::Relaxed);
            let mut backoff = Duration::from_millis(100);
            while !stopped() {
                if let Err(e) = state.store.listen(&woken, &stopped) {
                    eprintln!("glovebox: listening for the store's notifications: {e}");
                    worker::pause(&stop, backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    // What was notified while not listening: looked for at once.
                    woken(super::store::JOBS_CHANNEL);
                    woken(super::store::RESULTS_CHANNEL);
                } else {
                    backoff = Duration::from_millis(100);
                }
            }
        })
        .map_err(|e| ServiceError::Internal(format!("starting the listener: {e}")))?;
    Ok(vec![thread])
}

/// Runs a worker process on the shared store `config.database` until `stop` is set: it
/// claims jobs under leases, computes them on `config.backend` and commits them, as the
/// server's in-process worker does (one job loop), woken by the store's notifications.
pub fn work(
    config: ServiceConfig,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Result<(), ServiceError> {
    let store = Store::open_database(&config.database)?;
    let state = new_state(store, config);
    let mut threads = start_worker(&state, &stop)?;
    threads.extend(listen(&state, &stop)?);
    eprintln!(
        "glovebox worker: {} on {}, backend {}",
        state.owner,
        state.config.database,
        state.config.backend.name()
    );
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
    state.wake_worker();
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

/// Runs the service on `listener` until `shutdown` resolves. The worker thread starts first
/// and resumes any jobs a previous run left pending.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: ServiceConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    // Off the runtime's threads, as every store call (PostgreSQL's blocking client runs a
    // runtime of its own).
    let database = config.database.clone();
    let store = blocking(move || {
        let store = Store::open_database(&database)?;
        store.release_all_claims()?;
        Ok(store)
    })
    .await?;
    let limit = config.max_body_bytes;
    let connections = Arc::new(tokio::sync::Semaphore::new(config.max_connections));
    let in_process_worker = config.in_process_worker;
    let state = new_state(store, config);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = if in_process_worker {
        start_worker(&state, &stop)?
    } else {
        Vec::new()
    };
    workers.extend(listen(&state, &stop)?);
    let app = routes::router(limit, state.config.request_timeout).with_state(state.clone());
    let header_timeout = state.config.header_timeout;
    // One server for both schemes (axum-server on hyper): connections capped at accept,
    // TLS handshakes per connection and the first request's headers each within
    // `header_timeout`, every request within `request_timeout`.
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    let listener = listener
        .into_std()
        .map_err(|e| ServiceError::Internal(format!("the listener: {e}")))?;
    let result = match state.config.tls.clone() {
        None => {
            let acceptor = limits::Capped::new(
                axum_server::accept::DefaultAcceptor,
                connections,
                header_timeout,
            );
            let mut server = axum_server::from_tcp(listener).acceptor(acceptor);
            limits::configure(server.http_builder(), header_timeout);
            server.handle(handle).serve(app.into_make_service()).await
        }
        Some(tls) => {
            let rustls = axum_server::tls_rustls::RustlsAcceptor::new(
                axum_server::tls_rustls::RustlsConfig::from_config(tls),
            )
            .handshake_timeout(header_timeout);
            let acceptor = limits::Capped::new(rustls, connections, header_timeout);
            let mut server = axum_server::from_tcp(listener).acceptor(acceptor);
            limits::configure(server.http_builder(), header_timeout);
            server.handle(handle).serve(app.into_make_service()).await
        }
    }
    .map_err(|e| ServiceError::Http(e.to_string()));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    state.wake_worker();
    for w in workers {
        let _ = w.join();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An internal failure is answered without its details, with the request's id; a client's
    /// error keeps its message.
    #[test]
    fn internal_errors_are_answered_generically_with_the_request_id() {
        let body = |e: ServiceError| {
            REQUEST_ID.sync_scope("00c0ffee00c0ffee".to_string(), || {
                let response = e.into_response();
                let status = response.status();
                let bytes = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap()
                    .block_on(axum::body::to_bytes(response.into_body(), 1 << 16))
                    .unwrap();
                (
                    status,
                    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
                )
            })
        };
        let (status, json) = body(ServiceError::Store(StoreError::Inconsistent(
            "SELECT token_hash FROM clinics".into(),
        )));
        assert_eq!(status, 500);
        assert_eq!(json["request_id"], "00c0ffee00c0ffee");
        let text = json["error"].as_str().unwrap();
        assert!(
            !text.contains("SELECT") && text.contains("00c0ffee00c0ffee"),
            "{text}"
        );
        let (status, json) = body(ServiceError::BadRequest("a date".into()));
        assert_eq!(status, 400);
        assert_eq!(json["error"], "bad request: a date");
        assert_eq!(json["request_id"], "00c0ffee00c0ffee");
    }
}
