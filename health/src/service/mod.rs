//! The clinic service: encrypted vitals over HTTP, stored durably, alerts computed blind.
//!
//! A clinic registers by uploading its compressed server key and its compressed casting key
//! (envelopes, [`glovebox_engine::serialization`]) and gets a clinic token; it adds a device
//! per wearable and gets a device token. Devices hold the clinic's compact public key only. The
//! service speaks HTTPS ([`tls`]; plain HTTP on loopback only). Devices post batches of encrypted readings with sequence numbers;
//! an acknowledged reading is committed to the store ([`store`], SQLite or PostgreSQL), a replayed sequence
//! number is ignored. A worker (the server's own, or `glovebox worker` processes on a shared
//! PostgreSQL store, [`work`]) claims each reading under a lease and computes its alerts (heart rate, SpO2, any,
//! sustained: the main job's rules, [`crate::vitals::MonitoringServer::evaluate_readings`])
//! through the host driver, stores them encrypted, and the clinic fetches them since a cursor
//! (long poll) and decrypts them locally. The server never holds a secret key.
//!
//! Tokens are `c<id>.<secret>` (clinic) and `d<id>.<secret>` (device); the store keeps the
//! SHA-256 of the secret and compares in constant time. Every query is scoped by the clinic the
//! token proved.
//!
//! Wire formats (all integers little-endian):
//! - registration: `[length: u32][compressed server key][length: u32][compressed casting key]`
//!   ([`wire::encode_registration`]);
//! - readings: repeated `[seq: u64][length: u32][envelope]`, each envelope a packed compact
//!   list of the reading's four nibbles (heart rate then SpO2,
//!   [`crate::vitals::EncryptedReading`]);
//! - alerts: `[count: u32]` then repeated `[alert id: i64][device id: i64][seq: u64]
//!   [status: u64][received: u64][length: u32][body]`, the body (status 0) an envelope of 4
//!   flags: heart rate, SpO2, any, sustained, or (status 1) why the reading failed for good;
//!   received, when the server received the reading (ms since the Unix epoch);
//! - records: `POST /v1/records?patient=&test=&date=YYYY-MM-DD&change=X&window=k`, the body
//!   one envelope: a ciphertext batch of the value's blocks ([`crate::records`]);
//! - analyses and cohort results: `[count: u32]` (analyses only) then per item `[length: u32]
//!   [JSON metadata][length: u32][envelope or nothing]`; an analysis envelope holds "above
//!   the maximum", "changed", then the blocks of `k·value − Σ window`; a cohort envelope the
//!   blocks of the count, of the sum above the threshold, and of the sum of all;
//! - errors: JSON `{"error": message, "kind": kind}` with a 4xx or 5xx status.

pub mod client;
pub mod dashboard;
pub mod pseudonym;
pub mod server;
pub mod store;
pub mod tls;
pub mod wire;

pub use client::{
    AlertRecord, AnalysisRecord, ClinicClient, CohortResult, DeviceClient, FailedReading,
    ReadingFlags, RecordPosted, StreamItem,
};
pub use server::{serve, work, ServiceConfig};
pub use tls::Endpoint;

/// A new token secret: 32 bytes from the operating system's cryptographic generator, in hex.
pub fn new_token_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Everything that can go wrong in the service or its clients.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No token, a malformed one, or one that matches nothing (401).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A request that cannot be parsed (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Bytes that decode to nothing valid under the clinic's parameters and key (422): a
    /// malformed envelope, other parameters, another key.
    #[error("{0}")]
    Engine(#[from] glovebox_engine::Error),
    /// A request that contradicts what is stored (409): a record dated before its series'
    /// latest.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Nothing of that id for this clinic, or no such route (404).
    #[error("not found: {0}")]
    NotFound(String),
    /// A route that exists, with another method (405).
    #[error("method not allowed: {0}")]
    MethodNotAllowed(String),
    /// A body over the limit (413).
    #[error("request body over the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// A request that did not finish in time (408).
    #[error("timeout: {0}")]
    Timeout(String),
    /// The server is at a limit of its own (open long polls): retry later (503).
    #[error("busy: {0}")]
    Busy(String),
    /// A job failed for good after its attempts (500, kind `failed`).
    #[error("failed: {0}")]
    Failed(String),
    /// The store failed (500).
    #[error("store: {0}")]
    Store(store::StoreError),
    /// A clinic's quota would be exceeded: devices, readings per second, stored bytes (429).
    #[error("quota: {0}")]
    Quota(String),
    /// The server failed in itself: a task that panicked, a thread that could not start
    /// (500).
    #[error("internal: {0}")]
    Internal(String),
    /// A client could not read or write the clinic's own files.
    #[error("{0}")]
    Io(String),
    /// A client could not reach the server, or read its answer.
    #[error("http: {0}")]
    Http(String),
    /// The server answered with an error status (client side).
    #[error("server answered {status} ({kind}): {message}")]
    Status {
        status: u16,
        kind: String,
        message: String,
    },
}

/// The store's errors: a quota is the client's (429), a conflict too (409); the rest the
/// server's.
impl From<store::StoreError> for ServiceError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Quota(m) => ServiceError::Quota(m),
            store::StoreError::Conflict(m) => ServiceError::Conflict(m),
            e => ServiceError::Store(e),
        }
    }
}

/// The application's errors: the engine's are the content's fault (422), input the
/// application cannot take is a bad request (400).
impl From<crate::Error> for ServiceError {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::Engine(e) => ServiceError::Engine(e),
            crate::Error::InvalidInput(m) => ServiceError::BadRequest(m),
        }
    }
}

impl ServiceError {
    /// Whether the failure is the server's passing state rather than the request's or the
    /// job's content: the store, the backend (a device fault, a key released meanwhile), a
    /// limit of the moment. The worker retries these without counting them against a job.
    pub fn is_transient(&self) -> bool {
        match self {
            // The database failing (busy, I/O, a full disk, a lost connection); not a store
            // that contradicts itself.
            ServiceError::Store(e) => e.is_transient(),
            ServiceError::Internal(_)
            | ServiceError::Busy(_)
            | ServiceError::Timeout(_)
            | ServiceError::Io(_)
            | ServiceError::Http(_) => true,
            ServiceError::Engine(e) => matches!(
                e,
                glovebox_engine::Error::Backend { .. } | glovebox_engine::Error::InvalidHandle(_)
            ),
            _ => false,
        }
    }

    /// The HTTP status of the error, and its `kind` in the JSON body.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            ServiceError::Unauthorized(_) => (401, "unauthorized"),
            ServiceError::BadRequest(_) => (400, "bad_request"),
            ServiceError::Engine(_) => (422, "invalid_content"),
            ServiceError::Conflict(_) => (409, "conflict"),
            ServiceError::NotFound(_) => (404, "not_found"),
            ServiceError::MethodNotAllowed(_) => (405, "method_not_allowed"),
            ServiceError::TooLarge { .. } => (413, "too_large"),
            ServiceError::Timeout(_) => (408, "timeout"),
            ServiceError::Quota(_) => (429, "quota"),
            ServiceError::Busy(_) => (503, "busy"),
            ServiceError::Failed(_) => (500, "failed"),
            // PostgreSQL down or unreachable: the request may succeed once it is back.
            ServiceError::Store(e) if e.is_unavailable() => (503, "unavailable"),
            ServiceError::Store(_) => (500, "store"),
            ServiceError::Internal(_) => (500, "internal"),
            ServiceError::Io(_) => (500, "io"),
            ServiceError::Http(_) => (502, "http"),
            ServiceError::Status { .. } => (502, "upstream"),
        }
    }
}
