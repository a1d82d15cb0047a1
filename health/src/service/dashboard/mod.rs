//! The clinic's dashboard: a web page served on the clinic's own machine, which decrypts with
//! the clinic's key. The cloud server never serves plaintext: the dashboard fetches the
//! clinic's encrypted stream, analyses and cohort results from it ([`ClinicClient`]), decrypts
//! them here ([`Clinic`]), and shows the ward ([`ward::Ward`]): each patient's state, the time
//! since their last reading, quiet devices, each patient's timeline of heart-rate, SpO2,
//! "any" and "sustained" flags with late, failed and missing readings marked, lab analyses
//! against the patient's past, and cohort figures on request. The page updates live through
//! server-sent events (`GET /api/events`: a `snapshot` event, then an `update` event per
//! change).
//!
//! What it shows is plaintext, so it is guarded:
//! - on a non-loopback address it is served over TLS only ([`DashboardConfig::tls`]);
//! - every request needs the access token printed at start: `/?token=…` once, which sets an
//!   `HttpOnly`, `SameSite=Strict` cookie (or `Authorization: Bearer …` for scripts);
//! - without TLS, a request whose `Host` is not a loopback name is refused (a page elsewhere
//!   cannot rebind a name of its own to 127.0.0.1 and read the ward);
//! - a cohort request (`POST /api/cohorts`) needs a JSON body, which a form of another site
//!   cannot send without the browser asking first.
//!
//! Its assets (HTML, script, style) are part of the binary; nothing comes from the network.

pub mod ward;

use crate::service::{ClinicClient, ServiceError, StreamItem};
use crate::vitals::Clinic;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use ward::{AnalysisView, CohortStatus, CohortView, Outcome, Update, Ward};

const INDEX_HTML: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/dashboard.js");
const STYLE: &str = include_str!("assets/dashboard.css");
const COOKIE: &str = "glovebox_dashboard";
/// Cohort jobs pending at once (each waits on the server in a thread of its own).
const MAX_PENDING_COHORTS: usize = 4;

/// The names the clinic knows its patients by: its devices' patients, and the names behind
/// the pseudonyms the server knows records by.
#[derive(Clone, Debug, Default)]
pub struct Roster {
    pub devices: BTreeMap<i64, String>,
    pub pseudonyms: BTreeMap<String, String>,
}

/// Where the dashboard's data comes from: the clinic's client of the server, its secret keys
/// (which never leave this machine), and its roster, read again before each fetch (devices
/// added meanwhile get their names).
pub struct DashboardSource {
    pub client: ClinicClient,
    pub keys: Clinic,
    pub roster: Box<dyn Fn() -> Roster + Send + Sync>,
}

/// How the dashboard is served.
#[derive(Clone)]
pub struct DashboardConfig {
    /// TLS (required on a non-loopback address).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The access token (`/?token=…`).
    pub access_token: String,
    /// A device is quiet after this long without a reading.
    pub quiet_after: Duration,
    /// A reading is late when it comes more than this after its device's previous one (the
    /// wearables send one a second).
    pub late_after: Duration,
    /// Readings kept per patient.
    pub history: usize,
    /// How long each fetch from the server waits for something new (long poll).
    pub poll_wait: Duration,
}

impl DashboardConfig {
    /// A fresh random access token, no TLS, quiet after 10 s, late after 3 s, 3,600 readings
    /// (an hour at one a second) per patient.
    pub fn new() -> Self {
        Self {
            tls: None,
            access_token: crate::service::new_token_secret(),
            quiet_after: Duration::from_secs(10),
            late_after: Duration::from_secs(3),
            history: 3600,
            poll_wait: Duration::from_secs(10),
        }
    }
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// This machine's clock, as the store keeps receipt times (ms since the Unix epoch).
fn now_ms() -> u64 {
    crate::service::store::now_ms().max(0) as u64
}

/// What the handlers and the fetching threads share.
struct Dashboard {
    ward: Mutex<Ward>,
    /// Each change as the JSON of an [`Update`]; sent while `ward` is locked, so a subscriber
    /// that took its snapshot under the lock misses nothing and sees nothing twice.
    events: tokio::sync::broadcast::Sender<Arc<String>>,
    source: DashboardSource,
    token: String,
    /// The cookie's name, with the port (cookies ignore ports: two dashboards on one machine
    /// keep theirs apart).
    cookie: String,
    tls: bool,
    cohort_requests: AtomicU64,
    /// Each fetcher's latest failure to reach or read the server, shown on the page (cleared
    /// by its next success). Locked after `ward`.
    link_errors: Mutex<BTreeMap<&'static str, String>>,
    /// Each fetcher's call in flight, by when it started (watched for stalls).
    fetching: Mutex<BTreeMap<&'static str, std::time::Instant>>,
    stop: AtomicBool,
}

impl Dashboard {
    /// Applies `change` to the ward and sends what it changed.
    fn change(&self, change: impl FnOnce(&mut Ward) -> Update) {
        let mut ward = self.ward.lock().unwrap_or_else(|p| p.into_inner());
        let update = change(&mut ward);
        if !update.is_empty() {
            let json = serde_json::to_string(&update).expect("plain JSON");
            let _ = self.events.send(Arc::new(json));
        }
    }

    /// Records the health of one fetcher's link, and tells the pages when the whole changed
    /// (the ward's lock first, as for a snapshot, so the pages see the changes in order).
    fn set_link_error(&self, fetcher: &'static str, e: Option<String>) {
        let _ward = self.ward.lock().unwrap_or_else(|p| p.into_inner());
        let mut links = self.link_errors.lock().unwrap_or_else(|p| p.into_inner());
        let before = link_summary(&links);
        match e {
            Some(e) => links.insert(fetcher, e),
            None => links.remove(fetcher),
        };
        let after = link_summary(&links);
        if before != after {
            let json = serde_json::json!({ "link_error": after }).to_string();
            let _ = self.events.send(Arc::new(json));
        }
    }

    /// Names the roster's devices (a device with no reading shows as waiting).
    fn name_devices(&self, roster: &Roster) {
        let now = now_ms();
        self.change(|w| {
            let mut update = Update::default();
            for (&d, name) in &roster.devices {
                if w.name_device(d, name) {
                    update.patients.extend(w.patient(d, now, u64::MAX));
                }
            }
            update
        });
    }

    /// Fetches the clinic's stream after `since` (waiting up to the poll time), decrypts it
    /// into the ward; returns the new cursor.
    fn fetch_stream(&self, since: i64, wait: Duration) -> Result<i64, ServiceError> {
        let items = self.source.client.fetch_stream(since, wait)?;
        let roster = (self.source.roster)();
        self.name_devices(&roster);
        let keys = &self.source.keys;
        let now = now_ms();
        let mut decrypted = Vec::with_capacity(items.len());
        for item in &items {
            let (device_id, seq, outcome) = match item {
                StreamItem::Alerts(a) => {
                    // One reading that does not decrypt is marked, not a stop of the stream.
                    let outcome = a.decrypt(keys).map_or_else(
                        |e| Outcome::Failed {
                            failed: format!(
                                "its alerts do not decrypt under this clinic's key: {e}"
                            ),
                        },
                        Outcome::Flags,
                    );
                    (a.device_id, a.seq, outcome)
                }
                StreamItem::Failed(f) => (
                    f.device_id,
                    f.seq,
                    Outcome::Failed {
                        failed: f.reason.clone(),
                    },
                ),
            };
            // The server's receipt time (this machine's clock if the server does not know).
            let received = match item.received_ms() {
                0 => now,
                t => t,
            };
            decrypted.push((device_id, seq, outcome, received));
        }
        self.change(|w| {
            let mut first_new: BTreeMap<i64, u64> = BTreeMap::new();
            for (device_id, seq, outcome, received) in decrypted {
                let name = roster
                    .devices
                    .get(&device_id)
                    .cloned()
                    .unwrap_or_else(|| format!("device {device_id}"));
                if w.add_reading(device_id, &name, seq, outcome, received) {
                    let first = first_new.entry(device_id).or_insert(seq);
                    *first = (*first).min(seq);
                }
            }
            Update {
                patients: first_new
                    .into_iter()
                    .filter_map(|(d, from)| w.patient(d, now, from))
                    .collect(),
                ..Update::default()
            }
        });
        Ok(items.last().map_or(since, |i| since.max(i.id())))
    }

    /// Fetches the record analyses after `since`, decrypts them into the ward; returns the new
    /// cursor.
    fn fetch_analyses(&self, since: i64, wait: Duration) -> Result<i64, ServiceError> {
        let fetched = self.source.client.fetch_analyses(since, wait)?;
        let roster = (self.source.roster)();
        let mut views = Vec::with_capacity(fetched.len());
        for a in &fetched {
            let analysis = a
                .analysis
                .as_ref()
                .map(|x| self.source.keys.decrypt_analysis(x))
                .transpose()?;
            views.push(AnalysisView {
                id: a.id,
                patient: roster
                    .pseudonyms
                    .get(&a.patient)
                    .cloned()
                    .unwrap_or_else(|| a.patient.clone()),
                test: a.test.clone(),
                date: a.date.clone(),
                version: a.version,
                gap_to_mean: analysis.map(|x| x.gap_to_mean()),
                analysis,
            });
        }
        self.change(|w| {
            for v in &views {
                w.add_analysis(v.clone());
            }
            Update {
                analyses: views,
                ..Update::default()
            }
        });
        Ok(fetched.last().map_or(since, |a| since.max(a.id)))
    }

    /// Asks the server for a cohort and waits for it (up to ten minutes), decrypting it here.
    fn run_cohort(&self, request: u64, test: String, threshold: u16) {
        let view = CohortView {
            request,
            test: test.clone(),
            threshold,
            status: CohortStatus::Pending,
            result: None,
            error: None,
        };
        let result = (|| -> Result<ward::CohortView, ServiceError> {
            let client = &self.source.client;
            let id = client.request_cohort(&test, threshold)?;
            let deadline = std::time::Instant::now() + Duration::from_secs(600);
            loop {
                if self.stop.load(Ordering::Relaxed) {
                    return Err(ServiceError::Http("the dashboard stopped".into()));
                }
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Err(ServiceError::Timeout(format!(
                        "cohort {id} still pending after 600 s"
                    )));
                }
                if let Some(r) = client.fetch_cohort(id, left.min(Duration::from_secs(10)))? {
                    let plain = self.source.keys.decrypt_cohort(&r.statistics)?;
                    return Ok(CohortView {
                        status: CohortStatus::Done,
                        result: Some(plain),
                        ..view.clone()
                    });
                }
            }
        })();
        let done = result.unwrap_or_else(|e| CohortView {
            status: CohortStatus::Failed,
            error: Some(e.to_string()),
            ..view.clone()
        });
        self.change(|w| {
            w.set_cohort(done.clone());
            Update {
                cohorts: vec![done],
                ..Update::default()
            }
        });
    }
}

/// What the page says of the links: `None` when every fetcher's last call worked.
fn link_summary(links: &BTreeMap<&'static str, String>) -> Option<String> {
    (!links.is_empty()).then(|| {
        links
            .iter()
            .map(|(what, e)| format!("{what}: {e}"))
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// Runs `fetch` from cursor 0 until the dashboard stops, backing off after a failure (shown
/// on the page) and going on from the last cursor.
fn fetch_loop(
    d: Arc<Dashboard>,
    what: &'static str,
    wait: Duration,
    fetch: fn(&Dashboard, i64, Duration) -> Result<i64, ServiceError>,
) {
    let mut cursor = 0;
    let mut backoff = Duration::from_millis(200);
    while !d.stop.load(Ordering::Relaxed) {
        d.fetching
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(what, std::time::Instant::now());
        let fetched = fetch(&d, cursor, wait);
        d.fetching
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(what);
        match fetched {
            Ok(c) => {
                cursor = c;
                backoff = Duration::from_millis(200);
                d.set_link_error(what, None);
            }
            Err(e) => {
                d.set_link_error(what, Some(e.to_string()));
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// How long past its long poll a fetch may go unanswered before the page says so (a server
/// that accepts and never answers would otherwise look live until the client's timeout).
const STALL_GRACE: Duration = Duration::from_secs(15);

/// The fetchers whose call, started at the time given, has gone unanswered past `limit` at
/// `now`.
fn stalled(
    fetching: &BTreeMap<&'static str, std::time::Instant>,
    now: std::time::Instant,
    limit: Duration,
) -> Vec<&'static str> {
    fetching
        .iter()
        .filter(|(_, &since)| now.saturating_duration_since(since) > limit)
        .map(|(&what, _)| what)
        .collect()
}

/// Marks the links of stalled fetches on the page, once a second, until the dashboard stops.
fn watch_stalls(d: Arc<Dashboard>, wait: Duration) {
    let limit = wait + STALL_GRACE;
    while !d.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_secs(1));
        let now = std::time::Instant::now();
        let stalled = stalled(
            &d.fetching.lock().unwrap_or_else(|p| p.into_inner()),
            now,
            limit,
        );
        for what in stalled {
            d.set_link_error(
                what,
                Some(format!(
                    "no answer from the server for over {} s",
                    limit.as_secs()
                )),
            );
        }
    }
}

/// Whether the request may see the ward: the access token (cookie or bearer), and without TLS
/// a loopback `Host`.
fn authorized(d: &Dashboard, headers: &HeaderMap) -> Result<(), Response> {
    if !d.tls {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !crate::service::tls::is_loopback(crate::service::tls::host_of(host)) {
            return Err((
                StatusCode::MISDIRECTED_REQUEST,
                "this dashboard answers on its loopback address only",
            )
                .into_response());
        }
    }
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == d.cookie)
        .map(|(_, v)| v.to_string());
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let given = cookie.or(bearer).unwrap_or_default();
    if token_matches(d, &given) {
        Ok(())
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            "open the address the dashboard printed at start (it carries the access token)",
        )
            .into_response())
    }
}

/// The access token, compared in constant time.
fn token_matches(d: &Dashboard, given: &str) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(
        given.as_bytes(),
        d.token.as_bytes(),
    ))
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn index(
    State(d): State<Arc<Dashboard>>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = q.token {
        // The token once in the address: checked, kept as a cookie, and the address cleaned
        // of it (a wrong one sets nothing: another page cannot log the clinician out).
        if !token_matches(&d, &token) {
            return (StatusCode::UNAUTHORIZED, "a wrong access token").into_response();
        }
        let mut headers = HeaderMap::new();
        if let Ok(v) = format!(
            "{}={token}; HttpOnly; SameSite=Strict; Path=/{}",
            d.cookie,
            if d.tls { "; Secure" } else { "" }
        )
        .parse()
        {
            headers.insert(header::SET_COOKIE, v);
        }
        headers.insert(header::LOCATION, header::HeaderValue::from_static("/"));
        return (StatusCode::SEE_OTHER, headers).into_response();
    }
    if let Err(r) = authorized(&d, &headers) {
        return r;
    }
    asset(INDEX_HTML, "text/html; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn script(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    match authorized(&d, &headers) {
        Ok(()) => asset(SCRIPT, "text/javascript; charset=utf-8"),
        Err(r) => r,
    }
}

async fn style(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    match authorized(&d, &headers) {
        Ok(()) => asset(STYLE, "text/css; charset=utf-8"),
        Err(r) => r,
    }
}

/// The page's state, with the link's health.
fn snapshot_json(d: &Dashboard, ward: &Ward) -> String {
    let mut v = serde_json::to_value(ward.snapshot(now_ms())).expect("plain JSON");
    v["link_error"] = serde_json::to_value(link_summary(
        &d.link_errors.lock().unwrap_or_else(|p| p.into_inner()),
    ))
    .expect("plain JSON");
    v.to_string()
}

async fn ward_json(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&d, &headers) {
        return r;
    }
    let json = {
        let ward = d.ward.lock().unwrap_or_else(|p| p.into_inner());
        snapshot_json(&d, &ward)
    };
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        json,
    )
        .into_response()
}

async fn events(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    use futures_util::StreamExt;
    if let Err(r) = authorized(&d, &headers) {
        return r;
    }
    let (snapshot, rx) = {
        let ward = d.ward.lock().unwrap_or_else(|p| p.into_inner());
        (snapshot_json(&d, &ward), d.events.subscribe())
    };
    let first = futures_util::stream::once(async move {
        Ok::<_, std::convert::Infallible>(Event::default().event("snapshot").data(snapshot))
    });
    // A subscriber that fell behind ends its stream; the browser reconnects and starts again
    // from a snapshot.
    let updates = futures_util::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(json) => Some((
                Ok::<_, std::convert::Infallible>(Event::default().event("update").data(&*json)),
                rx,
            )),
            Err(_) => None,
        }
    });
    Sse::new(first.chain(updates))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(5)))
        .into_response()
}

#[derive(serde::Deserialize)]
struct CohortRequest {
    test: String,
    threshold: u16,
}

async fn request_cohort(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    body: Result<Json<CohortRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Err(r) = authorized(&d, &headers) {
        return r;
    }
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e.body_text()).into_response(),
    };
    let test = req.test.trim().to_string();
    if test.is_empty() || test.len() > 64 {
        return (StatusCode::BAD_REQUEST, "a test name of 1 to 64 characters").into_response();
    }
    // Each pending cohort holds a thread waiting on the server: a few at once (counted and
    // added under one lock).
    let request = d.cohort_requests.fetch_add(1, Ordering::Relaxed) + 1;
    let pending = CohortView {
        request,
        test: test.clone(),
        threshold: req.threshold,
        status: CohortStatus::Pending,
        result: None,
        error: None,
    };
    let mut busy = None;
    d.change(|w| {
        let n = w.pending_cohorts();
        if n >= MAX_PENDING_COHORTS {
            busy = Some(n);
            return Update::default();
        }
        w.set_cohort(pending.clone());
        Update {
            cohorts: vec![pending],
            ..Update::default()
        }
    });
    if let Some(n) = busy {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            format!("{n} cohorts are being computed: ask again when one is done"),
        )
            .into_response();
    }
    let worker = d.clone();
    std::thread::spawn(move || worker.run_cohort(request, test, req.threshold));
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "request": request })),
    )
        .into_response()
}

/// Serves the dashboard on `listener` until `shutdown` resolves; refused (a bad request) on a
/// non-loopback address without TLS. Two threads fetch the clinic's stream and analyses
/// meanwhile.
pub async fn serve_dashboard(
    listener: tokio::net::TcpListener,
    source: DashboardSource,
    config: DashboardConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let addr = listener
        .local_addr()
        .map_err(|e| ServiceError::Internal(format!("the listener: {e}")))?;
    if config.tls.is_none() && !addr.ip().is_loopback() {
        return Err(ServiceError::BadRequest(format!(
            "the dashboard shows decrypted patient data: on {addr} (not loopback) it needs TLS (--tls-cert and --tls-key)"
        )));
    }
    let ward = Ward::new(
        config.quiet_after.as_millis() as u64,
        config.late_after.as_millis() as u64,
        config.history,
    );
    let d = Arc::new(Dashboard {
        ward: Mutex::new(ward),
        events: tokio::sync::broadcast::channel(1024).0,
        token: config.access_token.clone(),
        cookie: format!("{COOKIE}_{}", addr.port()),
        tls: config.tls.is_some(),
        cohort_requests: AtomicU64::new(0),
        link_errors: Mutex::new(BTreeMap::new()),
        fetching: Mutex::new(BTreeMap::new()),
        stop: AtomicBool::new(false),
        source,
    });
    d.name_devices(&(d.source.roster)());
    let wait = config.poll_wait;
    let fetchers = [
        {
            let d = d.clone();
            std::thread::spawn(move || fetch_loop(d, "alerts", wait, Dashboard::fetch_stream))
        },
        {
            let d = d.clone();
            std::thread::spawn(move || fetch_loop(d, "analyses", wait, Dashboard::fetch_analyses))
        },
        {
            let d = d.clone();
            std::thread::spawn(move || watch_stalls(d, wait))
        },
    ];
    let app = Router::new()
        .route("/", get(index))
        .route("/dashboard.js", get(script))
        .route("/dashboard.css", get(style))
        .route("/api/ward", get(ward_json))
        .route("/api/events", get(events))
        .route(
            "/api/cohorts",
            post(request_cohort).layer(axum::extract::DefaultBodyLimit::max(4096)),
        )
        .with_state(d.clone());
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        // Open event streams never end on their own: they are closed after a second.
        stopper.graceful_shutdown(Some(Duration::from_secs(1)));
    });
    let listener = listener
        .into_std()
        .map_err(|e| ServiceError::Internal(format!("the listener: {e}")))?;
    let result = match config.tls {
        None => {
            axum_server::from_tcp(listener)
                .handle(handle)
                .serve(app.into_make_service())
                .await
        }
        Some(tls) => {
            axum_server::from_tcp_rustls(
                listener,
                axum_server::tls_rustls::RustlsConfig::from_config(tls),
            )
            .handle(handle)
            .serve(app.into_make_service())
            .await
        }
    }
    .map_err(|e| ServiceError::Http(e.to_string()));
    // The fetchers stop after their current long poll; nothing waits for them.
    d.stop.store(true, Ordering::Relaxed);
    drop(fetchers);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A fetch unanswered past its long poll and the grace is a stall; a fetch within it, or
    /// none in flight, is not.
    #[test]
    fn only_a_fetch_unanswered_past_the_limit_is_a_stall() {
        let start = Instant::now();
        let limit = Duration::from_secs(10) + STALL_GRACE;
        let mut fetching = BTreeMap::new();
        assert!(stalled(&fetching, start + limit * 2, limit).is_empty());
        fetching.insert("alerts", start);
        fetching.insert("analyses", start + Duration::from_secs(20));
        assert!(stalled(&fetching, start + limit, limit).is_empty());
        assert_eq!(
            stalled(&fetching, start + limit + Duration::from_millis(1), limit),
            ["alerts"]
        );
        assert_eq!(
            stalled(&fetching, start + limit + Duration::from_secs(21), limit),
            ["alerts", "analyses"]
        );
    }

    /// The page's link line: nothing when every fetcher's last call worked, else each
    /// fetcher's error by name.
    #[test]
    fn the_link_summary_names_each_failing_fetcher() {
        let mut links = BTreeMap::new();
        assert_eq!(link_summary(&links), None);
        links.insert("analyses", "refused".to_string());
        links.insert("alerts", "timeout".to_string());
        assert_eq!(
            link_summary(&links).as_deref(),
            Some("alerts: timeout; analyses: refused")
        );
    }
}
