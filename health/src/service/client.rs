//! The clients of the service: the clinic (registers its compressed server key, adds devices,
//! fetches alerts, decrypts them locally) and the device (posts encrypted readings). Blocking
//! HTTP (`ureq`); the secret key never leaves the caller.

use super::{wire, Endpoint, ServiceError};
use crate::prelude::*;
use crate::records::{blocks_of, CohortStatistics, RecordAnalysis};
use crate::vitals::{EncryptedReading, ReadingAlerts};
use glovebox_engine::serialization::{from_bytes, to_bytes};
use glovebox_engine::shortint::public_key::CompressedCastingKey;
use glovebox_integer::{BoolCiphertext, RadixCiphertext, RadixLayout};
use std::io::Read;
use std::result::Result;
use std::time::Duration;

/// The error of a failed call: the server's JSON error, or the transport's.
fn http_error(e: ureq::Error) -> ServiceError {
    match e {
        ureq::Error::Status(status, response) => {
            let body: serde_json::Value = response.into_json().unwrap_or_default();
            ServiceError::Status {
                status,
                kind: body["kind"].as_str().unwrap_or("").to_string(),
                message: body["error"].as_str().unwrap_or("").to_string(),
            }
        }
        other => ServiceError::Http(other.to_string()),
    }
}

fn json_field<T: serde::de::DeserializeOwned>(
    v: &serde_json::Value,
    field: &str,
) -> Result<T, ServiceError> {
    serde_json::from_value(v[field].clone())
        .map_err(|e| ServiceError::Http(format!("the server's answer lacks `{field}`: {e}")))
}

/// A registered clinic's side of the service.
pub struct ClinicClient {
    endpoint: Endpoint,
    token: String,
    clinic_id: i64,
    params: &'static Parameters,
    key_id: u64,
}

/// One alert record as fetched: the flags still encrypted.
#[derive(Clone, Debug)]
pub struct AlertRecord {
    /// The cursor: fetch `since` the largest one seen.
    pub id: i64,
    pub device_id: i64,
    pub seq: u64,
    /// When the server received the reading (ms since the Unix epoch by its clock; 0 if it
    /// does not know).
    pub received_ms: u64,
    pub heart_rate: BoolCiphertext,
    pub spo2: BoolCiphertext,
    pub any: BoolCiphertext,
    pub sustained: BoolCiphertext,
}

/// One reading's alerts, decrypted by the clinic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReadingFlags {
    pub heart_rate: bool,
    pub spo2: bool,
    pub any: bool,
    pub sustained: bool,
}

impl AlertRecord {
    /// Its four flags, decrypted with the clinic's keys (which never leave the clinic).
    pub fn decrypt(&self, keys: &crate::vitals::Clinic) -> crate::Result<ReadingFlags> {
        Ok(ReadingFlags {
            heart_rate: keys.decrypt_flag(&self.heart_rate)?,
            spo2: keys.decrypt_flag(&self.spo2)?,
            any: keys.decrypt_flag(&self.any)?,
            sustained: keys.decrypt_flag(&self.sustained)?,
        })
    }
}

/// A reading that failed for good (its own fault: bytes that do not decode under the clinic's
/// key, …), as its clinic's stream reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedReading {
    /// The cursor, as [`AlertRecord::id`].
    pub id: i64,
    pub device_id: i64,
    pub seq: u64,
    /// As [`AlertRecord::received_ms`].
    pub received_ms: u64,
    pub reason: String,
}

/// One item of a clinic's stream.
#[derive(Clone, Debug)]
pub enum StreamItem {
    Alerts(AlertRecord),
    Failed(FailedReading),
}

impl StreamItem {
    /// The cursor: fetch `since` the largest one seen.
    pub fn id(&self) -> i64 {
        match self {
            StreamItem::Alerts(a) => a.id,
            StreamItem::Failed(f) => f.id,
        }
    }

    /// When the server received the reading (ms since the Unix epoch by its clock; 0 if it
    /// does not know).
    pub fn received_ms(&self) -> u64 {
        match self {
            StreamItem::Alerts(a) => a.received_ms,
            StreamItem::Failed(f) => f.received_ms,
        }
    }
}

/// A record's analysis as fetched, still encrypted, with the record's clear metadata.
#[derive(Clone, Debug)]
pub struct AnalysisRecord {
    /// The cursor: fetch `since` the largest one seen.
    pub id: i64,
    pub record_id: i64,
    pub patient: String,
    pub test: String,
    pub date: String,
    /// The record's version (a correction of its date's earlier one when above 1).
    pub version: i64,
    /// `None` for the first record of its series.
    pub analysis: Option<RecordAnalysis>,
}

/// A finished cohort job, still encrypted.
#[derive(Clone, Debug)]
pub struct CohortResult {
    pub cohort_id: i64,
    pub test: String,
    pub threshold: u16,
    pub statistics: CohortStatistics,
}

/// What the server said of a posted record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordPosted {
    pub record_id: i64,
    /// The same (patient, test, date) with the same value was stored already (nothing new
    /// stored).
    pub replay: bool,
    /// The record's version: 1 for its date's first, more for a correction (`None` for a
    /// replay).
    pub version: Option<i64>,
}

/// Reads the whole answer (at most 256 MiB).
fn read_body(response: ureq::Response) -> Result<Vec<u8>, ServiceError> {
    let mut body = Vec::new();
    response
        .into_reader()
        .take(256 << 20)
        .read_to_end(&mut body)
        .map_err(|e| ServiceError::Http(e.to_string()))?;
    Ok(body)
}

impl ClinicClient {
    /// Registers a clinic at `endpoint` with an enrollment token from the server's operator
    /// (`glovebox serve enroll`), its compressed server key and compressed casting key (its
    /// devices' readings are cast with it).
    pub fn register(
        endpoint: &Endpoint,
        enrollment_token: &str,
        key: &CompressedServerKey,
        casting: &CompressedCastingKey,
    ) -> Result<Self, ServiceError> {
        let answer: serde_json::Value = endpoint
            .agent()
            .post(&format!("{}/v1/clinics", endpoint.url()))
            .set("Authorization", &format!("Bearer {enrollment_token}"))
            .set("Content-Type", "application/octet-stream")
            .send_bytes(&wire::encode_registration(
                &to_bytes(key),
                &to_bytes(casting),
            ))
            .map_err(http_error)?
            .into_json()
            .map_err(|e| ServiceError::Http(e.to_string()))?;
        let params = Parameters::by_name(key.parameters().name)?;
        Ok(Self {
            endpoint: endpoint.clone(),
            token: json_field(&answer, "token")?,
            clinic_id: json_field(&answer, "clinic_id")?,
            params,
            key_id: key.key_id(),
        })
    }

    /// A client for an already registered clinic.
    pub fn connect(
        endpoint: &Endpoint,
        token: &str,
        params: &'static Parameters,
        key_id: u64,
    ) -> Result<Self, ServiceError> {
        let clinic_id = token
            .strip_prefix('c')
            .and_then(|t| t.split_once('.'))
            .and_then(|(id, _)| id.parse().ok())
            .ok_or_else(|| ServiceError::Unauthorized("not a clinic token".into()))?;
        Ok(Self {
            endpoint: endpoint.clone(),
            token: token.to_string(),
            clinic_id,
            params,
            key_id,
        })
    }

    pub fn clinic_id(&self) -> i64 {
        self.clinic_id
    }
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Adds a device for `patient`; returns its client.
    pub fn add_device(&self, patient: &str) -> Result<DeviceClient, ServiceError> {
        let answer: serde_json::Value = self
            .endpoint
            .agent()
            .post(&format!("{}/v1/devices", self.endpoint.url()))
            .set("Authorization", &format!("Bearer {}", self.token))
            .send_json(serde_json::json!({ "patient": patient }))
            .map_err(http_error)?
            .into_json()
            .map_err(|e| ServiceError::Http(e.to_string()))?;
        Ok(DeviceClient {
            endpoint: self.endpoint.clone(),
            token: json_field(&answer, "token")?,
            device_id: json_field(&answer, "device_id")?,
        })
    }

    /// A new clinic token (the current one is refused from now on); this client uses it.
    pub fn rotate_token(&mut self) -> Result<&str, ServiceError> {
        let answer: serde_json::Value = self
            .endpoint
            .agent()
            .post(&format!("{}/v1/clinics/token", self.endpoint.url()))
            .set("Authorization", &self.bearer())
            .call()
            .map_err(http_error)?
            .into_json()
            .map_err(|e| ServiceError::Http(e.to_string()))?;
        self.token = json_field(&answer, "token")?;
        Ok(&self.token)
    }

    /// Revokes one of the clinic's devices: its token is refused from now on.
    pub fn revoke_device(&self, device_id: i64) -> Result<(), ServiceError> {
        self.endpoint
            .agent()
            .delete(&format!("{}/v1/devices/{device_id}", self.endpoint.url()))
            .set("Authorization", &self.bearer())
            .call()
            .map_err(http_error)?;
        Ok(())
    }

    /// A new token for one of the clinic's devices (the old one refused from now on).
    pub fn rotate_device_token(&self, device_id: i64) -> Result<DeviceClient, ServiceError> {
        let answer: serde_json::Value = self
            .endpoint
            .agent()
            .post(&format!(
                "{}/v1/devices/{device_id}/token",
                self.endpoint.url()
            ))
            .set("Authorization", &self.bearer())
            .call()
            .map_err(http_error)?
            .into_json()
            .map_err(|e| ServiceError::Http(e.to_string()))?;
        DeviceClient::connect(&self.endpoint, &json_field::<String>(&answer, "token")?)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// `GET /v1/<what>?since=&wait_ms=`: the answer's bytes.
    fn poll(&self, what: &str, since: i64, wait: Duration) -> Result<Vec<u8>, ServiceError> {
        let response = self
            .endpoint
            .agent()
            .get(&format!("{}/v1/{what}", self.endpoint.url()))
            .query("since", &since.to_string())
            .query("wait_ms", &wait.as_millis().to_string())
            .set("Authorization", &self.bearer())
            .call()
            .map_err(http_error)?;
        read_body(response)
    }

    /// The ciphertexts of an envelope under this clinic's parameters and key.
    fn ciphertexts(&self, envelope: &[u8]) -> Result<Vec<Ciphertext>, ServiceError> {
        Ok(from_bytes(
            envelope,
            self.params,
            Some(self.key_id),
            1 << 24,
        )?)
    }

    /// Posts an encrypted lab value ([`crate::vitals::Clinic::encrypt_lab_value`]) of
    /// `patient`'s `test` on `date` (`YYYY-MM-DD`), to be compared with the earlier records:
    /// "changed by more than `change`", and the gap to the mean of the last `window` records.
    pub fn post_record(
        &self,
        patient: &str,
        test: &str,
        date: &str,
        value: &RadixCiphertext,
        change: u16,
        window: usize,
    ) -> Result<RecordPosted, ServiceError> {
        let body = to_bytes(&blocks_of(value));
        self.post_record_raw(patient, test, date, &body, change, window)
    }

    /// Posts an already encoded record body (tests use it to send malformed ones).
    pub fn post_record_raw(
        &self,
        patient: &str,
        test: &str,
        date: &str,
        body: &[u8],
        change: u16,
        window: usize,
    ) -> Result<RecordPosted, ServiceError> {
        let answer: serde_json::Value = self
            .endpoint
            .agent()
            .post(&format!("{}/v1/records", self.endpoint.url()))
            .query("patient", patient)
            .query("test", test)
            .query("date", date)
            .query("change", &change.to_string())
            .query("window", &window.to_string())
            .set("Authorization", &self.bearer())
            .set("Content-Type", "application/octet-stream")
            .send_bytes(body)
            .map_err(http_error)?
            .into_json()
            .map_err(|e| ServiceError::Http(e.to_string()))?;
        Ok(RecordPosted {
            record_id: json_field(&answer, "record_id")?,
            replay: json_field(&answer, "replay")?,
            version: answer["version"].as_i64(),
        })
    }

    /// Record analyses after `since`, waiting up to `wait` for the first.
    pub fn fetch_analyses(
        &self,
        since: i64,
        wait: Duration,
    ) -> Result<Vec<AnalysisRecord>, ServiceError> {
        let body = self.poll("analyses", since, wait)?;
        let layout = RadixLayout::new(self.params)?;
        wire::decode_analyses(&body)
            .map_err(ServiceError::Http)?
            .into_iter()
            .map(|(meta, envelope)| {
                let analysis = if envelope.is_empty() {
                    None
                } else {
                    let cts = self.ciphertexts(envelope)?;
                    Some(RecordAnalysis::from_ciphertexts(cts, meta.window, &layout)?)
                };
                Ok(AnalysisRecord {
                    id: meta.id,
                    record_id: meta.record_id,
                    patient: meta.patient,
                    test: meta.test,
                    date: meta.date,
                    version: meta.version,
                    analysis,
                })
            })
            .collect()
    }

    /// Asks for cohort statistics of `test` against `threshold`; returns the job's id.
    pub fn request_cohort(&self, test: &str, threshold: u16) -> Result<i64, ServiceError> {
        let answer: serde_json::Value = self
            .endpoint
            .agent()
            .post(&format!("{}/v1/cohorts", self.endpoint.url()))
            .set("Authorization", &self.bearer())
            .send_json(serde_json::json!({ "test": test, "threshold": threshold }))
            .map_err(http_error)?
            .into_json()
            .map_err(|e| ServiceError::Http(e.to_string()))?;
        json_field(&answer, "cohort_id")
    }

    /// A cohort job's result, waiting up to `wait`; `None` while it is pending.
    pub fn fetch_cohort(
        &self,
        id: i64,
        wait: Duration,
    ) -> Result<Option<CohortResult>, ServiceError> {
        let response = self
            .endpoint
            .agent()
            .get(&format!("{}/v1/cohorts/{id}", self.endpoint.url()))
            .query("wait_ms", &wait.as_millis().to_string())
            .set("Authorization", &self.bearer())
            .call()
            .map_err(http_error)?;
        if response.status() == 202 {
            return Ok(None);
        }
        let body = read_body(response)?;
        let (meta, envelope) = wire::decode_cohort(&body).map_err(ServiceError::Http)?;
        let layout = RadixLayout::new(self.params)?;
        let statistics = CohortStatistics::from_ciphertexts(
            self.ciphertexts(envelope)?,
            meta.patients,
            &layout,
        )?;
        Ok(Some(CohortResult {
            cohort_id: meta.cohort_id,
            test: meta.test,
            threshold: meta.threshold,
            statistics,
        }))
    }

    /// Alert records after `since`, waiting up to `wait` for the first.
    pub fn fetch_alerts(
        &self,
        since: i64,
        wait: Duration,
    ) -> Result<Vec<AlertRecord>, ServiceError> {
        Ok(self
            .fetch_stream(since, wait)?
            .into_iter()
            .filter_map(|item| match item {
                StreamItem::Alerts(a) => Some(a),
                StreamItem::Failed(_) => None,
            })
            .collect())
    }

    /// The clinic's stream since `since`: each reading's alerts, or why it failed for good
    /// ([`Self::fetch_alerts`] leaves the failures out).
    pub fn fetch_stream(
        &self,
        since: i64,
        wait: Duration,
    ) -> Result<Vec<StreamItem>, ServiceError> {
        let body = self.poll("alerts", since, wait)?;
        wire::decode_alerts(&body)
            .map_err(ServiceError::Http)?
            .into_iter()
            .map(|frame| match frame.body {
                wire::AlertBody::Failed(reason) => Ok(StreamItem::Failed(FailedReading {
                    id: frame.id,
                    device_id: frame.device_id,
                    seq: frame.seq,
                    received_ms: frame.received_ms,
                    reason: reason.to_string(),
                })),
                wire::AlertBody::Flags(envelope) => {
                    let alerts = ReadingAlerts::from_ciphertexts(self.ciphertexts(envelope)?)?;
                    Ok(StreamItem::Alerts(AlertRecord {
                        id: frame.id,
                        device_id: frame.device_id,
                        seq: frame.seq,
                        received_ms: frame.received_ms,
                        heart_rate: alerts.heart_rate,
                        spo2: alerts.spo2,
                        any: alerts.any,
                        sustained: alerts.sustained,
                    }))
                }
            })
            .collect()
    }
}

/// A wearable's side: posts its encrypted readings.
#[derive(Clone, Debug)]
pub struct DeviceClient {
    endpoint: Endpoint,
    token: String,
    device_id: i64,
}

/// What the server said of a batch of readings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostOutcome {
    /// Readings newly committed.
    pub accepted: usize,
    /// Sequence numbers it already had (ignored).
    pub replays: Vec<u64>,
}

impl DeviceClient {
    /// A client for an already added device (its token `d<id>.<secret>`).
    pub fn connect(endpoint: &Endpoint, token: &str) -> Result<Self, ServiceError> {
        let device_id = token
            .strip_prefix('d')
            .and_then(|t| t.split_once('.'))
            .and_then(|(id, _)| id.parse().ok())
            .ok_or_else(|| ServiceError::Unauthorized("not a device token".into()))?;
        Ok(Self {
            endpoint: endpoint.clone(),
            token: token.to_string(),
            device_id,
        })
    }

    pub fn device_id(&self) -> i64 {
        self.device_id
    }
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Posts readings with their sequence numbers; returns once they are committed.
    pub fn post_readings(
        &self,
        readings: &[(u64, &EncryptedReading)],
    ) -> Result<PostOutcome, ServiceError> {
        let mut body = Vec::new();
        for (seq, r) in readings {
            wire::put_record(&mut body, &[*seq], &to_bytes(&r.list));
        }
        self.post_raw(&body)
    }

    /// Posts an already encoded body (tests use it to send malformed ones).
    pub fn post_raw(&self, body: &[u8]) -> Result<PostOutcome, ServiceError> {
        let answer: serde_json::Value = self
            .endpoint
            .agent()
            .post(&format!("{}/v1/readings", self.endpoint.url()))
            .set("Authorization", &format!("Bearer {}", self.token))
            .set("Content-Type", "application/octet-stream")
            .send_bytes(body)
            .map_err(http_error)?
            .into_json()
            .map_err(|e| ServiceError::Http(e.to_string()))?;
        Ok(PostOutcome {
            accepted: json_field(&answer, "accepted")?,
            replays: json_field(&answer, "replays")?,
        })
    }
}
