//! Lab records (the analysis jobs), their analyses, and cohort jobs.

use super::sql::{params, Row};
use super::{JobState, Result, Store, StoreError};

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
        self.write(|c| {
            let current = c
                .query_opt(
                    "SELECT id, version, value, change_threshold, mean_window FROM records
                     WHERE clinic_id = ?1 AND patient = ?2 AND test = ?3 AND date = ?4
                       AND superseded = 0",
                    params![clinic_id, r.patient, r.test, r.date],
                )?
                .map(|row| {
                    Ok::<_, StoreError>((
                        row.int(0)?,
                        row.int(1)?,
                        row.blob(2)?,
                        row.int_as::<u16>(3)?,
                        row.int(4)?,
                    ))
                })
                .transpose()?;
            if let Some((id, _, value, change, window)) = &current {
                if *value == r.value
                    && *change == r.change_threshold
                    && *window == r.mean_window as i64
                {
                    return Ok(RecordInsert::Replay(*id));
                }
            }
            let latest = c
                .query_one(
                    "SELECT MAX(date) FROM records
                     WHERE clinic_id = ?1 AND patient = ?2 AND test = ?3",
                    params![clinic_id, r.patient, r.test],
                )?
                .opt_text(0)?;
            if let Some(latest) = latest {
                if latest.as_str() > r.date {
                    return Ok(RecordInsert::OutOfOrder { latest });
                }
            }
            let version = match &current {
                Some((id, version, ..)) => {
                    c.execute(
                        "UPDATE records SET superseded = 1 WHERE id = ?1",
                        params![*id],
                    )?;
                    version + 1
                }
                None => 1,
            };
            let id = c.query_int(
                "INSERT INTO records (clinic_id, patient, test, date, change_threshold,
                                      mean_window, value, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
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
            Store::charge(c, clinic_id, r.value.len())?;
            c.notify(super::JOBS_CHANNEL)?;
            Ok(RecordInsert::Stored { id, version })
        })
    }

    /// Claims the next records to analyze for worker `owner`, under a lease until `lease`
    /// from now: per series (clinic, patient, test), its pending record of lowest id, whose
    /// earlier records are all analyzed, at most `limit`, among records no other worker holds
    /// a live lease on (on PostgreSQL, skipping rows another claim has locked).
    pub fn claim_records(
        &self,
        owner: &str,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<PendingRecord>> {
        let now = super::now_ms();
        let until = now + lease.as_millis() as i64;
        self.write_read_committed(|c| {
            let lock = c.claim_lock();
            let claimed: Vec<i64> = c
                .query(
                    &format!(
                        "UPDATE records SET lease_owner = ?2, lease_until = ?3
                         WHERE state = 0 AND id IN (
                             SELECT r.id FROM records r
                             JOIN (SELECT MIN(id) AS id FROM records
                                   WHERE state = 0 AND superseded = 0
                                   GROUP BY clinic_id, patient, test) m ON r.id = m.id
                             WHERE r.state = 0 AND r.superseded = 0
                               AND (r.lease_until IS NULL OR r.lease_until < ?4
                                    OR r.lease_owner = ?2)
                             ORDER BY r.id LIMIT ?1 {lock})
                         RETURNING id"
                    ),
                    params![limit as i64, owner, until, now],
                )?
                .iter()
                .map(|r| r.int(0))
                .collect::<Result<_>>()?;
            let mut heads = Vec::with_capacity(claimed.len());
            for id in claimed {
                heads.push(c.query_one(
                    "SELECT clinic_id, id, patient, test, change_threshold, mean_window, value
                     FROM records WHERE id = ?1",
                    params![id],
                )?);
            }
            heads.sort_by_key(|h| h.int(1).unwrap_or_default());
            let mut out = Vec::with_capacity(heads.len());
            for head in heads {
                let (clinic_id, id) = (head.int(0)?, head.int(1)?);
                let (patient, test) = (head.text(2)?, head.text(3)?);
                let mean_window: usize = head.int_as(5)?;
                let earlier: Vec<(Vec<u8>, Option<Vec<u8>>)> = c
                    .query(
                        "SELECT value, running_max FROM records
                         WHERE clinic_id = ?1 AND patient = ?2 AND test = ?3 AND id < ?4
                           AND state = 1 AND superseded = 0
                         ORDER BY id DESC LIMIT ?5",
                        params![clinic_id, &patient, &test, id, mean_window as i64],
                    )?
                    .iter()
                    .map(|r| Ok((r.blob(0)?, r.opt_blob(1)?)))
                    .collect::<Result<_>>()?;
                let previous_max = match earlier.first() {
                    Some((_, Some(m))) => Some(m.clone()),
                    Some((_, None)) => {
                        return Err(StoreError::Inconsistent(format!(
                            "record {id}: the previous record of its series has no running \
                             maximum"
                        )))
                    }
                    None => None,
                };
                let window = earlier.into_iter().rev().map(|(v, _)| v).collect();
                out.push(PendingRecord {
                    clinic_id,
                    id,
                    change_threshold: head.int_as(4)?,
                    mean_window,
                    value: head.blob(6)?,
                    previous_max,
                    window,
                });
            }
            Ok(out)
        })
    }

    /// Stores analyses (body `None` for a first record) and running maxima of records that
    /// worker `owner` claimed, marking the records done, in one transaction that checks it
    /// still holds every one's lease ([`StoreError::LeaseLost`] otherwise: nothing stored).
    pub fn complete_records(&self, owner: &str, done: &[CompletedRecord]) -> Result<()> {
        self.write_read_committed(|c| {
            let mut clinics: Vec<i64> = done.iter().map(|r| r.clinic_id).collect();
            clinics.sort_unstable();
            clinics.dedup();
            for clinic in clinics {
                c.lock_stream(2, clinic)?;
            }
            for r in done {
                let held = c.execute(
                    "UPDATE records SET state = ?3, running_max = ?2, lease_owner = NULL,
                                        lease_until = NULL
                     WHERE id = ?1 AND state = ?4 AND lease_owner = ?5",
                    params![
                        r.record_id,
                        &r.running_max,
                        JobState::Done,
                        JobState::Pending,
                        owner
                    ],
                )?;
                if held != 1 {
                    return Err(StoreError::LeaseLost(format!("record {}", r.record_id)));
                }
                c.execute(
                    "INSERT INTO analyses (clinic_id, record_id, mean_window, body)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                    params![r.clinic_id, r.record_id, r.window as i64, &r.analysis],
                )?;
            }
            c.notify(super::RESULTS_CHANNEL)?;
            Ok(())
        })
    }

    /// A clinic's analyses after `since`, at most `limit`, with their records' metadata.
    pub fn analyses_since(
        &self,
        clinic_id: i64,
        since: i64,
        limit: usize,
    ) -> Result<Vec<AnalysisRow>> {
        self.read(|c| {
            c.query(
                "SELECT a.id, a.record_id, r.patient, r.test, r.date, a.mean_window, a.body,
                        r.version
                 FROM analyses a JOIN records r ON r.id = a.record_id
                 WHERE a.clinic_id = ?1 AND a.id > ?2 ORDER BY a.id LIMIT ?3",
                params![clinic_id, since, limit as i64],
            )?
            .iter()
            .map(|r| {
                Ok(AnalysisRow {
                    id: r.int(0)?,
                    record_id: r.int(1)?,
                    patient: r.text(2)?,
                    test: r.text(3)?,
                    date: r.text(4)?,
                    mean_window: r.int_as(5)?,
                    body: r.opt_blob(6)?,
                    version: r.int(7)?,
                })
            })
            .collect()
        })
    }

    /// Creates a cohort job over the clinic's records of `test` stored so far; `None` when no
    /// patient has one.
    pub fn insert_cohort(&self, clinic_id: i64, test: &str, threshold: u16) -> Result<Option<i64>> {
        self.write(|c| {
            let as_of = c
                .query_one(
                    "SELECT MAX(id) FROM records WHERE clinic_id = ?1 AND test = ?2",
                    params![clinic_id, test],
                )?
                .opt_int(0)?;
            let Some(as_of) = as_of else {
                return Ok(None);
            };
            let id = c.query_int(
                "INSERT INTO cohorts (clinic_id, test, threshold, as_of) VALUES (?1, ?2, ?3, ?4)
                 RETURNING id",
                params![clinic_id, test, threshold, as_of],
            )?;
            c.notify(super::JOBS_CHANNEL)?;
            Ok(Some(id))
        })
    }

    fn cohort_row(r: &Row) -> Result<CohortRow> {
        Ok(CohortRow {
            id: r.int(0)?,
            clinic_id: r.int(1)?,
            test: r.text(2)?,
            threshold: r.int_as(3)?,
            as_of: r.int(4)?,
            state: JobState::from_code(r.int(5)?)?,
            patients: r.opt_int(6)?.map(|n| n as usize),
            body: r.opt_blob(7)?,
            error: r.opt_text(8)?,
        })
    }

    /// A clinic's cohort job.
    pub fn cohort(&self, clinic_id: i64, id: i64) -> Result<Option<CohortRow>> {
        self.read(|c| {
            c.query_opt(
                "SELECT id, clinic_id, test, threshold, as_of, state, patients, body, error
                 FROM cohorts WHERE clinic_id = ?1 AND id = ?2",
                params![clinic_id, id],
            )?
            .as_ref()
            .map(Self::cohort_row)
            .transpose()
        })
    }

    /// Claims the oldest pending cohort job that no other worker holds a live lease on, for
    /// worker `owner`, under a lease until `lease` from now.
    pub fn claim_cohort(
        &self,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<Option<CohortRow>> {
        let now = super::now_ms();
        let until = now + lease.as_millis() as i64;
        self.write_read_committed(|c| {
            let lock = c.claim_lock();
            c.query_opt(
                &format!(
                    "UPDATE cohorts SET lease_owner = ?1, lease_until = ?2
                     WHERE state = 0 AND id IN (
                         SELECT r.id FROM cohorts r
                         WHERE r.state = 0
                           AND (r.lease_until IS NULL OR r.lease_until < ?3
                                OR r.lease_owner = ?1)
                         ORDER BY r.id LIMIT 1 {lock})
                     RETURNING id, clinic_id, test, threshold, as_of, state, patients, body,
                               error"
                ),
                params![owner, until, now],
            )?
            .as_ref()
            .map(Self::cohort_row)
            .transpose()
        })
    }

    /// Each patient's latest value of a cohort's test, among records up to its `as_of` (a
    /// record whose analysis failed for good is left out: its bytes may be what failed).
    pub fn cohort_values(&self, job: &CohortRow) -> Result<Vec<Vec<u8>>> {
        self.read(|c| {
            c.query(
                "SELECT r.value FROM records r
                     JOIN (SELECT MAX(id) AS id FROM records
                           WHERE clinic_id = ?1 AND test = ?2 AND id <= ?3 AND state != 2
                             AND superseded = 0
                           GROUP BY patient) m
                     ON r.id = m.id ORDER BY r.patient",
                params![job.clinic_id, &job.test, job.as_of],
            )?
            .iter()
            .map(|r| r.blob(0))
            .collect()
        })
    }

    /// Stores the result of a cohort job that worker `owner` claimed and marks it done, if it
    /// still holds the job's lease ([`StoreError::LeaseLost`] otherwise: nothing stored).
    pub fn complete_cohort(
        &self,
        owner: &str,
        id: i64,
        patients: usize,
        body: &[u8],
    ) -> Result<()> {
        self.write_read_committed(|c| {
            let held = c.execute(
                "UPDATE cohorts SET state = ?4, patients = ?2, body = ?3, lease_owner = NULL,
                                    lease_until = NULL
                 WHERE id = ?1 AND state = ?5 AND lease_owner = ?6",
                params![
                    id,
                    patients as i64,
                    body,
                    JobState::Done,
                    JobState::Pending,
                    owner
                ],
            )?;
            if held != 1 {
                return Err(StoreError::LeaseLost(format!("cohort {id}")));
            }
            c.notify(super::RESULTS_CHANNEL)?;
            super::pause_point("cohort-commit");
            Ok(())
        })
    }

    /// Counts a failed attempt of a pending job of `table` (a record or a cohort, by id) that
    /// worker `owner` holds the lease of: its `attempts` and last `error`; at `max_attempts`
    /// the job fails for good (state 2). Its lease is released, so that the next claim tries
    /// it again. A worker that lost the lease counts nothing ([`StoreError::LeaseLost`]).
    fn count_failure(
        &self,
        table: &str,
        owner: &str,
        id: i64,
        error: &str,
        max_attempts: u32,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE {table} SET attempts = attempts + 1, error = ?2,
             state = CASE WHEN attempts + 1 >= ?3 THEN ?4 ELSE state END,
             lease_owner = NULL, lease_until = NULL
             WHERE id = ?1 AND state = ?5 AND lease_owner = ?6
             RETURNING state"
        );
        self.write_read_committed(|c| {
            let row = c.query_opt(
                &sql,
                params![
                    id,
                    error,
                    max_attempts,
                    JobState::Failed,
                    JobState::Pending,
                    owner
                ],
            )?;
            let Some(row) = row else {
                return Err(StoreError::LeaseLost(format!("{table} {id}")));
            };
            if JobState::from_code(row.int(0)?)? == JobState::Failed {
                // Its fetch (a long poll, on any API server) answers with the failure.
                c.notify(super::RESULTS_CHANNEL)?;
            }
            Ok(())
        })
    }

    /// A failed attempt of a reading that worker `owner` holds the lease of (a worker that
    /// lost it counts nothing: [`StoreError::LeaseLost`]); its lease is released, so that the
    /// next claim tries it again. Failed for good, it leaves an alert row with the reason
    /// (empty flags: the clinic sees the failure in its stream), and its stream goes on
    /// without it ("sustained" restarts after the gap).
    pub fn fail_reading(
        &self,
        owner: &str,
        device_id: i64,
        seq: u64,
        error: &str,
        max_attempts: u32,
    ) -> Result<()> {
        let seq = seq as i64;
        self.write_read_committed(|c| {
            let row = c.query_opt(
                "UPDATE readings SET attempts = attempts + 1, error = ?3,
                 state = CASE WHEN attempts + 1 >= ?4 THEN ?5 ELSE state END,
                 lease_owner = NULL, lease_until = NULL
                 WHERE device_id = ?1 AND seq = ?2 AND state = ?6 AND lease_owner = ?7
                 RETURNING state, clinic_id, error",
                params![
                    device_id,
                    seq,
                    error,
                    max_attempts,
                    JobState::Failed,
                    JobState::Pending,
                    owner
                ],
            )?;
            let Some(row) = row else {
                return Err(StoreError::LeaseLost(format!(
                    "device {device_id}, reading {seq}"
                )));
            };
            // In the same transaction: a reading failed for good always has its stream entry.
            if JobState::from_code(row.int(0)?)? == JobState::Failed {
                let (clinic_id, error) = (row.int(1)?, row.opt_text(2)?);
                c.lock_stream(1, clinic_id)?;
                c.execute(
                    "INSERT INTO alerts (clinic_id, device_id, seq, flags, error)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                    params![clinic_id, device_id, seq, &[0u8; 0][..], &error],
                )?;
                c.notify(super::RESULTS_CHANNEL)?;
            }
            Ok(())
        })
    }

    /// A failed attempt of a record's analysis; failed for good, its series' later records
    /// are compared with the records before it.
    pub fn fail_record(&self, owner: &str, id: i64, error: &str, max_attempts: u32) -> Result<()> {
        self.count_failure("records", owner, id, error, max_attempts)
    }

    /// A failed attempt of a cohort job; failed for good, its fetch answers with the error.
    pub fn fail_cohort(&self, owner: &str, id: i64, error: &str, max_attempts: u32) -> Result<()> {
        self.count_failure("cohorts", owner, id, error, max_attempts)
    }

    /// Counts of the records side (for tests): records, records pending, analyses, cohort
    /// jobs pending.
    pub fn record_counts(&self) -> Result<(u64, u64, u64, u64)> {
        self.read(|c| {
            let mut one = |sql: &str| c.query_int(sql, params![]).map(|n| n as u64);
            Ok((
                one("SELECT COUNT(*) FROM records")?,
                one("SELECT COUNT(*) FROM records WHERE state = 0 AND superseded = 0")?,
                one("SELECT COUNT(*) FROM analyses")?,
                one("SELECT COUNT(*) FROM cohorts WHERE state = 0")?,
            ))
        })
    }
}
