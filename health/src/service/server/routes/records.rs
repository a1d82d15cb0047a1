//! Lab records, their analyses and cohorts: `POST /v1/records`, `GET /v1/analyses`,
//! `POST /v1/cohorts`, `GET /v1/cohorts/{id}`.

use super::super::auth::{Authed, ClinicAuth};
use super::super::{with_store, Shared};
use super::{body_or_error, check_name, json_body, long_poll, monitor, PollQuery};
use super::{PathArgs, QueryArgs};
use crate::records::{MAX_VALUE, MAX_WINDOW};
use crate::service::store::{JobState, NewRecord, RecordInsert};
use crate::service::wire::{self, AnalysisMeta, CohortMeta};
use crate::service::ServiceError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(serde::Deserialize)]
pub(super) struct RecordQuery {
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
    // A day of the calendar (the `time` crate's, leap years included).
    let (Ok(year), Ok(month), Ok(day)) = (
        d[0..4].parse::<i32>(),
        d[5..7].parse::<u8>(),
        d[8..10].parse::<u8>(),
    ) else {
        return false;
    };
    time::Month::try_from(month)
        .and_then(|m| time::Date::from_calendar_date(year, m, day))
        .is_ok()
}

/// `POST /v1/records?patient=&test=&date=&change=&window=` (clinic token), body: the value's
/// blocks (a ciphertext batch) → 201 `{record_id, replay: false}`, or 200 with
/// `replay: true` when the same (patient, test, date) is stored already.
pub(super) async fn post_record(
    State(state): State<Shared>,
    QueryArgs(q): QueryArgs<RecordQuery>,
    Authed {
        auth: ClinicAuth(clinic),
        body,
    }: Authed<ClinicAuth>,
) -> Result<(StatusCode, Json<serde_json::Value>), ServiceError> {
    let body = body_or_error(super::limits::RECORD, body)?;
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
    monitor.value(&body)?;
    let (patient, test, date) = (q.patient.clone(), q.test.clone(), q.date.clone());
    let inserted = with_store(&state, move |s| {
        s.insert_record(
            clinic,
            &NewRecord {
                patient: &patient,
                test: &test,
                date: &date,
                change_threshold: q.change,
                mean_window: q.window,
                value: &body,
            },
        )
    })
    .await?;
    match inserted {
        RecordInsert::Stored { id, version } => {
            state.wake_worker();
            Ok((
                StatusCode::CREATED,
                Json(serde_json::json!({ "record_id": id, "replay": false, "version": version })),
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
pub(super) async fn get_analyses(
    State(state): State<Shared>,
    ClinicAuth(clinic): ClinicAuth,
    QueryArgs(q): QueryArgs<PollQuery>,
) -> Result<Vec<u8>, ServiceError> {
    let (since, limit) = (q.since, q.limit());
    let rows = long_poll(&state, &state.analyses, q.wait_ms, || async {
        let rows = with_store(&state, move |s| s.analyses_since(clinic, since, limit)).await?;
        Ok((!rows.is_empty()).then_some(rows))
    })
    .await?
    .unwrap_or_default();
    let analyses: Vec<(AnalysisMeta, &[u8])> = rows
        .iter()
        .map(|r| {
            let meta = AnalysisMeta {
                id: r.id,
                record_id: r.record_id,
                patient: r.patient.clone(),
                test: r.test.clone(),
                date: r.date.clone(),
                version: r.version,
                window: r.mean_window,
            };
            (meta, r.body.as_deref().unwrap_or(&[]))
        })
        .collect();
    Ok(wire::encode_analyses(&analyses))
}

#[derive(serde::Deserialize)]
pub(super) struct NewCohort {
    test: String,
    threshold: u16,
}

/// `POST /v1/cohorts` (clinic token), body `{"test": T, "threshold": X}` → 202
/// `{cohort_id}`: statistics over each patient's latest record of T stored so far.
pub(super) async fn post_cohort(
    State(state): State<Shared>,
    Authed {
        auth: ClinicAuth(clinic),
        body,
    }: Authed<ClinicAuth>,
) -> Result<(StatusCode, Json<serde_json::Value>), ServiceError> {
    let body = body_or_error(super::limits::JSON, body)?;
    let job: NewCohort = json_body(&body, "cohort")?;
    check_name("test type", &job.test)?;
    if job.threshold > MAX_VALUE {
        return Err(ServiceError::BadRequest(format!(
            "a threshold above {MAX_VALUE}"
        )));
    }
    let test = job.test.clone();
    let id = with_store(&state, move |s| {
        s.insert_cohort(clinic, &test, job.threshold)
    })
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("no records of test {:?}", job.test)))?;
    state.wake_worker();
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "cohort_id": id })),
    ))
}

#[derive(serde::Deserialize)]
pub(super) struct WaitQuery {
    #[serde(default)]
    wait_ms: u64,
}

/// `GET /v1/cohorts/{id}?wait_ms=MS` (clinic token): 200 with the result item when done
/// (waiting up to `wait_ms`, at most 30 s), else 202 `{state: "pending"}`.
pub(super) async fn get_cohort(
    State(state): State<Shared>,
    ClinicAuth(clinic): ClinicAuth,
    PathArgs(id): PathArgs<i64>,
    QueryArgs(q): QueryArgs<WaitQuery>,
) -> Result<Response, ServiceError> {
    let job = long_poll(&state, &state.analyses, q.wait_ms, || async {
        let job = with_store(&state, move |s| s.cohort(clinic, id))
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("cohort {id}")))?;
        Ok((job.state != JobState::Pending).then_some(job))
    })
    .await?;
    let Some(job) = job else {
        return Ok((
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "cohort_id": id, "state": "pending" })),
        )
            .into_response());
    };
    if job.state == JobState::Failed {
        let error = job.error.as_deref().unwrap_or("unknown");
        return Err(ServiceError::Failed(format!("cohort {id}: {error}")));
    }
    let meta = CohortMeta {
        cohort_id: job.id,
        test: job.test,
        threshold: job.threshold,
        patients: job.patients.unwrap_or(0),
    };
    Ok(wire::encode_cohort(&meta, job.body.as_deref().unwrap_or(&[])).into_response())
}

#[cfg(test)]
mod tests {
    use super::valid_date;

    #[test]
    fn dates_are_days_of_the_calendar() {
        for d in ["2026-01-31", "2024-02-29", "2026-12-05", "2000-02-29"] {
            assert!(valid_date(d), "{d}");
        }
        for d in [
            "2026-02-30",
            "2026-02-29",
            "1900-02-29",
            "2026-04-31",
            "2026-13-01",
            "2026-00-10",
            "2026-01-00",
            "2026-1-05",
            "2026/01/05",
            "20260105",
            "",
        ] {
            assert!(!valid_date(d), "{d}");
        }
    }
}
