//! Clinics and their devices: `POST /v1/clinics`, `POST /v1/devices`.

use super::super::auth::{new_secret, Authed, ClinicAuth};
use super::super::{blocking, with_store, Shared};
use super::{body_or_error, json_body};
use crate::prelude::*;
use crate::service::ServiceError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use glovebox_engine::serialization::{from_bytes, Header};
use std::result::Result;

/// `POST /v1/clinics`, body: a compressed server key envelope → `{clinic_id, token}`.
pub(super) async fn register_clinic(
    State(state): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ServiceError> {
    let body = body_or_error(&state, body)?;
    let (id, token) = blocking(move || {
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
        state.keys.load(&state.store, &state.config, id)?;
        Ok((id, format!("c{id}.{secret}")))
    })
    .await?;
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
pub(super) async fn add_device(
    State(state): State<Shared>,
    Authed {
        auth: ClinicAuth(clinic),
        body,
    }: Authed<ClinicAuth>,
) -> Result<(StatusCode, Json<serde_json::Value>), ServiceError> {
    let body = body_or_error(&state, body)?;
    let device: NewDevice = json_body(&body, "device")?;
    if device.patient.is_empty() || device.patient.len() > 200 {
        return Err(ServiceError::BadRequest(
            "a patient name of 1 to 200 bytes".into(),
        ));
    }
    let secret = new_secret();
    let token_secret = secret.clone();
    let id = with_store(&state, move |s| {
        s.insert_device(clinic, &device.patient, &token_secret)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "device_id": id, "token": format!("d{id}.{secret}") })),
    ))
}
