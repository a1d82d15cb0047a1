//! The worker: a thread that takes pending jobs from the store (readings, lab records, cohort
//! requests), computes them through the clinic's monitor, and commits each step's results with
//! the jobs marked done in one transaction. A job that fails on its own counts an attempt and
//! fails for good after [`MAX_ATTEMPTS`]; its stream or series goes on without it.

use super::keys::ClinicMonitor;
use super::{AppState, Shared};
use crate::records::{analyze_records, blocks_of, cohort_statistics, RecordHistory, RecordInput};
use crate::service::store::{
    CohortRow, CompletedReading, CompletedRecord, PendingReading, PendingRecord, StepShare,
};
use crate::service::ServiceError;
use crate::vitals::{EncryptedReading, ReadingAlerts};
use glovebox_engine::serialization::to_bytes;
use glovebox_integer::{BoolCiphertext, RadixCiphertext};
use std::collections::HashMap;
use std::result::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Attempts of a job that fails on its own before it is marked failed.
const MAX_ATTEMPTS: u32 = 5;

/// The worker's lanes, each a thread of its own: readings' alerts never wait behind a lab
/// record or a cohort (a cohort of tens of thousands of patients takes minutes). Both lanes'
/// bootstraps go through the clinic's driver, which batches them together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lane {
    /// Readings' alerts.
    Alerts,
    /// Lab records' analyses, then cohorts.
    Batch,
}

/// Runs `lane`'s worker on a thread of its own and starts it again whenever it stops before
/// `stop` (a panic), after a back-off of 1 s doubling to 30 s; `/v1/health` reports the lanes
/// running and the restarts. Jobs a dead worker held uncommitted are pending in the store, so
/// the new worker takes them up.
pub(super) fn supervise(state: Shared, stop: Arc<AtomicBool>, lane: Lane) {
    let mut backoff = Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) {
        state.workers_running.fetch_add(1, Ordering::Relaxed);
        let worker = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("glovebox-{lane:?}").to_lowercase())
                .spawn(move || run(state, stop, lane))
        };
        let outcome = match worker {
            Ok(w) => w.join().map_err(|p| panic_message(&*p)),
            Err(e) => Err(format!("cannot start: {e}")),
        };
        state.workers_running.fetch_sub(1, Ordering::Relaxed);
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let why = outcome.err().unwrap_or_else(|| "it returned".into());
        eprintln!("glovebox serve: the {lane:?} worker stopped ({why}); restarting in {backoff:?}");
        state.worker_restarts.fetch_add(1, Ordering::Relaxed);
        pause(&stop, backoff);
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// A panic's message (its payload when it is a string).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Extends this process's leases every quarter of the lease while the worker lives, so
/// that the jobs it computes stay its own, and keeps it on the list of live workers (taken
/// off when it stops); a worker that died stops, and its jobs are claimed by another once
/// their leases expire.
pub(super) fn heartbeat(state: Shared, stop: Arc<AtomicBool>) {
    let every = state.config.lease / 4;
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = state.store.extend_leases(&state.owner, state.config.lease) {
            eprintln!("glovebox: extending the worker's leases: {e}");
        }
        pause(&stop, every);
    }
    let _ = state.store.retire_worker(&state.owner);
}

/// Sleeps `d`, or until `stop`.
pub(super) fn pause(stop: &AtomicBool, d: Duration) {
    let deadline = std::time::Instant::now() + d;
    while std::time::Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20).min(d));
    }
}

/// A lane's loop until `stop`: steps of pending readings (one per device), or of pending
/// records (one per series) and cohort jobs (one at a time). A transient failure (the store,
/// the backend, a key being loaded) counts against no job: the lane backs off, 200 ms doubling
/// to 30 s, and runs the step again. It sleeps while there is nothing to do, until woken
/// ([`AppState::wake_worker`]) or half a second passed.
pub(super) fn run(state: Shared, stop: Arc<AtomicBool>, lane: Lane) {
    let mut backoff = Duration::from_millis(200);
    while !stop.load(Ordering::Relaxed) {
        fault_panic_once();
        // The wake-up generation before the step: one during the step is not missed.
        let seen = *state.work.0.lock().unwrap_or_else(|e| e.into_inner());
        let steps = match lane {
            Lane::Alerts => vec![readings_steps(&state, &stop)],
            Lane::Batch => vec![records_step(&state), cohort_step(&state)],
        };
        let mut busy = false;
        let mut failed = false;
        for step in steps {
            match step {
                Ok(did) => busy |= did,
                Err(e) => {
                    eprintln!("glovebox serve: {e} (transient: retried in {backoff:?})");
                    failed = true;
                }
            }
        }
        if failed {
            pause(&stop, backoff);
            backoff = (backoff * 2).min(Duration::from_secs(30));
            continue;
        }
        backoff = Duration::from_millis(200);
        if !busy {
            let (generation, cv) = &state.work;
            let now = generation.lock().unwrap_or_else(|e| e.into_inner());
            if *now == seen {
                let _ = cv
                    .wait_timeout(now, Duration::from_millis(500))
                    .unwrap_or_else(|e| e.into_inner());
            }
        }
    }
}

/// The clinic's monitor (expanded on first use).
fn monitor(state: &AppState, clinic: i64) -> Result<Arc<ClinicMonitor>, ServiceError> {
    state.keys.load(&state.store, &state.config, clinic)
}

/// One step of jobs (readings or records): per clinic, all its jobs in one batch; when the
/// batch fails on its content, one job at a time, to find the jobs that fail alone: each of
/// those counts an attempt (`fail`) and fails for good after [`MAX_ATTEMPTS`] (its stream or
/// series goes on without it, and the failure is reported to the clinic). A transient failure
/// ([`ServiceError::is_transient`]) counts against no job: the step stops with it, for the
/// lane to back off and run again. Whether there was any job.
fn run_step<J>(
    state: &AppState,
    pending: Vec<J>,
    clinic_of: impl Fn(&J) -> i64,
    run: impl Fn(&AppState, i64, &[J]) -> Result<(), ServiceError>,
    fail: impl Fn(&J, &str) -> Result<String, ServiceError>,
) -> Result<bool, ServiceError> {
    if pending.is_empty() {
        return Ok(false);
    }
    let mut by_clinic: HashMap<i64, Vec<J>> = HashMap::new();
    for p in pending {
        by_clinic.entry(clinic_of(&p)).or_default().push(p);
    }
    // A clinic whose step meets a transient failure is left for the lane's next try; the
    // other clinics go on. The step reports the failure after all of them ran.
    let mut transient = None;
    'clinics: for (clinic, jobs) in by_clinic {
        match run(state, clinic, &jobs) {
            Ok(()) => continue,
            Err(e) if e.is_transient() => {
                transient = Some(e);
                continue;
            }
            Err(_) => {}
        }
        for job in &jobs {
            match run(state, clinic, std::slice::from_ref(job)) {
                Ok(()) => {}
                Err(e) if e.is_transient() => {
                    transient = Some(e);
                    continue 'clinics;
                }
                Err(e) => {
                    let what = fail(job, &e.to_string())?;
                    eprintln!("glovebox serve: clinic {clinic}, {what}: {e} (an attempt counted)");
                }
            }
        }
    }
    transient.map_or(Ok(true), Err)
}

/// Steps of readings (one per device), up to [`ServiceConfig::steps_in_flight`] at once, each
/// on a thread of its own with devices of its own: while one step's bootstraps rotate, the
/// next step's batch forms on the clinic's driver, and one step's claim, decoding and commit
/// overlap the others' bootstraps. New steps are claimed as earlier ones end, until there is
/// nothing to claim and none in flight (or `stop`). The first failure (a step's panic
/// included) stops the claims; the steps in flight end, and it is returned. Whether there was
/// any job.
///
/// [`ServiceConfig::steps_in_flight`]: super::ServiceConfig::steps_in_flight
fn readings_steps(state: &AppState, stop: &AtomicBool) -> Result<bool, ServiceError> {
    let steps = state.config.steps_in_flight.max(1);
    let mut busy = false;
    let mut failure = None;
    std::thread::scope(|scope| {
        let (done_tx, done) = std::sync::mpsc::channel();
        // The devices each step in flight holds (by step number).
        let mut in_flight: HashMap<u64, Vec<i64>> = HashMap::new();
        let mut next_step = 0u64;
        loop {
            while in_flight.len() < steps && failure.is_none() && !stop.load(Ordering::Relaxed) {
                let busy_devices: Vec<i64> = in_flight.values().flatten().copied().collect();
                let share = StepShare {
                    steps,
                    busy_devices: &busy_devices,
                };
                match state.store.claim_readings_step(
                    &state.owner,
                    state.config.max_readings_per_step,
                    state.config.reorder_grace,
                    state.config.lease,
                    share,
                ) {
                    Ok(pending) if pending.is_empty() => break,
                    Ok(pending) => {
                        busy = true;
                        let id = next_step;
                        next_step += 1;
                        in_flight.insert(id, pending.iter().map(|p| p.device_id).collect());
                        let done_tx = done_tx.clone();
                        let spawned = std::thread::Builder::new()
                            .name("glovebox-step".into())
                            .spawn_scoped(scope, move || {
                                // A panic in a step is its failure: the lane goes on (its
                                // readings, still leased to this worker, are claimed again).
                                let result =
                                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        readings_step(state, pending)
                                    }))
                                    .unwrap_or_else(
                                        |panic| {
                                            Err(ServiceError::Internal(format!(
                                                "a step of readings panicked: {}",
                                                panic_message(&*panic)
                                            )))
                                        },
                                    );
                                let _ = done_tx.send((id, result));
                            });
                        if let Err(e) = spawned {
                            in_flight.remove(&id);
                            failure = Some(ServiceError::Internal(format!(
                                "cannot start a step's thread: {e}"
                            )));
                        }
                    }
                    Err(e) => failure = Some(e.into()),
                }
            }
            if in_flight.is_empty() {
                break;
            }
            // A step ended: its devices are free, and there is room for the next claim. Every
            // step sends once (a panic included), so this never waits for ever.
            let Ok((id, result)) = done.recv() else { break };
            in_flight.remove(&id);
            if let Err(e) = result {
                failure.get_or_insert(e);
            }
        }
    });
    failure.map_or(Ok(busy), Err)
}

/// One step of readings claimed by [`readings_steps`].
fn readings_step(state: &AppState, pending: Vec<PendingReading>) -> Result<bool, ServiceError> {
    let result = run_step(
        state,
        pending,
        |r: &PendingReading| r.clinic_id,
        evaluate,
        |r, error| {
            state
                .store
                .fail_reading(&state.owner, r.device_id, r.seq, error, MAX_ATTEMPTS)?;
            Ok(format!("device {}, reading {}", r.device_id, r.seq))
        },
    );
    state.alerts.notify_waiters();
    result
}

/// One step of records (one per series).
fn records_step(state: &AppState) -> Result<bool, ServiceError> {
    let pending = state.store.claim_records(
        &state.owner,
        state.config.max_readings_per_step,
        state.config.lease,
    )?;
    let result = run_step(
        state,
        pending,
        |r: &PendingRecord| r.clinic_id,
        analyze,
        |r, error| {
            state
                .store
                .fail_record(&state.owner, r.id, error, MAX_ATTEMPTS)?;
            Ok(format!("record {}", r.id))
        },
    );
    state.analyses.notify_waiters();
    result
}

/// The oldest pending cohort job; whether there was one.
fn cohort_step(state: &AppState) -> Result<bool, ServiceError> {
    let Some(job) = state.store.claim_cohort(&state.owner, state.config.lease)? else {
        return Ok(false);
    };
    match compute_cohort(state, &job) {
        Ok(()) => {}
        Err(e) if e.is_transient() => return Err(e),
        Err(e) => {
            state
                .store
                .fail_cohort(&state.owner, job.id, &e.to_string(), MAX_ATTEMPTS)?;
            eprintln!(
                "glovebox serve: cohort {}: {e} (an attempt counted)",
                job.id
            );
        }
    }
    state.analyses.notify_waiters();
    Ok(true)
}

fn compute_cohort(state: &AppState, job: &CohortRow) -> Result<(), ServiceError> {
    let monitor = monitor(state, job.clinic_id)?;
    let values = state.store.cohort_values(job)?;
    let decoded = values
        .iter()
        .map(|v| monitor.value(v))
        .collect::<Result<Vec<_>, _>>()?;
    let ints = monitor.server.integers()?;
    let stats = cohort_statistics(&ints, &decoded.iter().collect::<Vec<_>>(), job.threshold)?;
    commit_delay();
    Ok(state.store.complete_cohort(
        &state.owner,
        job.id,
        stats.patients,
        &to_bytes(&stats.to_ciphertexts()),
    )?)
}

/// One step of a clinic's records: decode each with its series' running maximum and window,
/// analyze them together, store analyses and running maxima (one transaction).
fn analyze(state: &AppState, clinic: i64, records: &[PendingRecord]) -> Result<(), ServiceError> {
    let monitor = monitor(state, clinic)?;
    struct Decoded {
        value: RadixCiphertext,
        previous_max: Option<RadixCiphertext>,
        window: Vec<RadixCiphertext>,
    }
    let decoded = records
        .iter()
        .map(|r| {
            Ok(Decoded {
                value: monitor.value(&r.value)?,
                previous_max: r
                    .previous_max
                    .as_ref()
                    .map(|m| monitor.value(m))
                    .transpose()?,
                window: r
                    .window
                    .iter()
                    .map(|v| monitor.value(v))
                    .collect::<Result<_, ServiceError>>()?,
            })
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    let inputs: Vec<RecordInput<'_>> = decoded
        .iter()
        .zip(records)
        .map(|(d, r)| RecordInput {
            value: &d.value,
            history: d.previous_max.as_ref().map(|m| RecordHistory {
                previous_max: m,
                last: d.window.last().expect("a previous record is in the window"),
                window: d.window.iter().collect(),
            }),
            change_threshold: r.change_threshold,
        })
        .collect();
    let ints = monitor.server.integers()?;
    let outcomes = analyze_records(&ints, &inputs)?;
    let done: Vec<CompletedRecord> = records
        .iter()
        .zip(outcomes)
        .map(|(r, o)| CompletedRecord {
            clinic_id: clinic,
            record_id: r.id,
            window: o.analysis.as_ref().map_or(0, |a| a.window),
            running_max: to_bytes(&blocks_of(&o.running_max)),
            analysis: o.analysis.map(|a| to_bytes(&a.to_ciphertexts())),
        })
        .collect();
    commit_delay();
    Ok(state.store.complete_records(&state.owner, &done)?)
}

/// A fault-injection hook for the supervisor's test: with `GLOVEBOX_FAULT_WORKER_PANIC` set,
/// the first worker of the process panics at its first step (later ones run normally).
fn fault_panic_once() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if std::env::var_os("GLOVEBOX_FAULT_WORKER_PANIC").is_some()
        && !DONE.swap(true, Ordering::SeqCst)
    {
        panic!("GLOVEBOX_FAULT_WORKER_PANIC");
    }
}

/// A fault-injection hook for the crash test: `GLOVEBOX_FAULT_COMMIT_DELAY_MS` makes the
/// worker wait that long between computing a step's results and committing them, so a test
/// can kill the server while results are computed but not stored.
fn commit_delay() {
    static DELAY: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
    let delay = DELAY.get_or_init(|| {
        std::env::var("GLOVEBOX_FAULT_COMMIT_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
    });
    if let Some(d) = delay {
        std::thread::sleep(*d);
    }
}

/// One step of a clinic's readings: decode, gather each device's earlier "any" flags,
/// evaluate, and store the alerts with the readings marked done (one transaction).
fn evaluate(
    state: &AppState,
    clinic: i64,
    readings: &[PendingReading],
) -> Result<(), ServiceError> {
    let monitor = monitor(state, clinic)?;
    let k = monitor.server.rules().sustained_readings as u64;
    let mut decoded = Vec::with_capacity(readings.len());
    let mut previous: Vec<Vec<BoolCiphertext>> = Vec::with_capacity(readings.len());
    for r in readings {
        decoded.push(monitor.reading(&r.body)?);
        // The window: the k − 1 readings just before, all present (a gap in the stream
        // restarts it).
        let from = r.seq.saturating_sub(k - 1);
        let earlier = state.store.device_alerts(r.device_id, from, r.seq)?;
        let full = earlier.len() as u64 == r.seq - from && r.seq >= k - 1;
        let mut flags = Vec::new();
        if full {
            for alert in earlier {
                let cts = monitor.ciphertexts(&alert.flags)?;
                flags.push(ReadingAlerts::from_ciphertexts(cts)?.any);
            }
        }
        previous.push(flags);
    }
    let items: Vec<(&EncryptedReading, Vec<&BoolCiphertext>)> = decoded
        .iter()
        .zip(&previous)
        .map(|(r, p)| (r, p.iter().collect()))
        .collect();
    let alerts = monitor.server.evaluate_readings(&items)?;
    let done: Vec<CompletedReading> = readings
        .iter()
        .zip(alerts)
        .map(|(r, a)| CompletedReading {
            clinic_id: clinic,
            device_id: r.device_id,
            seq: r.seq,
            flags: to_bytes(&a.to_ciphertexts()),
        })
        .collect();
    commit_delay();
    Ok(state.store.complete(&state.owner, &done)?)
}
