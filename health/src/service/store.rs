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

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, ToSql};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 2;

const SCHEMA_V1: &str = "
CREATE TABLE clinics (
    id INTEGER PRIMARY KEY,
    token_hash BLOB NOT NULL,
    params TEXT NOT NULL,
    key_id INTEGER NOT NULL,
    server_key BLOB NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE devices (
    id INTEGER PRIMARY KEY,
    clinic_id INTEGER NOT NULL REFERENCES clinics(id),
    patient TEXT NOT NULL,
    token_hash BLOB NOT NULL
);
CREATE TABLE readings (
    device_id INTEGER NOT NULL REFERENCES devices(id),
    seq INTEGER NOT NULL,
    clinic_id INTEGER NOT NULL REFERENCES clinics(id),
    body BLOB NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, seq)
);
CREATE INDEX readings_pending ON readings(state, device_id, seq);
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    clinic_id INTEGER NOT NULL REFERENCES clinics(id),
    device_id INTEGER NOT NULL REFERENCES devices(id),
    seq INTEGER NOT NULL,
    flags BLOB NOT NULL,
    UNIQUE (device_id, seq)
);
CREATE INDEX alerts_by_clinic ON alerts(clinic_id, id);
";

/// Version 2: lab records and their analyses, cohort jobs.
const SCHEMA_V2: &str = "
ALTER TABLE readings ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE readings ADD COLUMN error TEXT;
ALTER TABLE readings ADD COLUMN received INTEGER NOT NULL DEFAULT 0;
CREATE TABLE records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    clinic_id INTEGER NOT NULL REFERENCES clinics(id),
    patient TEXT NOT NULL,
    test TEXT NOT NULL,
    date TEXT NOT NULL,
    change_threshold INTEGER NOT NULL,
    mean_window INTEGER NOT NULL,
    value BLOB NOT NULL,
    running_max BLOB,
    state INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    UNIQUE (clinic_id, patient, test, date)
);
CREATE INDEX records_series ON records(clinic_id, patient, test, id);
CREATE INDEX records_pending ON records(state, id);
CREATE TABLE analyses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    clinic_id INTEGER NOT NULL REFERENCES clinics(id),
    record_id INTEGER NOT NULL UNIQUE REFERENCES records(id),
    mean_window INTEGER NOT NULL,
    body BLOB
);
CREATE INDEX analyses_by_clinic ON analyses(clinic_id, id);
CREATE TABLE cohorts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    clinic_id INTEGER NOT NULL REFERENCES clinics(id),
    test TEXT NOT NULL,
    threshold INTEGER NOT NULL,
    as_of INTEGER NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    patients INTEGER,
    body BLOB
);
";

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
}

/// A pending reading.
pub struct PendingReading {
    pub clinic_id: i64,
    pub device_id: i64,
    pub seq: u64,
    pub body: Vec<u8>,
}

/// A stored alert record: the reading's flags (an envelope of
/// [`crate::vitals::ReadingAlerts::to_ciphertexts`]).
pub struct AlertRow {
    pub id: i64,
    pub device_id: i64,
    pub seq: u64,
    pub flags: Vec<u8>,
}

/// A reading's computed alerts, to store with the reading marked done.
pub struct CompletedReading {
    pub clinic_id: i64,
    pub device_id: i64,
    pub seq: u64,
    /// An envelope of [`crate::vitals::ReadingAlerts::to_ciphertexts`].
    pub flags: Vec<u8>,
}

/// The store: one connection behind a lock (SQLite serializes writers anyway).
pub struct Store {
    conn: Mutex<Connection>,
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
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
        let migrations = [SCHEMA_V1, SCHEMA_V2];
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
    ) -> Result<i64> {
        let conn = self.conn();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        conn.execute(
            "INSERT INTO clinics (token_hash, params, key_id, server_key, created)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![hash_secret(secret), params, key_id as i64, server_key, now],
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
                "SELECT id, params, key_id, server_key FROM clinics WHERE id = ?1",
                params![id],
                |r| {
                    Ok(ClinicRow {
                        id: r.get(0)?,
                        params: r.get(1)?,
                        key_id: r.get::<_, i64>(2)? as u64,
                        server_key: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(StoreError::from)
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

    /// Commits a device's readings in one transaction; a sequence number already stored is
    /// left as it is (a replay). Returns the sequence numbers that were replays.
    pub fn insert_readings(
        &self,
        clinic_id: i64,
        device_id: i64,
        readings: &[(u64, Vec<u8>)],
    ) -> Result<Vec<u64>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut replays = Vec::new();
        {
            let mut insert = tx.prepare(
                "INSERT OR IGNORE INTO readings (device_id, seq, clinic_id, body, received)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (seq, body) in readings {
                let n =
                    insert.execute(params![device_id, *seq as i64, clinic_id, body, now_ms()])?;
                if n == 0 {
                    replays.push(*seq);
                }
            }
        }
        tx.commit()?;
        Ok(replays)
    }

    /// The next readings to evaluate: per device, its pending reading of lowest sequence
    /// number (one per device, so that "sustained" sees the earlier ones done), at most
    /// `limit`, longest waiting first. A reading whose predecessor has not arrived waits up to
    /// `grace` for it (a reading that overtook an earlier one on the network), then goes on
    /// without it (a lost reading: "sustained" restarts after the gap).
    pub fn next_pending(
        &self,
        limit: usize,
        grace: std::time::Duration,
    ) -> Result<Vec<PendingReading>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT r.clinic_id, r.device_id, r.seq, r.body FROM readings r
                 JOIN (SELECT device_id, MIN(seq) AS seq FROM readings WHERE state = 0
                       GROUP BY device_id) m
                 ON r.device_id = m.device_id AND r.seq = m.seq
                 WHERE r.seq = 0 OR r.received <= ?2
                    OR EXISTS (SELECT 1 FROM readings p
                               WHERE p.device_id = r.device_id AND p.seq = r.seq - 1)
                 ORDER BY r.received, r.device_id LIMIT ?1",
        )?;
        let waited_since = now_ms() - grace.as_millis() as i64;
        let rows = stmt.query_map(params![limit as i64, waited_since], |r| {
            Ok(PendingReading {
                clinic_id: r.get(0)?,
                device_id: r.get(1)?,
                seq: r.get::<_, i64>(2)? as u64,
                body: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The alert records of a device's readings with sequence numbers in `[from, to)`,
    /// in order.
    pub fn device_alerts(&self, device_id: i64, from: u64, to: u64) -> Result<Vec<AlertRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, device_id, seq, flags FROM alerts
             WHERE device_id = ?1 AND seq >= ?2 AND seq < ?3 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![device_id, from as i64, to as i64], Self::alert_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Stores the alerts of readings and marks them done, in one transaction.
    pub fn complete(&self, done: &[CompletedReading]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare(
                "INSERT OR IGNORE INTO alerts (clinic_id, device_id, seq, flags)
                     VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut mark =
                tx.prepare("UPDATE readings SET state = ?3 WHERE device_id = ?1 AND seq = ?2")?;
            for r in done {
                let seq = r.seq as i64;
                insert.execute(params![r.clinic_id, r.device_id, seq, r.flags])?;
                mark.execute(params![r.device_id, seq, JobState::Done])?;
            }
        }
        Ok(tx.commit()?)
    }

    fn alert_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRow> {
        Ok(AlertRow {
            id: r.get(0)?,
            device_id: r.get(1)?,
            seq: r.get::<_, i64>(2)? as u64,
            flags: r.get(3)?,
        })
    }

    /// A clinic's alert records after `since` (an alert id), at most `limit`.
    pub fn alerts_since(&self, clinic_id: i64, since: i64, limit: usize) -> Result<Vec<AlertRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, device_id, seq, flags FROM alerts WHERE clinic_id = ?1 AND id > ?2
                 ORDER BY id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![clinic_id, since, limit as i64], |r| {
            Ok(AlertRow {
                id: r.get(0)?,
                device_id: r.get(1)?,
                seq: r.get::<_, i64>(2)? as u64,
                flags: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Counts (for tests and the load command): readings stored, readings pending, alerts.
    pub fn counts(&self) -> Result<(u64, u64, u64)> {
        let conn = self.conn();
        let one = |sql: &str| -> Result<u64> {
            conn.query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(StoreError::from)
        };
        Ok((
            one("SELECT COUNT(*) FROM readings")?,
            one("SELECT COUNT(*) FROM readings WHERE state = 0")?,
            one("SELECT COUNT(*) FROM alerts")?,
        ))
    }
}

/// A lab record to store.
pub struct NewRecord<'a> {
    pub patient: &'a str,
    pub test: &'a str,
    pub date: &'a str,
    pub change_threshold: u16,
    pub mean_window: usize,
    pub value: &'a [u8],
}

/// A record waiting for its analysis, with what the analysis needs of its series.
pub struct PendingRecord {
    pub clinic_id: i64,
    pub id: i64,
    pub change_threshold: u16,
    pub mean_window: usize,
    pub value: Vec<u8>,
    /// The previous record's running maximum, when there is a previous record.
    pub previous_max: Option<Vec<u8>>,
    /// The values of the last `mean_window` earlier records, oldest first.
    pub window: Vec<Vec<u8>>,
}

/// A record's computed analysis, to store with its running maximum and the record marked done.
pub struct CompletedRecord {
    pub clinic_id: i64,
    pub record_id: i64,
    /// k of the analysis (0 for a first record).
    pub window: usize,
    /// The running maximum including this record: an envelope of its blocks.
    pub running_max: Vec<u8>,
    /// An envelope of [`crate::records::RecordAnalysis::to_ciphertexts`]; `None` for a first
    /// record.
    pub analysis: Option<Vec<u8>>,
}

/// A stored analysis, with its record's clear metadata.
pub struct AnalysisRow {
    pub id: i64,
    pub record_id: i64,
    pub patient: String,
    pub test: String,
    pub date: String,
    pub mean_window: usize,
    /// `None` for a first record.
    pub body: Option<Vec<u8>>,
}

/// A cohort job.
pub struct CohortRow {
    pub id: i64,
    pub clinic_id: i64,
    pub test: String,
    pub threshold: u16,
    pub as_of: i64,
    pub state: JobState,
    pub patients: Option<usize>,
    pub body: Option<Vec<u8>>,
    /// The last attempt's error.
    pub error: Option<String>,
}

/// What inserting a record did.
#[derive(Debug, PartialEq, Eq)]
pub enum RecordInsert {
    /// Stored under this id.
    Stored(i64),
    /// The same (patient, test, date) was stored already, under this id: a replay.
    Replay(i64),
    /// The series has a later record (dates are the series' order).
    OutOfOrder { latest: String },
}

impl Store {
    /// Stores a record as a pending analysis job, in one transaction with the order check.
    pub fn insert_record(&self, clinic_id: i64, r: &NewRecord<'_>) -> Result<RecordInsert> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let existing: Option<i64> = tx
            .query_row(
                "SELECT id FROM records WHERE clinic_id = ?1 AND patient = ?2 AND test = ?3 AND date = ?4",
                params![clinic_id, r.patient, r.test, r.date],
                |row| row.get(0),
            )
            .optional()
            ?;
        if let Some(id) = existing {
            return Ok(RecordInsert::Replay(id));
        }
        let latest: Option<String> = tx.query_row(
            "SELECT MAX(date) FROM records WHERE clinic_id = ?1 AND patient = ?2 AND test = ?3",
            params![clinic_id, r.patient, r.test],
            |row| row.get(0),
        )?;
        if let Some(latest) = latest {
            if latest.as_str() > r.date {
                return Ok(RecordInsert::OutOfOrder { latest });
            }
        }
        tx.execute(
            "INSERT INTO records (clinic_id, patient, test, date, change_threshold, mean_window, value)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                clinic_id,
                r.patient,
                r.test,
                r.date,
                r.change_threshold,
                r.mean_window as i64,
                r.value
            ],
        )
        ?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(RecordInsert::Stored(id))
    }

    /// The next records to analyze: per series (clinic, patient, test), its pending record of
    /// lowest id, whose earlier records are all analyzed; at most `limit`.
    pub fn next_pending_records(&self, limit: usize) -> Result<Vec<PendingRecord>> {
        let conn = self.conn();
        // Each series' next record; its earlier records are read below.
        struct Head {
            clinic_id: i64,
            id: i64,
            patient: String,
            test: String,
            change_threshold: u16,
            mean_window: usize,
            value: Vec<u8>,
        }
        let heads: Vec<Head> = {
            let mut stmt = conn
                .prepare(
                    "SELECT r.clinic_id, r.id, r.patient, r.test, r.change_threshold, r.mean_window, r.value
                     FROM records r
                     JOIN (SELECT MIN(id) AS id FROM records WHERE state = 0
                           GROUP BY clinic_id, patient, test) m ON r.id = m.id
                     ORDER BY r.id LIMIT ?1",
                )
                ?;
            let rows = stmt.query_map(params![limit as i64], |r| {
                Ok(Head {
                    clinic_id: r.get(0)?,
                    id: r.get(1)?,
                    patient: r.get(2)?,
                    test: r.get(3)?,
                    change_threshold: r.get(4)?,
                    mean_window: r.get::<_, i64>(5)? as usize,
                    value: r.get(6)?,
                })
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut out = Vec::with_capacity(heads.len());
        for Head {
            clinic_id,
            id,
            patient,
            test,
            change_threshold,
            mean_window,
            value,
        } in heads
        {
            let mut stmt = conn.prepare(
                "SELECT value, running_max FROM records
                     WHERE clinic_id = ?1 AND patient = ?2 AND test = ?3 AND id < ?4
                       AND state = 1
                     ORDER BY id DESC LIMIT ?5",
            )?;
            let earlier: Vec<(Vec<u8>, Option<Vec<u8>>)> = stmt
                .query_map(
                    params![clinic_id, patient, test, id, mean_window as i64],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .collect::<rusqlite::Result<_>>()?;
            let previous_max = match earlier.first() {
                Some((_, Some(m))) => Some(m.clone()),
                Some((_, None)) => {
                    return Err(StoreError::Inconsistent(format!(
                        "record {id}: the previous record of its series has no running maximum"
                    )))
                }
                None => None,
            };
            let window = earlier.into_iter().rev().map(|(v, _)| v).collect();
            out.push(PendingRecord {
                clinic_id,
                id,
                change_threshold,
                mean_window,
                value,
                previous_max,
                window,
            });
        }
        Ok(out)
    }

    /// Stores analyses (body `None` for a first record) and running maxima, marking the
    /// records done, in one transaction.
    pub fn complete_records(&self, done: &[CompletedRecord]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare(
                "INSERT OR IGNORE INTO analyses (clinic_id, record_id, mean_window, body)
                     VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut mark =
                tx.prepare("UPDATE records SET state = ?3, running_max = ?2 WHERE id = ?1")?;
            for r in done {
                insert.execute(params![
                    r.clinic_id,
                    r.record_id,
                    r.window as i64,
                    r.analysis
                ])?;
                mark.execute(params![r.record_id, r.running_max, JobState::Done])?;
            }
        }
        Ok(tx.commit()?)
    }

    /// A clinic's analyses after `since`, at most `limit`, with their records' metadata.
    pub fn analyses_since(
        &self,
        clinic_id: i64,
        since: i64,
        limit: usize,
    ) -> Result<Vec<AnalysisRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT a.id, a.record_id, r.patient, r.test, r.date, a.mean_window, a.body
                 FROM analyses a JOIN records r ON r.id = a.record_id
                 WHERE a.clinic_id = ?1 AND a.id > ?2 ORDER BY a.id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![clinic_id, since, limit as i64], |r| {
            Ok(AnalysisRow {
                id: r.get(0)?,
                record_id: r.get(1)?,
                patient: r.get(2)?,
                test: r.get(3)?,
                date: r.get(4)?,
                mean_window: r.get::<_, i64>(5)? as usize,
                body: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Creates a cohort job over the clinic's records of `test` stored so far; `None` when no
    /// patient has one.
    pub fn insert_cohort(&self, clinic_id: i64, test: &str, threshold: u16) -> Result<Option<i64>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let as_of: Option<i64> = tx.query_row(
            "SELECT MAX(id) FROM records WHERE clinic_id = ?1 AND test = ?2",
            params![clinic_id, test],
            |r| r.get(0),
        )?;
        let Some(as_of) = as_of else {
            return Ok(None);
        };
        tx.execute(
            "INSERT INTO cohorts (clinic_id, test, threshold, as_of) VALUES (?1, ?2, ?3, ?4)",
            params![clinic_id, test, threshold, as_of],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(Some(id))
    }

    fn cohort_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CohortRow> {
        Ok(CohortRow {
            id: r.get(0)?,
            clinic_id: r.get(1)?,
            test: r.get(2)?,
            threshold: r.get(3)?,
            as_of: r.get(4)?,
            state: r.get(5)?,
            patients: r.get::<_, Option<i64>>(6)?.map(|n| n as usize),
            body: r.get(7)?,
            error: r.get(8)?,
        })
    }

    /// A clinic's cohort job.
    pub fn cohort(&self, clinic_id: i64, id: i64) -> Result<Option<CohortRow>> {
        self.conn()
            .query_row(
                "SELECT id, clinic_id, test, threshold, as_of, state, patients, body, error FROM cohorts
                 WHERE clinic_id = ?1 AND id = ?2",
                params![clinic_id, id],
                Self::cohort_row,
            )
            .optional()
            .map_err(StoreError::from)
    }

    /// The oldest pending cohort job.
    pub fn next_pending_cohort(&self) -> Result<Option<CohortRow>> {
        self.conn()
            .query_row(
                "SELECT id, clinic_id, test, threshold, as_of, state, patients, body, error FROM cohorts
                 WHERE state = 0 ORDER BY id LIMIT 1",
                [],
                Self::cohort_row,
            )
            .optional()
            .map_err(StoreError::from)
    }

    /// Each patient's latest value of a cohort's test, among records up to its `as_of` (a
    /// record whose analysis failed for good is left out: its bytes may be what failed).
    pub fn cohort_values(&self, job: &CohortRow) -> Result<Vec<Vec<u8>>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT r.value FROM records r
                 JOIN (SELECT MAX(id) AS id FROM records
                       WHERE clinic_id = ?1 AND test = ?2 AND id <= ?3 AND state != 2
                       GROUP BY patient) m
                 ON r.id = m.id ORDER BY r.patient",
        )?;
        let rows = stmt.query_map(params![job.clinic_id, job.test, job.as_of], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Stores a cohort job's result and marks it done.
    pub fn complete_cohort(&self, id: i64, patients: usize, body: &[u8]) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE cohorts SET state = 1, patients = ?2, body = ?3 WHERE id = ?1 AND state = 0",
                params![id, patients as i64, body],
            )
            .map(|_| ())
            .map_err(StoreError::from)
    }

    /// Counts a failed attempt of a pending job of `table` (the row `filter` selects): its
    /// `attempts` and last `error`; at `max_attempts` the job fails for good (state 2).
    fn count_failure(
        &self,
        table: &str,
        filter: &str,
        key: &[(&str, &dyn rusqlite::ToSql)],
        error: &str,
        max_attempts: u32,
    ) -> Result<()> {
        let mut named: Vec<(&str, &dyn rusqlite::ToSql)> = key.to_vec();
        named.push((":error", &error));
        named.push((":max", &max_attempts));
        named.push((":failed", &JobState::Failed));
        named.push((":pending", &JobState::Pending));
        self.conn()
            .execute(
                &format!(
                    "UPDATE {table} SET attempts = attempts + 1, error = :error,
                     state = CASE WHEN attempts + 1 >= :max THEN :failed ELSE state END
                     WHERE {filter} AND state = :pending"
                ),
                named.as_slice(),
            )
            .map(|_| ())
            .map_err(StoreError::from)
    }

    /// A failed attempt of a reading; failed for good, it has no alerts, and its stream goes
    /// on without it ("sustained" restarts after the gap).
    pub fn fail_reading(
        &self,
        device_id: i64,
        seq: u64,
        error: &str,
        max_attempts: u32,
    ) -> Result<()> {
        let seq = seq as i64;
        self.count_failure(
            "readings",
            "device_id = :device AND seq = :seq",
            &[(":device", &device_id), (":seq", &seq)],
            error,
            max_attempts,
        )
    }

    /// A failed attempt of a record's analysis; failed for good, its series' later records
    /// are compared with the records before it.
    pub fn fail_record(&self, id: i64, error: &str, max_attempts: u32) -> Result<()> {
        self.count_failure("records", "id = :id", &[(":id", &id)], error, max_attempts)
    }

    /// A failed attempt of a cohort job; failed for good, its fetch answers with the error.
    pub fn fail_cohort(&self, id: i64, error: &str, max_attempts: u32) -> Result<()> {
        self.count_failure("cohorts", "id = :id", &[(":id", &id)], error, max_attempts)
    }

    /// Counts of the records side (for tests): records, records pending, analyses, cohort
    /// jobs pending.
    pub fn record_counts(&self) -> Result<(u64, u64, u64, u64)> {
        let conn = self.conn();
        let one = |sql: &str| -> Result<u64> {
            conn.query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(StoreError::from)
        };
        Ok((
            one("SELECT COUNT(*) FROM records")?,
            one("SELECT COUNT(*) FROM records WHERE state = 0")?,
            one("SELECT COUNT(*) FROM analyses")?,
            one("SELECT COUNT(*) FROM cohorts WHERE state = 0")?,
        ))
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
