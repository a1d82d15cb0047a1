//! The router and what its handlers share: bodies under a limit, long polls, the clinic's
//! monitor. One module per resource: [`clinics`] (clinics and devices), [`readings`]
//! (readings and their alerts), [`records`] (lab records, their analyses, cohorts).

mod clinics;
mod readings;
mod records;

use super::keys::ClinicMonitor;
use super::{blocking, Shared};
use crate::service::ServiceError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use std::time::Duration;

/// Each route's largest body: a registration's keys (`max_body_bytes`, about 29 MiB on the
/// default set) on `/v1/clinics` alone; the others small.
pub(super) mod limits {
    /// A batch of readings: 4 MiB (about 250 readings of 16.5 KiB on the default set).
    pub const READINGS: usize = 4 << 20;
    /// A lab value's envelope: 1 MiB (a `u16`'s blocks: 131 KiB on the default set).
    pub const RECORD: usize = 1 << 20;
    /// A JSON request (a device, a cohort): 4 KiB.
    pub const JSON: usize = 4 << 10;
}

/// The service's routes, each body under its route's limit ([`limits`]; registration under
/// `max_body_bytes`).
pub(super) fn router(max_body_bytes: usize, request_timeout: Duration) -> Router<Shared> {
    let limit = DefaultBodyLimit::max;
    Router::new()
        .route(
            "/v1/clinics",
            post(clinics::register_clinic).layer(limit(max_body_bytes)),
        )
        .route("/v1/clinics/token", post(clinics::rotate_clinic_token))
        .route(
            "/v1/devices",
            post(clinics::add_device).layer(limit(limits::JSON)),
        )
        .route(
            "/v1/devices/{id}",
            axum::routing::delete(clinics::revoke_device),
        )
        .route("/v1/devices/{id}/token", post(clinics::rotate_device_token))
        .route(
            "/v1/readings",
            post(readings::post_readings).layer(limit(limits::READINGS)),
        )
        .route("/v1/alerts", get(readings::get_alerts))
        .route(
            "/v1/records",
            post(records::post_record).layer(limit(limits::RECORD)),
        )
        .route("/v1/analyses", get(records::get_analyses))
        .route(
            "/v1/cohorts",
            post(records::post_cohort).layer(limit(limits::JSON)),
        )
        .route("/v1/cohorts/{id}", get(records::get_cohort))
        .route("/v1/health", get(health))
        .fallback(
            |uri: Uri| async move { ServiceError::NotFound(format!("no route {}", uri.path())) },
        )
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            ServiceError::MethodNotAllowed(format!("{method} {}", uri.path()))
        })
        .layer(limit(limits::JSON))
        .layer(axum::middleware::from_fn_with_state(
            request_timeout,
            within,
        ))
        .layer(axum::middleware::from_fn_with_state(
            max_body_bytes,
            super::drain::drain_unread,
        ))
        .layer(axum::middleware::from_fn(with_request_id))
}

/// Gives every request an id (16 hex digits from the OS's generator): answered in the
/// `x-request-id` header and in every error body, and named in the server's log beside any
/// internal failure.
async fn with_request_id(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use rand::RngCore;
    let id = format!("{:016x}", rand::rngs::OsRng.next_u64());
    let mut response = super::REQUEST_ID.scope(id.clone(), next.run(request)).await;
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// Every request ends within the configured time (a long poll waits at most 30 s; a
/// registration expands its keys in seconds): past it, a 408.
async fn within(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ServiceError::Timeout(format!(
            "the request took longer than {:.1} s",
            limit.as_secs_f64()
        ))
        .into_response(),
    }
}

/// `GET /v1/health` (no token): 200 with `status: "ok"` while both worker lanes run (alerts;
/// records and cohorts), 503 with `"degraded"` while one does not (its supervisor restarts
/// it); the restarts, the
/// pending jobs and the oldest pending reading's age, and the key cache's clinics and bytes.
async fn health(
    axum::extract::State(state): axum::extract::State<Shared>,
) -> Result<(StatusCode, axum::Json<serde_json::Value>), ServiceError> {
    use std::sync::atomic::Ordering;
    let lanes = state.workers_running.load(Ordering::Relaxed);
    let running = lanes == 2;
    let (readings, records, cohorts, oldest_ms) =
        super::with_store(&state, |s| s.pending_jobs()).await?;
    let (clinics, bytes) = state.keys.resident();
    let status = if running {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((
        status,
        axum::Json(serde_json::json!({
            "status": if running { "ok" } else { "degraded" },
            "worker_running": running,
            "worker_lanes_running": lanes,
            "worker_restarts": state.worker_restarts.load(Ordering::Relaxed),
            "pending_readings": readings,
            "pending_records": records,
            "pending_cohorts": cohorts,
            "oldest_pending_reading_ms": oldest_ms,
            "clinics_cached": clinics,
            "key_expansions": state.keys.expansions(),
            "key_cache_bytes": bytes,
        })),
    ))
}

/// A query string, or a JSON 400 naming what did not parse (axum's own `Query` answers in
/// plain text).
pub(super) struct QueryArgs<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| ServiceError::BadRequest(format!("query: {}", e.body_text())))
    }
}

/// A path parameter, or a JSON 400 (axum's own `Path` answers in plain text).
pub(super) struct PathArgs<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathArgs<T> {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| ServiceError::BadRequest(format!("path: {}", e.body_text())))
    }
}

/// The body, or the typed error for a body that could not be read (over the route's `limit`:
/// 413).
fn body_or_error(limit: usize, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ServiceError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ServiceError::TooLarge { limit }
        } else {
            ServiceError::BadRequest(e.body_text())
        }
    })
}

/// A JSON body, or a bad request naming `what` it should have been.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ServiceError> {
    serde_json::from_slice(body).map_err(|e| ServiceError::BadRequest(format!("{what}: {e}")))
}

/// The clinic's monitor: its key expanded and uploaded, its rules compiled (once; expanded
/// on the blocking pool when it is not cached).
async fn monitor(state: &Shared, clinic: i64) -> Result<Arc<ClinicMonitor>, ServiceError> {
    if let Some(m) = state.keys.cached(clinic) {
        return Ok(m);
    }
    let state = state.clone();
    blocking(move || state.keys.load(&state.store, &state.config, clinic)).await
}

/// `since`, `wait_ms` and `limit` of a long poll.
#[derive(serde::Deserialize)]
pub(super) struct PollQuery {
    #[serde(default)]
    since: i64,
    #[serde(default)]
    wait_ms: u64,
    #[serde(default)]
    limit: Option<usize>,
}

impl PollQuery {
    /// Items per answer: 1 to 10,000 (1,000 unless asked).
    fn limit(&self) -> usize {
        self.limit.unwrap_or(1000).clamp(1, 10_000)
    }
}

/// Waits until `ready` has something (re-checked whenever `notify` fires) or `wait_ms` (at
/// most 30 s) passed; `None` at the deadline. A poll that would wait takes one of the
/// server's long-poll permits for its wait (`max_long_polls`): none left is a 503.
async fn long_poll<T, F>(
    state: &Shared,
    notify: &tokio::sync::Notify,
    wait_ms: u64,
    mut ready: impl FnMut() -> F,
) -> Result<Option<T>, ServiceError>
where
    F: std::future::Future<Output = Result<Option<T>, ServiceError>>,
{
    let _permit = if wait_ms > 0 {
        Some(state.long_polls.try_acquire().map_err(|_| {
            ServiceError::Busy("too many open long polls; retry, or poll with wait_ms=0".into())
        })?)
    } else {
        None
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms.min(30_000));
    loop {
        // Registered before the check, so a result stored in between still wakes this poll.
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(x) = ready().await? {
            return Ok(Some(x));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

/// A name (patient, test type) of 1 to 200 bytes.
fn check_name(what: &str, v: &str) -> Result<(), ServiceError> {
    if v.is_empty() || v.len() > 200 {
        return Err(ServiceError::BadRequest(format!(
            "a {what} of 1 to 200 bytes"
        )));
    }
    Ok(())
}
