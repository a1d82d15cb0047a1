//! Clinics and their devices: `POST /v1/clinics`, `POST /v1/clinics/token`,
//! `POST /v1/devices`, `DELETE /v1/devices/{id}`, `POST /v1/devices/{id}/token`.

use super::super::auth::{new_secret, Authed, ClinicAuth, EnrollmentAuth};
use super::super::keys::expand;
use super::super::{blocking, with_store, Shared};
use super::{body_or_error, json_body, PathArgs};
use crate::prelude::*;
use crate::service::ServiceError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use glovebox_engine::serialization::Header;
use std::result::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// `POST /v1/clinics` (enrollment token), body: the compressed server key and the
/// compressed casting key ([`crate::service::wire::encode_registration`]) → `{clinic_id,
/// token}`. The token is checked before the body is read; the keys are expanded before
/// anything is stored; the clinic is stored and the token used in one transaction.
pub(super) async fn register_clinic(
    State(state): State<Shared>,
    Authed {
        auth:
            EnrollmentAuth {
                id: enrollment,
                secret: enrollment_secret,
                quotas,
            },
        body,
    }: Authed<EnrollmentAuth>,
) -> Result<(StatusCode, Json<serde_json::Value>), ServiceError> {
    let body = body_or_error(state.config.max_body_bytes, body)?;
    // Set if this request is dropped (its timeout, or the client gone) while the keys expand:
    // the registration is then not stored, so the enrollment token is not used up by a
    // clinic whose token no one received.
    let abandoned = Arc::new(AtomicBool::new(false));
    struct Abandon(Arc<AtomicBool>);
    impl Drop for Abandon {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let _abandon = Abandon(abandoned.clone());
    let (id, token) = blocking(move || {
        let (server_key, casting_key) =
            crate::service::wire::decode_registration(&body).map_err(ServiceError::BadRequest)?;
        let header = Header::parse(server_key)?;
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
        let key_id = header.key_id;
        // The token claimed before the expensive part: concurrent registrations with one
        // token expand no keys but the first's. A failure below releases the claim.
        if !state
            .store
            .claim_enrollment(enrollment, &enrollment_secret)?
        {
            return Err(ServiceError::Unauthorized(
                "the enrollment token is used, expired, or held by another registration".into(),
            ));
        }
        struct Release<'a>(&'a crate::service::store::Store, i64, bool);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                if self.2 {
                    let _ = self.0.release_enrollment(self.1);
                }
            }
        }
        let mut claim = Release(&state.store, enrollment, true);
        // Expanded and uploaded to the backend first: keys that do not load leave nothing
        // stored; the first reading does not wait.
        let monitor = expand(
            &state.config,
            params.name,
            key_id,
            server_key,
            casting_key,
            quotas,
        )?;
        if abandoned.load(Ordering::SeqCst) {
            return Err(ServiceError::Timeout(
                "the request was abandoned before its registration was stored".into(),
            ));
        }
        let secret = new_secret();
        let id = state
            .store
            .register_clinic(
                (enrollment, &enrollment_secret),
                &secret,
                params.name,
                key_id,
                server_key,
                casting_key,
            )?
            .ok_or_else(|| {
                ServiceError::Unauthorized("the enrollment token was used meanwhile".into())
            })?;
        claim.2 = false;
        state.keys.put(id, monitor);
        Ok((id, format!("c{id}.{secret}")))
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "clinic_id": id, "token": token })),
    ))
}

/// Insecure (test) parameter sets are refused unless `GLOVEBOX_ALLOW_INSECURE` is a true
/// boolean (`1`, `true`, `yes`, `on`; the tests set it): `0`, `false`, unset, or anything that
/// is not a boolean refuses them.
fn insecure_allowed() -> bool {
    std::env::var("GLOVEBOX_ALLOW_INSECURE")
        .ok()
        .and_then(|v| parse_bool(&v))
        .unwrap_or(false)
}

/// A boolean setting: `1`, `true`, `yes`, `on` and `0`, `false`, `no`, `off` (any case);
/// anything else is `None`.
fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
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
    let body = body_or_error(super::limits::JSON, body)?;
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

/// `POST /v1/clinics/token` (clinic token) → `{token}`: a new clinic token; the one used
/// is refused from now on.
pub(super) async fn rotate_clinic_token(
    State(state): State<Shared>,
    ClinicAuth(clinic): ClinicAuth,
) -> Result<Json<serde_json::Value>, ServiceError> {
    let secret = new_secret();
    let stored = secret.clone();
    with_store(&state, move |s| s.rotate_clinic_token(clinic, &stored)).await?;
    Ok(Json(
        serde_json::json!({ "token": format!("c{clinic}.{secret}") }),
    ))
}

/// `DELETE /v1/devices/{id}` (clinic token): the device is revoked (its token refused, what
/// it posted kept). 204, or 404 when the clinic has no such device.
pub(super) async fn revoke_device(
    State(state): State<Shared>,
    ClinicAuth(clinic): ClinicAuth,
    PathArgs(device): PathArgs<i64>,
) -> Result<StatusCode, ServiceError> {
    if with_store(&state, move |s| s.revoke_device(clinic, device)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ServiceError::NotFound(format!("device {device}")))
    }
}

/// `POST /v1/devices/{id}/token` (clinic token) → `{token}`: the device's new token (the old
/// one refused from now on); 404 when the clinic has no such device (or it is revoked).
pub(super) async fn rotate_device_token(
    State(state): State<Shared>,
    ClinicAuth(clinic): ClinicAuth,
    PathArgs(device): PathArgs<i64>,
) -> Result<Json<serde_json::Value>, ServiceError> {
    let secret = new_secret();
    let stored = secret.clone();
    if with_store(&state, move |s| {
        s.rotate_device_token(clinic, device, &stored)
    })
    .await?
    {
        Ok(Json(
            serde_json::json!({ "token": format!("d{device}.{secret}") }),
        ))
    } else {
        Err(ServiceError::NotFound(format!("device {device}")))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bool;

    #[test]
    fn boolean_settings_are_parsed_not_merely_present() {
        for v in ["1", "true", "TRUE", " yes ", "on"] {
            assert_eq!(parse_bool(v), Some(true), "{v}");
        }
        for v in ["0", "false", "No", "off"] {
            assert_eq!(parse_bool(v), Some(false), "{v}");
        }
        for v in ["", "2", "enable", "truth"] {
            assert_eq!(parse_bool(v), None, "{v}");
        }
    }
}
