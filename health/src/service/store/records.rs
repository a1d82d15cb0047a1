//! Lab records (the analysis jobs), their analyses, and cohort jobs.

use super::{JobState, Result, Store, StoreError};
use rusqlite::{params, OptionalExtension};

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
    /// The record's version (1 for its date's first).
    pub version: i64,
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
    /// Stored under this id, as this version of its (patient, test, date) (1 for a new date).
    Stored { id: i64, version: i64 },
    /// The same (patient, test, date) with the same value was stored already, under this id:
    /// a replay.
    Replay(i64),
    /// The series has a later record (dates are the series' order; only the latest date can
    /// take a new version: a correction of an earlier one would change every later analysis).
    OutOfOrder { latest: String },
}

impl Store {
    /// Stores a record as a pending analysis job, in one transaction with the order check. A
    /// (patient, test, date) stored already with the same value, change threshold and window
    /// is a replay; with another, it is a new version that supersedes the current one (which
    /// is then not analyzed if it was still pending, and leaves cohorts and later windows).
    pub fn insert_record(&self, clinic_id: i64, r: &NewRecord<'_>) -> Result<RecordInsert> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current: Option<(i64, i64, Vec<u8>, u16, i64)> = tx
            .query_row(
                "SELECT id, version, value, change_threshold, mean_window FROM records
                 WHERE clinic_id = ?1 AND patient = ?2 AND test = ?3 AND date = ?4
                   AND superseded = 0",
                params![clinic_id, r.patient, r.test, r.date],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                },
            )
            .optional()?;
        if let Some((id, _, value, change, window)) = &current {
            if *value == r.value && *change == r.change_threshold && *window == r.mean_window as i64
            {
                return Ok(RecordInsert::Replay(*id));
            }
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
        let version = match &current {
            Some((id, version, ..)) => {
                tx.execute(
                    "UPDATE records SET superseded = 1 WHERE id = ?1",
                    params![id],
                )?;
                version + 1
            }
            None => 1,
        };
        tx.execute(
            "INSERT INTO records (clinic_id, patient, test, date, change_threshold, mean_window,
                                  value, version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                clinic_id,
                r.patient,
                r.test,
                r.date,
                r.change_threshold,
                r.mean_window as i64,
                r.value,
                version
            ],
        )?;
        let id = tx.last_insert_rowid();
        Store::charge(&tx, clinic_id, r.value.len())?;
        tx.commit()?;
        Ok(RecordInsert::Stored { id, version })
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
                     JOIN (SELECT MIN(id) AS id FROM records WHERE state = 0 AND superseded = 0
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
                       AND state = 1 AND superseded = 0
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
            "SELECT a.id, a.record_id, r.patient, r.test, r.date, a.mean_window, a.body, r.version
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
                version: r.get(7)?,
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
                         AND superseded = 0
                       GROUP BY patient) m
                 ON r.id = m.id ORDER BY r.patient",
        )?;
        let rows = stmt.query_map(params![job.clinic_id, job.test, job.as_of], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Stores a cohort job's result and marks it done.
    pub fn complete_cohort(&self, id: i64, patients: usize, body: &[u8]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE cohorts SET state = ?4, patients = ?2, body = ?3 WHERE id = ?1 AND state = ?5",
            params![id, patients as i64, body, JobState::Done, JobState::Pending],
        )?;
        super::pause_point("cohort-commit");
        Ok(tx.commit()?)
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

    /// A failed attempt of a reading; failed for good, it leaves an alert row with the reason
    /// (empty flags: the clinic sees the failure in its stream), and its stream goes on
    /// without it ("sustained" restarts after the gap).
    pub fn fail_reading(
        &self,
        device_id: i64,
        seq: u64,
        error: &str,
        max_attempts: u32,
    ) -> Result<()> {
        let seq = seq as i64;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE readings SET attempts = attempts + 1, error = ?3,
             state = CASE WHEN attempts + 1 >= ?4 THEN ?5 ELSE state END
             WHERE device_id = ?1 AND seq = ?2 AND state = ?6",
            params![
                device_id,
                seq,
                error,
                max_attempts,
                JobState::Failed,
                JobState::Pending
            ],
        )?;
        // In the same transaction: a reading failed for good always has its stream entry.
        tx.execute(
            "INSERT OR IGNORE INTO alerts (clinic_id, device_id, seq, flags, error)
             SELECT clinic_id, device_id, seq, x'', error FROM readings
             WHERE device_id = ?1 AND seq = ?2 AND state = ?3",
            params![device_id, seq, JobState::Failed],
        )?;
        Ok(tx.commit()?)
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
            one("SELECT COUNT(*) FROM records WHERE state = 0 AND superseded = 0")?,
            one("SELECT COUNT(*) FROM analyses")?,
            one("SELECT COUNT(*) FROM cohorts WHERE state = 0")?,
        ))
    }
}
