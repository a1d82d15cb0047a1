//! The backend's schedule: when the backend will be free, as the drivers on it see it. Each
//! driver's batcher keeps its forming batch open while the backend is busy and closes it just
//! in time to keyswitch it before the backend frees up; on an idle backend it closes it one
//! window after its first job. One schedule can serve every driver on one backend (a service's
//! clinics, each with its own keys): their blind rotations take turns on the backend, and each
//! clinic's batch grows while another's rotates.

use crossbeam_channel::{bounded, Receiver, Sender};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Batches remembered by each cost model.
const SAMPLES: usize = 32;
/// The longest a batch is held past its window when no estimate says how long the backend
/// stays busy.
const HOLD_WITHOUT_ESTIMATE: Duration = Duration::from_secs(1);

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
    /// The blind rotation's time against the batch's size.
    rotate: CostModel,
    /// The keyswitch's.
    keyswitch: CostModel,
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
                rotate: CostModel::default(),
                keyswitch: CostModel::default(),
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

    /// When a batch of `jobs` jobs, forming since `opened`, should close: `first + window`
    /// (its first job's submission plus the window) when the backend is idle; otherwise no
    /// earlier than that, and as late as its keyswitch still ends before the backend frees up
    /// (the batches queued ahead of it included), but never later than `opened` plus the
    /// window and the estimated rotation of a `full` batch (1 s without an estimate): an
    /// estimate off by any amount holds a batch for a bounded time.
    pub(crate) fn close_at(
        &self,
        (first, opened): (Instant, Instant),
        window: Duration,
        jobs: usize,
        full: usize,
    ) -> Instant {
        let s = self.lock();
        let far = || Instant::now() + Duration::from_secs(86_400);
        let window_end = first.checked_add(window).unwrap_or_else(far);
        if s.rotating == 0 && s.queued_jobs == 0 {
            return window_end;
        }
        let now = Instant::now();
        let Some(full_rotation) = s.rotate.predict(full) else {
            // No estimate yet: open until the rotation ends (a wake-up), the batch is full, or
            // the cap.
            return opened
                .checked_add(window + HOLD_WITHOUT_ESTIMATE)
                .unwrap_or_else(far)
                .max(window_end);
        };
        let cap = opened
            .checked_add(window + full_rotation)
            .unwrap_or_else(far);
        let queued = s.rotate.predict(s.queued_jobs).unwrap_or_default();
        let free = s.rotating_until.map_or(now, |t| t.max(now)) + queued;
        // Its keyswitch, at most half the rotation it overlaps: a keyswitch timed while the
        // rotation held the cores (a CPU backend) reads long, and must not close every batch
        // at once.
        let keyswitch = s
            .keyswitch
            .predict(jobs)
            .unwrap_or_default()
            .min(free.saturating_duration_since(now) / 2);
        let ready = free.checked_sub(keyswitch).unwrap_or(now);
        ready.max(window_end).min(cap.max(window_end))
    }

    /// A batch of `jobs` was keyswitched in `took`; it now waits for the backend until its
    /// ticket is rotated ([`Self::rotate`]) or dropped.
    pub(crate) fn prepared(self: &Arc<Self>, jobs: usize, took: Duration) -> QueueTicket {
        let mut s = self.lock();
        s.queued_jobs += jobs;
        s.keyswitch.add(jobs, took);
        QueueTicket {
            schedule: self.clone(),
            jobs,
        }
    }

    /// Runs `rotate` on the batch of `ticket` when the backend is free (one batch at a time,
    /// all drivers together), keeping the estimates and waking the batchers at its end (also
    /// when `rotate` panics).
    pub(crate) fn rotate<T>(
        &self,
        mut ticket: QueueTicket,
        rotate: impl FnOnce() -> T,
    ) -> (T, Duration) {
        let gate = self.rotation.lock().unwrap_or_else(|e| e.into_inner());
        let jobs = std::mem::take(&mut ticket.jobs);
        drop(ticket);
        let start = Instant::now();
        {
            let mut s = self.lock();
            s.queued_jobs = s.queued_jobs.saturating_sub(jobs);
            s.rotating += 1;
            s.rotating_until = s.rotate.predict(jobs).map(|d| start + d);
        }
        let mut ending = Ending {
            schedule: self,
            jobs,
            start,
            completed: false,
        };
        let out = rotate();
        let took = start.elapsed();
        ending.completed = true;
        drop(ending);
        drop(gate);
        (out, took)
    }
}

/// Ends a rotation in the schedule however it returns (a panic included): the backend free
/// again, the estimate kept (for a completed one), the batchers woken.
struct Ending<'a> {
    schedule: &'a BackendSchedule,
    jobs: usize,
    start: Instant,
    completed: bool,
}

impl Drop for Ending<'_> {
    fn drop(&mut self) {
        let mut s = self.schedule.lock();
        s.rotating = s.rotating.saturating_sub(1);
        s.rotating_until = None;
        if self.completed {
            s.rotate.add(self.jobs, self.start.elapsed());
        }
        s.wakers
            .retain(|w| !matches!(w.try_send(()), Err(e) if e.is_disconnected()));
    }
}

/// A prepared batch's place in the schedule's queue: dropped without being rotated (its
/// driver stopped, its rotator died), it leaves the queue.
#[derive(Debug)]
pub(crate) struct QueueTicket {
    schedule: Arc<BackendSchedule>,
    jobs: usize,
}

impl Drop for QueueTicket {
    fn drop(&mut self) {
        if self.jobs > 0 {
            let mut s = self.schedule.lock();
            s.queued_jobs = s.queued_jobs.saturating_sub(self.jobs);
        }
    }
}

/// A stage's time against its batch's size: the least-squares line `t = fixed + per_job · b`
/// over the last batches (proportional to the size while one size has been seen), so that a
/// batch of one does not make a batch of 64 look 64 times as long as it is.
#[derive(Debug, Default)]
struct CostModel {
    samples: VecDeque<(f64, f64)>,
}

impl CostModel {
    fn add(&mut self, jobs: usize, took: Duration) {
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples
            .push_back((jobs.max(1) as f64, took.as_secs_f64()));
    }

    fn predict(&self, jobs: usize) -> Option<Duration> {
        if self.samples.is_empty() {
            return None;
        }
        if jobs == 0 {
            return Some(Duration::ZERO);
        }
        let n = self.samples.len() as f64;
        let (sb, st) = self
            .samples
            .iter()
            .fold((0.0, 0.0), |(sb, st), &(b, t)| (sb + b, st + t));
        let (mb, mt) = (sb / n, st / n);
        let var: f64 = self.samples.iter().map(|&(b, _)| (b - mb) * (b - mb)).sum();
        let b = jobs as f64;
        let t = if var < 1e-9 {
            mt * b / mb
        } else {
            let cov: f64 = self.samples.iter().map(|&(x, t)| (x - mb) * (t - mt)).sum();
            let per_job = (cov / var).max(0.0);
            let fixed = (mt - per_job * mb).max(0.0);
            fixed + per_job * b
        };
        Some(Duration::from_secs_f64(t.clamp(0.0, 3600.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_model_separates_the_fixed_cost_from_the_cost_per_job() {
        let mut m = CostModel::default();
        assert_eq!(m.predict(8), None);
        m.add(4, Duration::from_millis(40));
        // One size seen: proportional.
        assert_eq!(m.predict(8), Some(Duration::from_millis(80)));
        // 20 ms + 5 ms a job, and the first sample off the line: least squares.
        m.add(1, Duration::from_millis(25));
        m.add(16, Duration::from_millis(100));
        let p = m.predict(64).unwrap().as_secs_f64();
        assert!(p > 0.3 && p < 0.4, "{p}");
    }

    #[test]
    fn an_idle_backend_closes_on_the_window_and_a_busy_one_just_in_time() {
        let schedule = Arc::new(BackendSchedule::new());
        let window = Duration::from_millis(2);
        let first = Instant::now();
        assert_eq!(
            schedule.close_at((first, first), window, 1, 64),
            first + window
        );
        // Estimates: rotation about 10 ms + 1 ms a job; keyswitch 0.1 ms a job.
        for b in [1u64, 8, 32] {
            let t = schedule.prepared(b as usize, Duration::from_micros(100 * b));
            schedule.rotate(t, || std::thread::sleep(Duration::from_millis(10 + b)));
        }
        assert_eq!(
            schedule.close_at((first, first), window, 1, 64),
            first + window
        );
        let busy = schedule.clone();
        let rotation = std::thread::spawn(move || {
            let t = busy.prepared(40, Duration::from_micros(4000));
            busy.rotate(t, || std::thread::sleep(Duration::from_millis(300)))
        });
        while schedule.lock().rotating == 0 {
            std::thread::yield_now();
        }
        let now = Instant::now();
        let close = schedule.close_at((now, now), window, 20, 64);
        // The 40-job rotation is predicted to take about 50 ms: the 20-job batch closes a few
        // ms (its keyswitch and the margin) before its end, after its window, and before its
        // cap (the window plus a 64-job rotation's estimate, about 74 ms).
        assert!(close >= now + window, "{:?}", close - now);
        assert!(
            close >= now + Duration::from_millis(30),
            "{:?}",
            close - now
        );
        assert!(
            close <= now + Duration::from_millis(60),
            "{:?}",
            close - now
        );
        rotation.join().unwrap();
        let later = Instant::now();
        assert_eq!(
            schedule.close_at((later, later), window, 1, 64),
            later + window
        );
    }

    #[test]
    fn a_panicking_rotation_and_a_dropped_ticket_leave_the_schedule_idle() {
        let schedule = Arc::new(BackendSchedule::new());
        let t = schedule.prepared(8, Duration::ZERO);
        let s = schedule.clone();
        let panicked = std::thread::spawn(move || s.rotate(t, || panic!("device fault")));
        assert!(panicked.join().is_err());
        drop(schedule.prepared(4, Duration::ZERO));
        let state = schedule.lock();
        assert_eq!((state.rotating, state.queued_jobs), (0, 0));
        drop(state);
        let first = Instant::now();
        let window = Duration::from_millis(2);
        assert_eq!(
            schedule.close_at((first, first), window, 1, 64),
            first + window
        );
    }
}
