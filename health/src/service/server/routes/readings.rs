//! Readings and their alerts: `POST /v1/readings`, `GET /v1/alerts`.

use super::super::auth::{Authed, ClinicAuth, DeviceAuth};
use super::super::{with_store, Shared};
use super::QueryArgs;
use super::{body_or_error, long_poll, monitor, PollQuery};
use crate::service::wire::{self, AlertBody, AlertFrame};
use crate::service::ServiceError;
use axum::extract::State;
use axum::Json;
use std::result::Result;

/// `POST /v1/readings` (device token), body: reading records → `{accepted, replays}`.
/// Every envelope is decoded under the clinic's parameters and key before anything is
/// stored; then all are committed in one transaction.
pub(super) async fn post_readings(
    State(state): State<Shared>,
    Authed {
        auth: DeviceAuth { device, clinic },
        body,
    }: Authed<DeviceAuth>,
) -> Result<Json<serde_json::Value>, ServiceError> {
    let body = body_or_error(super::limits::READINGS, body)?;
    let monitor = monitor(&state, clinic).await?;
    let parsed = wire::records(&body, 1).map_err(ServiceError::BadRequest)?;
    if parsed.is_empty() {
        return Err(ServiceError::BadRequest("no readings".into()));
    }
    // The rate before any decoding (the expensive part of a request).
    monitor.take_readings(parsed.len())?;
    let mut readings = Vec::with_capacity(parsed.len());
    for (head, envelope) in parsed {
        monitor.reading(envelope)?;
        if head[0] > i64::MAX as u64 {
            return Err(ServiceError::BadRequest(
                "a sequence number above 2^63".into(),
            ));
        }
        readings.push((head[0], envelope.to_vec()));
    }
    let count = readings.len();
    let replays = with_store(&state, move |s| {
        s.insert_readings(clinic, device, &readings)
    })
    .await?;
    state.wake_worker();
    Ok(Json(serde_json::json!({
        "accepted": count - replays.len(),
        "replays": replays,
    })))
}

/// `GET /v1/alerts?since=ID&wait_ms=MS&limit=N` (clinic token): the clinic's alert records
/// after `since`, waiting up to `wait_ms` (at most 30 s) for the first one.
pub(super) async fn get_alerts(
    State(state): State<Shared>,
    ClinicAuth(clinic): ClinicAuth,
    QueryArgs(q): QueryArgs<PollQuery>,
) -> Result<Vec<u8>, ServiceError> {
    let (since, limit) = (q.since, q.limit());
    let rows = long_poll(&state, &state.alerts, q.wait_ms, || async {
        let rows = with_store(&state, move |s| s.alerts_since(clinic, since, limit)).await?;
        Ok((!rows.is_empty()).then_some(rows))
    })
    .await?
    .unwrap_or_default();
    let frames: Vec<AlertFrame<'_>> = rows
        .iter()
        .map(|r| AlertFrame {
            id: r.id,
            device_id: r.device_id,
            seq: r.seq,
            received_ms: r.received_ms.max(0) as u64,
            body: match &r.error {
                Some(reason) => AlertBody::Failed(reason),
                None => AlertBody::Flags(&r.flags),
            },
        })
        .collect();
    Ok(wire::encode_alerts(&frames))
}
