//! The service's durable store: SQLite (bundled) in WAL mode with `synchronous = FULL`, so an
//! acknowledged write survives a killed process. The schema is created and migrated here
//! (`PRAGMA user_version`). Every query that reads or writes a clinic's rows is scoped by the
//! clinic id that its token proved.
//!
//! Readings are the jobs: a reading row is committed when its request is acknowledged, with
//! `state = 0` (pending, [`JobState`]); the worker computes its alerts and, in one
//! transaction, inserts them and sets `state = 1` (done). A server killed in between recomputes the reading after a restart;
//! the `UNIQUE (device_id, seq)` of the alerts makes the insert happen once.
//!
//! Lab records are jobs the same way: a record is stored pending; its analysis (against the
//! earlier records of its series: clinic, patient, test type) is inserted with its running
//! maximum and the record marked done in one transaction (`UNIQUE (record_id)`). Cohort
//! requests are rows too, computed over the records stored when they were made (`as_of`).
//!
//! By concern: this module (the error, job states, the connection, clinics, devices and
//! tokens), `schema` (the tables and their migrations), `readings` (readings and their
//! alerts) and `records` (lab records, analyses and cohort jobs). SQL stays in here.

mod readings;
mod records;
mod schema;

pub use readings::{AlertRow, CompletedReading, PendingReading};
pub use records::{
    AnalysisRow, CohortRow, CompletedRecord, NewRecord, PendingRecord, RecordInsert,
};
pub use schema::SCHEMA_VERSION;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, ToSql};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// What the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused or failed (I/O, a full disk, a locked database, a constraint).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer build.
    #[error("database schema version {found} is newer than this build's {SCHEMA_VERSION}")]
    SchemaTooNew { found: i64 },
    /// Rows that contradict each other (a store written wrongly, or edited by hand).
    #[error("inconsistent store: {0}")]
    Inconsistent(String),
}

type Result<T> = std::result::Result<T, StoreError>;

/// The state of a job (a reading, a record, a cohort request), column `state` of its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Stored, not yet computed (0).
    Pending,
    /// Computed; its result is stored (1).
    Done,
    /// Failed for good after its attempts (2).
    Failed,
}

impl JobState {
    /// The column's value.
    pub const fn code(self) -> i64 {
        match self {
            JobState::Pending => 0,
            JobState::Done => 1,
            JobState::Failed => 2,
        }
    }
}

impl ToSql for JobState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.code()))
    }
}

impl FromSql for JobState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value.as_i64()? {
            0 => Ok(JobState::Pending),
            1 => Ok(JobState::Done),
            2 => Ok(JobState::Failed),
            n => Err(FromSqlError::OutOfRange(n)),
        }
    }
}

/// A registered clinic, as the store holds it.
pub struct ClinicRow {
    pub id: i64,
    pub params: String,
    pub key_id: u64,
    pub server_key: Vec<u8>,
    /// The compressed casting key (absent for a clinic registered before schema 3).
    pub casting_key: Option<Vec<u8>>,
}

/// The store: one connection behind a lock (SQLite serializes writers anyway).
pub struct Store {
    conn: Mutex<Connection>,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// SHA-256 of a token's secret part.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

impl Store {
    /// Opens (creating or migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        // Each migration in one transaction, from the version found to this build's.
        let migrations = [schema::SCHEMA_V1, schema::SCHEMA_V2, schema::SCHEMA_V3];
        match version {
            v if (0..SCHEMA_VERSION).contains(&v) => {
                for (i, m) in migrations.iter().enumerate().skip(v as usize) {
                    conn.execute_batch(&format!(
                        "BEGIN; {m} PRAGMA user_version = {}; COMMIT;",
                        i + 1
                    ))?;
                }
            }
            SCHEMA_VERSION => {}
            found => return Err(StoreError::SchemaTooNew { found }),
        }
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a clinic; returns its id.
    pub fn insert_clinic(
        &self,
        secret: &str,
        params: &str,
        key_id: u64,
        server_key: &[u8],
        casting_key: &[u8],
    ) -> Result<i64> {
        let conn = self.conn();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        conn.execute(
            "INSERT INTO clinics (token_hash, params, key_id, server_key, casting_key, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                hash_secret(secret),
                params,
                key_id as i64,
                server_key,
                casting_key,
                now
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// The clinic whose token is `id.secret`, if the secret matches (constant time).
    pub fn authenticate_clinic(&self, id: i64, secret: &str) -> Result<bool> {
        let stored: Option<Vec<u8>> = self
            .conn()
            .query_row(
                "SELECT token_hash FROM clinics WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(matches(stored, secret))
    }

    /// The device whose token is `id.secret`: its clinic, if the secret matches.
    pub fn authenticate_device(&self, id: i64, secret: &str) -> Result<Option<i64>> {
        let row: Option<(Vec<u8>, i64)> = self
            .conn()
            .query_row(
                "SELECT token_hash, clinic_id FROM devices WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.and_then(|(hash, clinic)| matches(Some(hash), secret).then_some(clinic)))
    }

    pub fn clinic(&self, id: i64) -> Result<Option<ClinicRow>> {
        self.conn()
            .query_row(
                "SELECT id, params, key_id, server_key, casting_key FROM clinics WHERE id = ?1",
                params![id],
                |r| {
                    Ok(ClinicRow {
                        id: r.get(0)?,
                        params: r.get(1)?,
                        key_id: r.get::<_, i64>(2)? as u64,
                        server_key: r.get(3)?,
                        casting_key: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(StoreError::from)
    }

    /// Clinics registered.
    pub fn clinic_count(&self) -> Result<u64> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM clinics", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// Adds a device (a patient's wearable) to a clinic; returns its id.
    pub fn insert_device(&self, clinic_id: i64, patient: &str, secret: &str) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO devices (clinic_id, patient, token_hash) VALUES (?1, ?2, ?3)",
            params![clinic_id, patient, hash_secret(secret)],
        )?;
        Ok(conn.last_insert_rowid())
    }
}

/// Constant-time comparison of a stored hash with a presented secret's.
fn matches(stored: Option<Vec<u8>>, secret: &str) -> bool {
    // Hash even when there is no row, so a wrong id costs the same as a wrong secret.
    let presented = hash_secret(secret);
    match stored {
        Some(hash) => bool::from(hash.ct_eq(&presented)),
        None => false,
    }
}
