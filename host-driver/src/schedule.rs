//! The backend's schedule: when the backend will be free, as the drivers on it see it. Each
//! driver's batcher keeps its forming batch open while the backend is busy and closes it just
//! in time to keyswitch it before the backend frees up; on an idle backend it closes it one
//! window after its first job. One schedule can serve every driver on one backend (a service's
//! clinics, each with its own keys): their blind rotations take turns on the backend, and each
//! clinic's batch grows while another's rotates.

use crossbeam_channel::{bounded, Receiver, Sender};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Weight of the newest sample in the per-job time estimates.
const EWMA: f64 = 0.25;

/// The occupancy of one backend, shared by the drivers that run on it
/// ([`crate::DriverConfig::schedule`]).
///
/// ```
/// use glovebox_driver::{BackendSchedule, Driver, DriverConfig};
/// use glovebox_engine::prelude::*;
/// use std::sync::Arc;
/// let backend: Arc<dyn Backend> = Arc::new(CpuBackend::new());
/// // One driver per key (per clinic), one schedule for the backend they share.
/// let config = DriverConfig {
///     schedule: Some(Arc::new(BackendSchedule::new())),
///     ..DriverConfig::default()
/// };
/// let clinics = [ClientKey::new(&TEST_PARAMS_INSECURE)?, ClientKey::new(&TEST_PARAMS_INSECURE)?];
/// let mut drivers = Vec::new();
/// for client in &clinics {
///     let server = Arc::new(client.server_key()?);
///     let next = Arc::new(server.generate_lookup_table(|x| (x + 1) % 4));
///     drivers.push((Driver::new(backend.clone(), server, config.clone())?, next));
/// }
/// let handles = clinics.iter().zip(&drivers).map(|(client, (driver, next))| {
///     driver.submit(client.encrypt(1)?, next.clone())
/// }).collect::<Result<Vec<_>>>()?;
/// for (client, handle) in clinics.iter().zip(handles) {
///     assert_eq!(client.decrypt(&handle.wait()?)?, 2);
/// }
/// # Ok::<(), glovebox_engine::Error>(())
/// ```
#[derive(Debug)]
pub struct BackendSchedule {
    state: Mutex<State>,
    /// Held by a driver's rotator for the length of a blind rotation: one batch at a time on
    /// the backend (it parallelizes within a batch), whichever driver it comes from.
    rotation: Mutex<()>,
}

#[derive(Debug)]
struct State {
    /// Batches rotating now (0 or 1 under the rotation gate; a driver waiting at the gate
    /// counts as queued).
    rotating: usize,
    /// When the batch rotating now is predicted to end.
    rotating_until: Option<Instant>,
    /// Jobs prepared (keyswitched) and waiting for the backend, all drivers together.
    queued_jobs: usize,
    /// Estimated blind rotation seconds per job (moving average over batches).
    rotate_s_per_job: Option<f64>,
    /// Estimated keyswitch seconds per job.
    keyswitch_s_per_job: Option<f64>,
    /// The batchers to wake when the backend frees up.
    wakers: Vec<Sender<()>>,
}

impl Default for BackendSchedule {
    fn default() -> Self {
        Self::new()
    }
}

impl BackendSchedule {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                rotating: 0,
                rotating_until: None,
                queued_jobs: 0,
                rotate_s_per_job: None,
                keyswitch_s_per_job: None,
                wakers: Vec::new(),
            }),
            rotation: Mutex::new(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A batcher's wake-up: a message whenever a rotation ends.
    pub(crate) fn subscribe(&self) -> Receiver<()> {
        let (tx, rx) = bounded(1);
        self.lock().wakers.push(tx);
        rx
    }

    /// When a batch of `jobs` jobs, forming now, should close: `first + window` when the
    /// backend is idle; otherwise no earlier than that, and as late as its keyswitch still
    /// ends before the backend frees up (the batches queued ahead of it included).
    pub(crate) fn close_at(&self, first: Instant, window: Duration, jobs: usize) -> Instant {
        let s = self.lock();
        let window_end = first + window;
        if s.rotating == 0 && s.queued_jobs == 0 {
            return window_end;
        }
        let now = Instant::now();
        let Some(rotate) = s.rotate_s_per_job else {
            // No estimate yet: open until the rotation ends (a wake-up) or the batch is full.
            return now.max(window_end) + Duration::from_secs(3600);
        };
        let free = s.rotating_until.map_or(now, |t| t.max(now))
            + Duration::from_secs_f64(rotate * s.queued_jobs as f64);
        let keyswitch = Duration::from_secs_f64(s.keyswitch_s_per_job.unwrap_or(0.0) * jobs as f64);
        // A margin for the hand-over between the threads.
        let ready = free
            .checked_sub(keyswitch + Duration::from_micros(500))
            .unwrap_or(now);
        ready.max(window_end)
    }

    /// A batch of `jobs` was keyswitched in `took`; it now waits for the backend.
    pub(crate) fn prepared(&self, jobs: usize, took: Duration) {
        let mut s = self.lock();
        s.queued_jobs += jobs;
        let sample = took.as_secs_f64() / jobs.max(1) as f64;
        s.keyswitch_s_per_job = Some(average(s.keyswitch_s_per_job, sample));
    }

    /// A prepared batch left without rotating (its driver stopped).
    pub(crate) fn dropped(&self, jobs: usize) {
        let mut s = self.lock();
        s.queued_jobs = s.queued_jobs.saturating_sub(jobs);
    }

    /// Runs `rotate` on a batch of `jobs` jobs when the backend is free (one batch at a time,
    /// all drivers together), keeping the estimates and waking the batchers at its end.
    pub(crate) fn rotate<T>(&self, jobs: usize, rotate: impl FnOnce() -> T) -> (T, Duration) {
        let gate = self.rotation.lock().unwrap_or_else(|e| e.into_inner());
        let start = Instant::now();
        {
            let mut s = self.lock();
            s.queued_jobs = s.queued_jobs.saturating_sub(jobs);
            s.rotating += 1;
            s.rotating_until = s
                .rotate_s_per_job
                .map(|r| start + Duration::from_secs_f64(r * jobs as f64));
        }
        let out = rotate();
        let took = start.elapsed();
        {
            let mut s = self.lock();
            s.rotating -= 1;
            s.rotating_until = None;
            let sample = took.as_secs_f64() / jobs.max(1) as f64;
            s.rotate_s_per_job = Some(average(s.rotate_s_per_job, sample));
            s.wakers
                .retain(|w| !matches!(w.try_send(()), Err(e) if e.is_disconnected()));
        }
        drop(gate);
        (out, took)
    }
}

fn average(old: Option<f64>, sample: f64) -> f64 {
    old.map_or(sample, |o| (1.0 - EWMA) * o + EWMA * sample)
}
