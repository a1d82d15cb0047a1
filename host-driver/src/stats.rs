//! Throughput, latency and occupancy accounting for the driver.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keep at most this many latency samples (the most recent ones).
const MAX_SAMPLES: usize = 100_000;

/// A snapshot of the driver's counters.
#[derive(Clone, Debug, PartialEq)]
pub struct DriverStats {
    /// Jobs bootstrapped successfully.
    pub completed: u64,
    /// Jobs answered with an error.
    pub failed: u64,
    /// Batches run to completion.
    pub batches: u64,
    /// Seconds since the driver started.
    pub elapsed_s: f64,
    /// Completed jobs per second since the driver started.
    pub pbs_per_s: f64,
    /// Mean jobs per batch.
    pub mean_batch_size: f64,
    /// The most jobs in one batch.
    pub largest_batch: u64,
    /// Batch latency (keyswitch start to results returned), percentiles in milliseconds.
    pub batch_latency_ms: Percentiles,
    /// Job latency (submission to reply), percentiles in milliseconds.
    pub job_latency_ms: Percentiles,
    /// Fraction of the wall time the backend spent in calls (can exceed 1 when its keyswitch
    /// and blind-rotation calls overlap).
    pub backend_busy: f64,
}

/// p50 / p90 / p99 / max.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(samples: &[f64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut s = samples.to_vec();
        s.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
        Self {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: s[s.len() - 1],
        }
    }
}

struct Inner {
    completed: u64,
    failed: u64,
    batches: u64,
    largest_batch: u64,
    backend: Duration,
    batch_latency_ms: Vec<f64>,
    job_latency_ms: Vec<f64>,
}

pub(crate) struct StatsCollector {
    start: Instant,
    inner: Mutex<Inner>,
}

fn push_bounded(v: &mut Vec<f64>, x: f64) {
    if v.len() == MAX_SAMPLES {
        v.remove(0);
    }
    v.push(x);
}

impl StatsCollector {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            inner: Mutex::new(Inner {
                completed: 0,
                failed: 0,
                batches: 0,
                largest_batch: 0,
                backend: Duration::ZERO,
                batch_latency_ms: Vec::new(),
                job_latency_ms: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn backend_time(&self, d: Duration) {
        self.lock().backend += d;
    }

    pub(crate) fn failed(&self, jobs: usize) {
        self.lock().failed += jobs as u64;
    }

    pub(crate) fn job_latency(&self, d: Duration) {
        push_bounded(&mut self.lock().job_latency_ms, d.as_secs_f64() * 1e3);
    }

    pub(crate) fn batch_done(&self, jobs: usize, latency: Duration) {
        let mut i = self.lock();
        i.completed += jobs as u64;
        i.batches += 1;
        i.largest_batch = i.largest_batch.max(jobs as u64);
        push_bounded(&mut i.batch_latency_ms, latency.as_secs_f64() * 1e3);
    }

    pub(crate) fn snapshot(&self) -> DriverStats {
        let i = self.lock();
        let elapsed = self.start.elapsed().as_secs_f64().max(1e-9);
        DriverStats {
            completed: i.completed,
            failed: i.failed,
            batches: i.batches,
            elapsed_s: elapsed,
            pbs_per_s: i.completed as f64 / elapsed,
            mean_batch_size: if i.batches == 0 {
                0.0
            } else {
                i.completed as f64 / i.batches as f64
            },
            largest_batch: i.largest_batch,
            batch_latency_ms: Percentiles::of(&i.batch_latency_ms),
            job_latency_ms: Percentiles::of(&i.job_latency_ms),
            backend_busy: i.backend.as_secs_f64() / elapsed,
        }
    }
}
