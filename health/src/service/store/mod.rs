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
    /// A clinic's quota would be exceeded (devices, stored bytes).
    #[error("quota: {0}")]
    Quota(String),
    /// A write that contradicts what is stored (a used sequence number with another body).
    #[error("conflict: {0}")]
    Conflict(String),
}

/// A fault-injection point for the crash tests: when `GLOVEBOX_FAULT_PAUSE_AT` names `point`,
/// the first time the process reaches it (inside a transaction, before its commit) it writes
/// the file `GLOVEBOX_FAULT_MARKER` and waits there for ever, for the test to kill it. Points:
/// `alerts-commit`, `registration-commit`, `cohort-commit`.
pub(crate) fn pause_point(point: &str) {
    static REACHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if std::env::var("GLOVEBOX_FAULT_PAUSE_AT").as_deref() != Ok(point)
        || REACHED.swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        return;
    }
    if let Ok(marker) = std::env::var("GLOVEBOX_FAULT_MARKER") {
        let _ = std::fs::write(marker, point);
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// Enrollment token `id.secret` if it would register a clinic now: it matches (compared in
/// constant time, a wrong id costing the same as a wrong secret), is unused and unexpired.
/// Its quotas, and when a registration claimed it (if one did).
fn usable_enrollment(
    conn: &Connection,
    id: i64,
    secret: &str,
) -> Result<Option<(Quotas, Option<i64>)>> {
    let row: Option<(Vec<u8>, i64, Option<i64>, Option<i64>, Quotas)> = conn
        .query_row(
            "SELECT token_hash, expires, used_by, claimed, max_devices, readings_per_second,
                    max_stored_bytes FROM enrollments WHERE id = ?1",
            params![id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    Quotas {
                        max_devices: r.get::<_, i64>(4)? as u64,
                        readings_per_second: r.get::<_, i64>(5)? as u64,
                        max_stored_bytes: r.get::<_, i64>(6)? as u64,
                    },
                ))
            },
        )
        .optional()?;
    let valid = matches(row.as_ref().map(|r| r.0.clone()), secret);
    Ok(row
        .filter(|(_, expires, used, ..)| valid && used.is_none() && *expires >= now_ms())
        .map(|(_, _, _, claimed, quotas)| (quotas, claimed)))
}

/// A clinic's quotas, set by its enrollment token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// Devices not revoked.
    pub max_devices: u64,
    /// Readings accepted per second (a bucket of two seconds' worth).
    pub readings_per_second: u64,
    /// Bytes of readings and records stored.
    pub max_stored_bytes: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            max_devices: 10_000,
            readings_per_second: 100,
            max_stored_bytes: 10 << 30,
        }
    }
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
    pub quotas: Quotas,
}

/// The store: one connection behind a lock (SQLite serializes writers anyway).
pub struct Store {
    conn: Mutex<Connection>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// SHA-256 of a token's secret part.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Applies the migrations from the version found to this build's (the caller holds the write
/// lock).
fn migrate(conn: &Connection) -> Result<()> {
    let migrations = [
        schema::SCHEMA_V1,
        schema::SCHEMA_V2,
        schema::SCHEMA_V3,
        schema::SCHEMA_V4,
        schema::SCHEMA_V5,
        schema::SCHEMA_V6,
    ];
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found: version });
    }
    for (i, m) in migrations.iter().enumerate().skip(version as usize) {
        conn.execute_batch(m)?;
        conn.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    Ok(())
}

impl Store {
    /// Opens (creating or migrating) the database at `path`. Another process setting up the
    /// same new database at the same moment (a server and `glovebox serve enroll`) is waited
    /// for, up to 10 s: SQLite answers "busy" at once to a journal-mode switch.
    pub fn open(path: &Path) -> Result<Self> {
        let begin = std::time::Instant::now();
        loop {
            match Self::open_once(path) {
                Err(StoreError::Sqlite(e))
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                        && begin.elapsed() < std::time::Duration::from_secs(10) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew { found: version });
        }
        if version < SCHEMA_VERSION {
            // Under the write lock, the version read again: two processes that open a new
            // database at once migrate it once (the second waits, then finds it done).
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let migrated = migrate(&conn);
            conn.execute_batch(if migrated.is_ok() {
                "COMMIT"
            } else {
                "ROLLBACK"
            })?;
            migrated?;
        }
        // On only now: a migration may rebuild a table (SQLite's way needs them off).
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new enrollment token's row (its secret hashed): valid until `expires_ms` (ms since the
    /// epoch), used once, giving its clinic `quotas`. Returns its id.
    pub fn create_enrollment(&self, secret: &str, expires_ms: i64, quotas: Quotas) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO enrollments (token_hash, created, expires, max_devices,
                                      readings_per_second, max_stored_bytes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                hash_secret(secret),
                now_ms(),
                expires_ms,
                quotas.max_devices as i64,
                quotas.readings_per_second as i64,
                quotas.max_stored_bytes as i64
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Registers a clinic with enrollment token `enrollment` (`(id, secret)`), in one
    /// transaction: the token must match (constant time), be unused and unexpired; it is
    /// marked used by the new clinic, which gets its quotas. `None` when the token is refused
    /// (nothing stored).
    #[allow(clippy::too_many_arguments)]
    pub fn register_clinic(
        &self,
        enrollment: (i64, &str),
        secret: &str,
        params: &str,
        key_id: u64,
        server_key: &[u8],
        casting_key: &[u8],
    ) -> Result<Option<i64>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let Some((quotas, _)) = usable_enrollment(&tx, enrollment.0, enrollment.1)? else {
            return Ok(None);
        };
        tx.execute(
            "INSERT INTO clinics (token_hash, params, key_id, server_key, casting_key, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                hash_secret(secret),
                params,
                key_id as i64,
                server_key,
                casting_key,
                now_ms() / 1000
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO clinic_quotas (clinic_id, max_devices, readings_per_second,
                                        max_stored_bytes)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                id,
                quotas.max_devices as i64,
                quotas.readings_per_second as i64,
                quotas.max_stored_bytes as i64
            ],
        )?;
        tx.execute(
            "UPDATE enrollments SET used_by = ?1 WHERE id = ?2",
            params![id, enrollment.0],
        )?;
        pause_point("registration-commit");
        tx.commit()?;
        Ok(Some(id))
    }

    /// The quotas enrollment token `id.secret` gives, if it would register a clinic now (it
    /// matches, in constant time, and is unused and unexpired). [`Self::register_clinic`]
    /// checks again in its transaction.
    pub fn enrollment_quotas(&self, id: i64, secret: &str) -> Result<Option<Quotas>> {
        Ok(usable_enrollment(&self.conn(), id, secret)?.map(|(quotas, _)| quotas))
    }

    /// Claims enrollment token `id.secret` for one registration while its keys expand: true
    /// when it matches (constant time), is unused, unexpired, and not claimed by another
    /// registration (a claim older than five minutes, left by a killed process, has lapsed).
    pub fn claim_enrollment(&self, id: i64, secret: &str) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = now_ms();
        let free = usable_enrollment(&tx, id, secret)?
            .is_some_and(|(_, claimed)| claimed.is_none_or(|c| c < now - 300_000));
        if free {
            tx.execute(
                "UPDATE enrollments SET claimed = ?1 WHERE id = ?2",
                params![now, id],
            )?;
            tx.commit()?;
        }
        Ok(free)
    }

    /// Releases every claim: a claim lives only while its registration runs in this server,
    /// so one found at start was left by a killed process.
    pub fn release_all_claims(&self) -> Result<()> {
        self.conn().execute(
            "UPDATE enrollments SET claimed = NULL WHERE used_by IS NULL",
            [],
        )?;
        Ok(())
    }

    /// Releases a registration's claim on an enrollment token (the registration failed).
    pub fn release_enrollment(&self, id: i64) -> Result<()> {
        self.conn().execute(
            "UPDATE enrollments SET claimed = NULL WHERE id = ?1 AND used_by IS NULL",
            params![id],
        )?;
        Ok(())
    }

    /// Replaces a clinic's token (the old one is refused from now on).
    pub fn rotate_clinic_token(&self, clinic_id: i64, secret: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE clinics SET token_hash = ?1 WHERE id = ?2",
            params![hash_secret(secret), clinic_id],
        )?;
        Ok(())
    }

    /// Revokes one of a clinic's devices (its token is refused; what it posted stays).
    /// `false` when the clinic has no such device.
    pub fn revoke_device(&self, clinic_id: i64, device_id: i64) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE devices SET revoked = 1 WHERE id = ?1 AND clinic_id = ?2",
            params![device_id, clinic_id],
        )? == 1)
    }

    /// Replaces the token of one of a clinic's devices (not revoked). `false` when the clinic
    /// has no such device.
    pub fn rotate_device_token(
        &self,
        clinic_id: i64,
        device_id: i64,
        secret: &str,
    ) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE devices SET token_hash = ?1 WHERE id = ?2 AND clinic_id = ?3 AND revoked = 0",
            params![hash_secret(secret), device_id, clinic_id],
        )? == 1)
    }

    /// Registers a clinic directly (tests, and stores prepared by hand), with the default
    /// quotas; returns its id.
    pub fn insert_clinic(
        &self,
        secret: &str,
        params: &str,
        key_id: u64,
        server_key: &[u8],
        casting_key: &[u8],
    ) -> Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        tx.execute(
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
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO clinic_quotas (clinic_id) VALUES (?1)",
            params![id],
        )?;
        tx.commit()?;
        Ok(id)
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
                "SELECT token_hash, clinic_id FROM devices WHERE id = ?1 AND revoked = 0",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.and_then(|(hash, clinic)| matches(Some(hash), secret).then_some(clinic)))
    }

    pub fn clinic(&self, id: i64) -> Result<Option<ClinicRow>> {
        self.conn()
            .query_row(
                "SELECT c.id, c.params, c.key_id, c.server_key, c.casting_key, q.max_devices,
                        q.readings_per_second, q.max_stored_bytes
                 FROM clinics c JOIN clinic_quotas q ON q.clinic_id = c.id WHERE c.id = ?1",
                params![id],
                |r| {
                    Ok(ClinicRow {
                        id: r.get(0)?,
                        params: r.get(1)?,
                        key_id: r.get::<_, i64>(2)? as u64,
                        server_key: r.get(3)?,
                        casting_key: r.get(4)?,
                        quotas: Quotas {
                            max_devices: r.get::<_, i64>(5)? as u64,
                            readings_per_second: r.get::<_, i64>(6)? as u64,
                            max_stored_bytes: r.get::<_, i64>(7)? as u64,
                        },
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

    /// Adds a device (a patient's wearable) to a clinic, within its device quota (devices not
    /// revoked); returns its id.
    pub fn insert_device(&self, clinic_id: i64, patient: &str, secret: &str) -> Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let (devices, max): (i64, i64) = tx.query_row(
            "SELECT (SELECT COUNT(*) FROM devices WHERE clinic_id = ?1 AND revoked = 0),
                    max_devices FROM clinic_quotas WHERE clinic_id = ?1",
            params![clinic_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if devices >= max {
            return Err(StoreError::Quota(format!(
                "the clinic has {devices} devices, its quota"
            )));
        }
        tx.execute(
            "INSERT INTO devices (clinic_id, patient, token_hash) VALUES (?1, ?2, ?3)",
            params![clinic_id, patient, hash_secret(secret)],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(id)
    }

    /// Adds `bytes` to what a clinic stores, within its quota (inside the caller's
    /// transaction).
    fn charge(tx: &rusqlite::Transaction<'_>, clinic_id: i64, bytes: usize) -> Result<()> {
        let (stored, max): (i64, i64) = tx.query_row(
            "SELECT stored_bytes, max_stored_bytes FROM clinic_quotas WHERE clinic_id = ?1",
            params![clinic_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if stored + bytes as i64 > max {
            return Err(StoreError::Quota(format!(
                "the clinic stores {stored} bytes of its {max}; {bytes} more do not fit"
            )));
        }
        tx.execute(
            "UPDATE clinic_quotas SET stored_bytes = stored_bytes + ?1 WHERE clinic_id = ?2",
            params![bytes as i64, clinic_id],
        )?;
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A database written by schema 2 (a clinic, a device, readings, two records of a
    /// series) migrates to this build's: every row kept, the records table rebuilt with its
    /// versions, the clinic given default quotas, and its stored readings still pending.
    #[test]
    fn a_schema_2_database_migrates_with_its_rows() {
        let path = std::env::temp_dir().join(format!(
            "glovebox-migrate-{}-{:?}.sqlite",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&path);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(schema::SCHEMA_V1).unwrap();
            conn.execute_batch(schema::SCHEMA_V2).unwrap();
            conn.execute_batch(
                "INSERT INTO clinics (token_hash, params, key_id, server_key, created)
                     VALUES (x'00', 'TEST_PARAMS_INSECURE', 7, x'0102', 0);
                 INSERT INTO devices (clinic_id, patient, token_hash) VALUES (1, 'p', x'00');
                 INSERT INTO readings (device_id, seq, clinic_id, body) VALUES (1, 0, 1, x'aa');
                 INSERT INTO records (clinic_id, patient, test, date, change_threshold,
                                      mean_window, value, state)
                     VALUES (1, 'p', 'glucose', '2026-01-01', 10, 3, x'bb', 1),
                            (1, 'p', 'glucose', '2026-01-02', 10, 3, x'cc', 0);
                 PRAGMA user_version = 2;",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let conn = store.conn();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let records: Vec<(String, i64, i64, i64)> = conn
            .prepare("SELECT date, state, version, superseded FROM records ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            records,
            [
                ("2026-01-01".to_string(), 1, 1, 0),
                ("2026-01-02".to_string(), 0, 1, 0)
            ]
        );
        let quotas: i64 = conn
            .query_row(
                "SELECT max_devices FROM clinic_quotas WHERE clinic_id = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(quotas, Quotas::default().max_devices as i64);
        drop(conn);
        assert_eq!(store.counts().unwrap(), (1, 1, 0));
        // Foreign keys hold after the rebuild: an analysis of a missing record is refused.
        assert!(store
            .conn()
            .execute(
                "INSERT INTO analyses (clinic_id, record_id, mean_window) VALUES (1, 99, 3)",
                []
            )
            .is_err());
        drop(store);
        let _ = std::fs::remove_file(&path);
    }
}
