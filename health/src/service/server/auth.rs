//! Tokens as extractors: a handler that names [`ClinicAuth`] or [`DeviceAuth`] in its
//! signature runs only for a request whose bearer token the store recognizes, and never
//! parses headers itself. A route with a body names [`Authed`], which checks the token
//! *before* it reads the body: a wrong token is a 401 whatever the body, and an unknown
//! client's body is never kept (the drain layer, `super::drain`, reads a refused body and
//! drops it frame by frame, so that a plain HTTP/1.1 client sees the 401 rather than a broken
//! pipe).
//!
//! Tokens are `e<id>.<secret>` (enrollment: registers one clinic, made by the operator with
//! `glovebox serve enroll`), `c<id>.<secret>` (clinic) and `d<id>.<secret>` (device); the
//! store keeps the SHA-256 of the secret and compares in constant time.

use super::{with_store, Shared};
use crate::service::ServiceError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;

/// A request made with a clinic's token: the clinic's id.
pub(super) struct ClinicAuth(pub i64);

/// A request made with a valid enrollment token (unused, unexpired): its id and secret, for
/// the registration's transaction to use it.
pub(super) struct EnrollmentAuth {
    pub id: i64,
    pub secret: String,
    pub quotas: crate::service::store::Quotas,
}

impl FromRequestParts<Shared> for EnrollmentAuth {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ServiceError> {
        let (id, secret) = bearer(&parts.headers, 'e')?;
        let check = secret.clone();
        match with_store(state, move |s| s.enrollment_quotas(id, &check)).await? {
            Some(quotas) => Ok(EnrollmentAuth { id, secret, quotas }),
            None => Err(ServiceError::Unauthorized(
                "unknown, used or expired enrollment token".into(),
            )),
        }
    }
}

/// A request made with a device's token: the device's id and its clinic's.
pub(super) struct DeviceAuth {
    pub device: i64,
    pub clinic: i64,
}

impl FromRequestParts<Shared> for ClinicAuth {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ServiceError> {
        let (id, secret) = bearer(&parts.headers, 'c')?;
        if with_store(state, move |s| s.authenticate_clinic(id, &secret)).await? {
            Ok(ClinicAuth(id))
        } else {
            Err(ServiceError::Unauthorized("unknown clinic token".into()))
        }
    }
}

impl FromRequestParts<Shared> for DeviceAuth {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ServiceError> {
        let (device, secret) = bearer(&parts.headers, 'd')?;
        let clinic = with_store(state, move |s| s.authenticate_device(device, &secret))
            .await?
            .ok_or_else(|| ServiceError::Unauthorized("unknown device token".into()))?;
        Ok(DeviceAuth { device, clinic })
    }
}

/// A request's authentication `A` ([`ClinicAuth`], [`DeviceAuth`]) and its body (or why the
/// body could not be read: over the limit, cut short), for the handler to check in that order.
pub(super) struct Authed<A> {
    pub auth: A,
    pub body: Result<Bytes, BytesRejection>,
}

impl<A> FromRequest<Shared> for Authed<A>
where
    A: FromRequestParts<Shared, Rejection = ServiceError> + Send,
{
    type Rejection = ServiceError;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, ServiceError> {
        let (mut parts, body) = req.into_parts();
        let auth = match A::from_request_parts(&mut parts, state).await {
            Ok(auth) => auth,
            Err(e) => {
                // Dropped unread: the drain layer reads it and drops it before the 401 goes.
                drop(body);
                return Err(e);
            }
        };
        // The body under the route's limit (kept in the extensions) and with its headers.
        let mut for_body = Request::new(body);
        *for_body.headers_mut() = parts.headers;
        *for_body.extensions_mut() = parts.extensions;
        let body = Bytes::from_request(for_body, state).await;
        Ok(Authed { auth, body })
    }
}

/// A new token secret ([`crate::service::new_token_secret`]).
pub(super) fn new_secret() -> String {
    crate::service::new_token_secret()
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
