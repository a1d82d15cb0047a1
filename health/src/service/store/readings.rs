//! Readings (the alert jobs) and their alerts.

use super::sql::{params, Row};
use super::{now_ms, JobState, Result, Store, StoreError};

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
    /// The flags' envelope (empty for a failed reading).
    pub flags: Vec<u8>,
    /// Why the reading failed for good (`None` for computed alerts).
    pub error: Option<String>,
    /// When the server received the reading (ms since the Unix epoch, its clock; 0 if the
    /// store does not know).
    pub received_ms: i64,
}

/// A reading's computed alerts, to store with the reading marked done.
pub struct CompletedReading {
    pub clinic_id: i64,
    pub device_id: i64,
    pub seq: u64,
    /// An envelope of [`crate::vitals::ReadingAlerts::to_ciphertexts`].
    pub flags: Vec<u8>,
}

impl Store {
    /// Commits a device's readings in one transaction, within the clinic's storage quota. A
    /// sequence number already stored with the same body is a replay (left as it is); with
    /// another body the whole batch is refused ([`StoreError::Conflict`], nothing stored).
    /// Returns the sequence numbers that were replays.
    pub fn insert_readings(
        &self,
        clinic_id: i64,
        device_id: i64,
        readings: &[(u64, Vec<u8>)],
    ) -> Result<Vec<u64>> {
        // Read committed on PostgreSQL: each insert is atomic (a reading another request
        // stored meanwhile is found by the insert, then compared), and so is the charge.
        self.write_read_committed(|c| {
            let mut replays = Vec::new();
            let mut bytes = 0;
            for (seq, body) in readings {
                let inserted = c.query_opt(
                    "INSERT INTO readings (device_id, seq, clinic_id, body, received)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING RETURNING seq",
                    params![device_id, *seq as i64, clinic_id, body, now_ms()],
                )?;
                if inserted.is_some() {
                    bytes += body.len();
                    continue;
                }
                let stored = c
                    .query_one(
                        "SELECT body FROM readings WHERE device_id = ?1 AND seq = ?2",
                        params![device_id, *seq as i64],
                    )?
                    .blob(0)?;
                if stored != *body {
                    return Err(StoreError::Conflict(format!(
                        "sequence number {seq} is stored with another reading"
                    )));
                }
                replays.push(*seq);
            }
            Store::charge(c, clinic_id, bytes)?;
            if bytes > 0 {
                c.notify(super::JOBS_CHANNEL)?;
            }
            Ok(replays)
        })
    }

    /// Claims the next readings to evaluate for worker `owner`, under a lease until
    /// `lease` from now: per device, its pending reading of lowest sequence number (one per
    /// device, so that "sustained" sees the earlier ones done), at most `limit`, longest
    /// waiting first, among readings no other worker holds a live lease on (this worker's own
    /// are claimed again). The conditions on the claimed row itself (pending, no live lease)
    /// are what PostgreSQL checks again on a row another worker changed meanwhile: a reading
    /// committed since this claim's snapshot is not claimed. A reading whose predecessor has
    /// not arrived waits up to `grace`
    /// for it (a reading that overtook an earlier one on the network), then goes on without
    /// it (a lost reading: "sustained" restarts after the gap). On PostgreSQL the claim skips
    /// rows another worker's claim has locked (`FOR UPDATE SKIP LOCKED`).
    ///
    /// A worker claims at most its share of the devices with pending readings: their count
    /// over the live workers' ([`Self::extend_leases`] lists them), rounded up. Each device's
    /// readings are evaluated one after the other, so a worker that took every device would
    /// leave the others idle until it is done.
    pub fn claim_readings(
        &self,
        owner: &str,
        limit: usize,
        grace: std::time::Duration,
        lease: std::time::Duration,
    ) -> Result<Vec<PendingReading>> {
        self.claim_readings_step(owner, limit, grace, lease, StepShare::ALONE)
    }

    /// [`Self::claim_readings`] for one of a worker's steps in flight ([`StepShare`]): at most
    /// `1 / steps` of the worker's share, and none of the devices its other steps hold. The
    /// worker's other leased readings are claimed again (a failed step's).
    pub fn claim_readings_step(
        &self,
        owner: &str,
        limit: usize,
        grace: std::time::Duration,
        lease: std::time::Duration,
        step: StepShare<'_>,
    ) -> Result<Vec<PendingReading>> {
        let now = now_ms();
        let steps = step.steps.max(1) as i64;
        // Integers of this worker's own state, not input: written into the statement.
        let own = if step.busy_devices.is_empty() {
            "r.lease_owner = ?3".to_string()
        } else {
            let ids: Vec<String> = step.busy_devices.iter().map(i64::to_string).collect();
            format!(
                "(r.lease_owner = ?3 AND r.device_id NOT IN ({}))",
                ids.join(", ")
            )
        };
        let waited_since = now - grace.as_millis() as i64;
        let until = now + lease.as_millis() as i64;
        let live_since = now - lease.as_millis() as i64;
        self.write_read_committed(|c| {
            let lock = c.claim_lock();
            let devices = c.query_int(
                "SELECT COUNT(DISTINCT device_id) FROM readings WHERE state = 0",
                params![],
            )?;
            let workers = c.query_int(
                "SELECT COUNT(*) FROM workers WHERE seen >= ?1 AND owner != ?2",
                params![live_since, owner],
            )? + 1;
            let share = (devices + workers - 1) / workers;
            let share = (share + steps - 1) / steps;
            let limit = (limit as i64).min(share.max(1));
            let sql = format!(
                "UPDATE readings SET lease_owner = ?3, lease_until = ?4
                 WHERE state = 0 AND (device_id, seq) IN (
                     SELECT r.device_id, r.seq FROM readings r
                     JOIN (SELECT device_id, MIN(seq) AS seq FROM readings WHERE state = 0
                           GROUP BY device_id) m
                     ON r.device_id = m.device_id AND r.seq = m.seq
                     WHERE r.state = 0
                       AND (r.lease_until IS NULL OR r.lease_until < ?5 OR {own})
                       AND (r.seq = 0 OR r.received <= ?2
                            OR EXISTS (SELECT 1 FROM readings p
                                       WHERE p.device_id = r.device_id AND p.seq = r.seq - 1))
                     ORDER BY r.received, r.device_id LIMIT ?1 {lock})
                 RETURNING clinic_id, device_id, seq, body"
            );
            c.query(&sql, params![limit, waited_since, owner, until, now])?
                .iter()
                .map(|r| {
                    Ok(PendingReading {
                        clinic_id: r.int(0)?,
                        device_id: r.int(1)?,
                        seq: r.int_as(2)?,
                        body: r.blob(3)?,
                    })
                })
                .collect()
        })
    }

    /// Takes worker `owner` off the list of live workers (it stops).
    pub fn retire_worker(&self, owner: &str) -> Result<()> {
        self.read(|c| {
            c.execute("DELETE FROM workers WHERE owner = ?1", params![owner])
                .map(|_| ())
        })
    }

    /// Pending readings under a lease of an owner whose name starts with `prefix` (a worker
    /// process's: `w<pid>-`), live or expired.
    pub fn leases_held(&self, prefix: &str) -> Result<u64> {
        let pattern = format!("{prefix}%");
        self.read(|c| {
            Ok(c.query_int(
                "SELECT COUNT(*) FROM readings WHERE state = 0 AND lease_owner LIKE ?1",
                params![&pattern],
            )? as u64)
        })
    }

    /// Extends worker `owner`'s leases (readings, records, cohort requests) to `lease` from
    /// now, and lists it as live: its heartbeat, while it computes. Returns how many jobs it
    /// holds.
    pub fn extend_leases(&self, owner: &str, lease: std::time::Duration) -> Result<u64> {
        let now = now_ms();
        let until = now + lease.as_millis() as i64;
        self.read(|c| {
            // Listed as live (its share of the devices counts it).
            c.execute(
                "INSERT INTO workers (owner, seen) VALUES (?1, ?2)
                 ON CONFLICT (owner) DO UPDATE SET seen = excluded.seen",
                params![owner, now],
            )?;
            c.execute(
                "DELETE FROM workers WHERE seen < ?1",
                params![now - 10 * lease.as_millis() as i64],
            )?;
            let mut held = 0;
            for table in super::LEASED_TABLES {
                held += c.execute(
                    &format!(
                        "UPDATE {table} SET lease_until = ?2
                         WHERE lease_owner = ?1 AND state = 0"
                    ),
                    params![owner, until],
                )?;
            }
            Ok(held)
        })
    }

    /// The alert records of a device's readings with sequence numbers in `[from, to)`,
    /// in order.
    pub fn device_alerts(&self, device_id: i64, from: u64, to: u64) -> Result<Vec<AlertRow>> {
        self.read(|c| {
            c.query(
                // The worker's lookup (the sustained window): no receipt times (0).
                "SELECT id, device_id, seq, flags, error, CAST(0 AS BIGINT) FROM alerts
                 WHERE device_id = ?1 AND seq >= ?2 AND seq < ?3 AND error IS NULL
                 ORDER BY seq",
                params![device_id, from as i64, to as i64],
            )?
            .iter()
            .map(Self::alert_row)
            .collect()
        })
    }

    /// Stores the alerts of readings that worker `owner` claimed and marks them done, in one
    /// transaction that checks the worker still holds every one's lease: if another worker
    /// claimed one since (the lease expired), nothing is stored ([`StoreError::LeaseLost`]).
    pub fn complete(&self, owner: &str, done: &[CompletedReading]) -> Result<()> {
        // Statements of up to 64 rows each: a worker's step is one or two round trips, not
        // two a reading.
        const ROWS: usize = 64;
        self.write_read_committed(|c| {
            // The leases first (row locks), then the clinics' streams, held only for the
            // inserts and the commit.
            for chunk in done.chunks(ROWS) {
                let pairs: Vec<String> = (0..chunk.len())
                    .map(|i| {
                        format!(
                            "(CAST(?{} AS BIGINT), CAST(?{} AS BIGINT))",
                            4 + 2 * i,
                            5 + 2 * i
                        )
                    })
                    .collect();
                let sql = format!(
                    "UPDATE readings SET state = ?1, lease_owner = NULL, lease_until = NULL
                     WHERE state = ?2 AND lease_owner = ?3
                       AND (device_id, seq) IN (VALUES {})",
                    pairs.join(", ")
                );
                let mut p = params![JobState::Done, JobState::Pending, owner].to_vec();
                for r in chunk {
                    p.extend_from_slice(params![r.device_id, r.seq as i64]);
                }
                let held = c.execute(&sql, &p)?;
                if held != chunk.len() as u64 {
                    return Err(StoreError::LeaseLost(format!(
                        "{} of {} readings (devices {:?})",
                        chunk.len() as u64 - held,
                        chunk.len(),
                        chunk.iter().map(|r| r.device_id).collect::<Vec<_>>()
                    )));
                }
            }
            let mut clinics: Vec<i64> = done.iter().map(|r| r.clinic_id).collect();
            clinics.sort_unstable();
            clinics.dedup();
            for clinic in clinics {
                c.lock_stream(1, clinic)?;
            }
            for chunk in done.chunks(ROWS) {
                let rows: Vec<String> = (0..chunk.len())
                    .map(|i| {
                        let k = 4 * i;
                        format!("(?{}, ?{}, ?{}, ?{})", k + 1, k + 2, k + 3, k + 4)
                    })
                    .collect();
                let sql = format!(
                    "INSERT INTO alerts (clinic_id, device_id, seq, flags) VALUES {}
                     ON CONFLICT DO NOTHING",
                    rows.join(", ")
                );
                let mut p = Vec::with_capacity(4 * chunk.len());
                for r in chunk {
                    p.extend_from_slice(params![r.clinic_id, r.device_id, r.seq as i64, &r.flags]);
                }
                c.execute(&sql, &p)?;
            }
            c.notify(super::RESULTS_CHANNEL)?;
            super::pause_point("alerts-commit");
            Ok(())
        })
    }

    fn alert_row(r: &Row) -> Result<AlertRow> {
        Ok(AlertRow {
            id: r.int(0)?,
            device_id: r.int(1)?,
            seq: r.int_as(2)?,
            flags: r.blob(3)?,
            error: r.opt_text(4)?,
            received_ms: r.int(5)?,
        })
    }

    /// A clinic's alert records after `since` (an alert id), at most `limit`.
    pub fn alerts_since(&self, clinic_id: i64, since: i64, limit: usize) -> Result<Vec<AlertRow>> {
        self.read(|c| {
            c.query(
                "SELECT a.id, a.device_id, a.seq, a.flags, a.error, COALESCE(r.received, 0)
                 FROM alerts a LEFT JOIN readings r ON r.device_id = a.device_id AND r.seq = a.seq
                 WHERE a.clinic_id = ?1 AND a.id > ?2 ORDER BY a.id LIMIT ?3",
                params![clinic_id, since, limit as i64],
            )?
            .iter()
            .map(Self::alert_row)
            .collect()
        })
    }

    /// Pending jobs (readings, records, cohorts) and the age in ms of the oldest pending
    /// reading (`None` when none is pending).
    pub fn pending_jobs(&self) -> Result<(u64, u64, u64, Option<i64>)> {
        self.read(|c| {
            let oldest = c
                .query_one(
                    "SELECT MIN(received) FROM readings WHERE state = 0",
                    params![],
                )?
                .opt_int(0)?;
            let mut one = |sql: &str| c.query_int(sql, params![]).map(|n| n as u64);
            Ok((
                one("SELECT COUNT(*) FROM readings WHERE state = 0")?,
                one("SELECT COUNT(*) FROM records WHERE state = 0 AND superseded = 0")?,
                one("SELECT COUNT(*) FROM cohorts WHERE state = 0")?,
                oldest.map(|t| (super::now_ms() - t).max(0)),
            ))
        })
    }

    /// Counts (for tests and the load command): readings stored, readings pending, alerts
    /// computed (failures left out).
    pub fn counts(&self) -> Result<(u64, u64, u64)> {
        self.read(|c| {
            let mut one = |sql: &str| c.query_int(sql, params![]).map(|n| n as u64);
            Ok((
                one("SELECT COUNT(*) FROM readings")?,
                one("SELECT COUNT(*) FROM readings WHERE state = 0")?,
                one("SELECT COUNT(*) FROM alerts WHERE error IS NULL")?,
            ))
        })
    }
}

/// Which of a worker's steps in flight a claim is for ([`Store::claim_readings_step`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepShare<'a> {
    /// The worker's steps in flight at most: each claims up to its part of the worker's share
    /// of the devices, so that the next step has devices of its own to batch while this one
    /// rotates.
    pub steps: usize,
    /// The devices whose readings the worker's other steps in flight hold: not claimed again.
    /// The worker's other leased readings are (left by a step that failed, or by this worker
    /// before its lane restarted).
    pub busy_devices: &'a [i64],
}

impl StepShare<'static> {
    /// One step at a time.
    pub const ALONE: Self = Self {
        steps: 1,
        busy_devices: &[],
    };
}
