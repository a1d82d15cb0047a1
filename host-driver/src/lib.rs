//! # glovebox-driver
//!
//! Turns a [`Backend`] into bootstrapping throughput. Callers on any number of threads submit
//! jobs (a ciphertext and a lookup table); the driver forms batches and runs them through
//! keyswitch → modulus switch → blind rotation → sample extraction, pipelined over three
//! stages, each on its own thread:
//!
//! ```text
//!  callers ──(bounded job queue)──▶ batcher: form batch, keyswitch, modulus switch
//!                                        │ (bounded: in-flight depth)
//!                                        ▼
//!                                   rotator: blind rotation on the backend
//!                                        │ (bounded)
//!                                        ▼
//!                                   finisher: sample extraction, reply to each caller
//! ```
//!
//! While the backend blind-rotates batch i, the batcher keyswitches batch i+1 and the finisher
//! returns the results of batch i−1.
//!
//! **Batching.** A batch closes when it is full ([`DriverConfig::batch_size`], the backend's
//! best batch); before that, the batcher keeps it open while the backend is busy, and closes it
//! just in time for its keyswitch to end when the backend frees up ([`BackendSchedule`]); on an
//! idle backend it closes one window ([`DriverConfig::max_batch_wait`]) after its first job's
//! submission. So a lone job waits at most the window before its keyswitch starts, and a job
//! that comes while the backend is busy joins the next batch to rotate instead of queueing
//! behind it in a batch of its own. Drivers that share a backend (one per key: a service's
//! clinics) share its schedule: their rotations take turns, and each one's batch grows while
//! another's rotates. Every queue is bounded (a full queue blocks the caller:
//! backpressure, never unbounded memory). Each job gets exactly one reply on its own channel:
//! its result, or the error of the batch it was in (a backend fault fails that batch's jobs
//! and the driver keeps serving the others). Imports: `glovebox-engine` only.
//!
//! ```
//! use glovebox_driver::{Driver, DriverConfig};
//! use glovebox_engine::prelude::*;
//! use std::sync::Arc;
//! let client = ClientKey::new(&TEST_PARAMS_INSECURE)?;
//! let server = Arc::new(client.server_key()?);
//! let driver = Driver::new(Arc::new(CpuBackend::new()), server.clone(), DriverConfig::default())?;
//! let double = Arc::new(server.generate_lookup_table(|x| 2 * x % 4));
//! let out = driver.bootstrap(client.encrypt(3)?, double)?;
//! assert_eq!(client.decrypt(&out)?, 2);
//! # Ok::<(), glovebox_engine::Error>(())
//! ```
//!
//! Tests: `cargo test --release -p glovebox-driver`.

mod schedule;
mod stats;

pub use schedule::BackendSchedule;
pub use stats::DriverStats;

use crossbeam_channel::{bounded, select, Receiver, Sender};
use glovebox_engine::prelude::*;
use glovebox_engine::shortint::batch::{
    extract_outputs, keyswitch_and_modulus_switch_batch, pack_accumulators,
};
use glovebox_engine::shortint::public_key::{CastingKey, CompactCiphertext};
use glovebox_engine::shortint::{check_ciphertext, check_table};
use stats::StatsCollector;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the driver batches and pipelines.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// Most jobs in one batch: the backend's best batch (`glovebox bench` shows throughput
    /// per batch size; 64 is where `cpu-fft` levels off).
    pub batch_size: usize,
    /// Batches allowed between two stages (the pipeline's in-flight depth).
    pub in_flight_batches: usize,
    /// Jobs the submission queue holds before `submit` blocks.
    pub queue_capacity: usize,
    /// The window: on an idle backend, how long after its first job's submission a partial
    /// batch waits for more jobs. The most the batcher adds to a lone job's latency (while
    /// the backend is busy, a batch waits for the backend anyway, and grows meanwhile).
    pub max_batch_wait: Duration,
    /// The schedule of the backend this driver runs on, shared by every driver on the same
    /// backend (`None`: one of its own).
    pub schedule: Option<Arc<BackendSchedule>>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            batch_size: 64,
            in_flight_batches: 2,
            queue_capacity: 1024,
            max_batch_wait: Duration::from_millis(2),
            schedule: None,
        }
    }
}

/// One bootstrapping job.
struct Job {
    ciphertext: Ciphertext,
    /// The keyswitch key of its first stage: the server key's (`None`) or a casting key's.
    keyswitch: Option<Arc<KeyswitchKeyHandle>>,
    table: Arc<dyn BootstrapTable>,
    reply: Sender<Result<Vec<Ciphertext>>>,
    submitted: Instant,
}

/// The promise of one job's result.
pub struct JobHandle {
    reply: Receiver<Result<Vec<Ciphertext>>>,
}

impl JobHandle {
    /// Blocks until the job is done; its output (the first, for a many-function table).
    pub fn wait(self) -> Result<Ciphertext> {
        self.wait_all().map(|mut v| v.swap_remove(0))
    }

    /// Blocks until the job is done; one output per function of its table (several for a
    /// [`ManyLookupTable`]).
    pub fn wait_all(self) -> Result<Vec<Ciphertext>> {
        self.reply.recv().unwrap_or_else(|_| {
            Err(Error::Backend {
                backend: "driver".into(),
                reason: "the driver stopped before answering this job".into(),
            })
        })
    }
}

struct PreparedBatch {
    jobs: Vec<Job>,
    msed: Vec<u64>,
    accumulators: Vec<u64>,
    started: Instant,
    /// Its place in the backend schedule's queue.
    ticket: schedule::QueueTicket,
}

struct RotatedBatch {
    jobs: Vec<Job>,
    result: Result<Vec<u64>>,
    started: Instant,
}

/// A casting key resident on a driver's backend ([`Driver::upload_casting_key`]): the first
/// stage of [`Driver::submit_cast`]'s jobs.
#[derive(Clone, Debug)]
pub struct DriverCastingKey {
    handle: Arc<KeyswitchKeyHandle>,
    key_id: u64,
}

/// The host driver: owns the pipeline threads; dropping it drains the queue and joins them.
pub struct Driver {
    submit: Option<Sender<Job>>,
    backend: Arc<dyn Backend>,
    /// The keys this driver uploaded, freed on the backend when it is dropped.
    bootstrap_key: BootstrapKeyHandle,
    keyswitch_keys: std::sync::Mutex<Vec<KeyswitchKeyHandle>>,
    threads: Vec<JoinHandle<()>>,
    stats: Arc<StatsCollector>,
    params: Parameters,
    key_id: u64,
    backend_name: String,
}

impl Driver {
    /// Uploads the server key's evaluation keys to `backend` (once) and starts the pipeline.
    pub fn new(
        backend: Arc<dyn Backend>,
        server_key: Arc<ServerKey>,
        config: DriverConfig,
    ) -> Result<Self> {
        if config.batch_size == 0 || config.in_flight_batches == 0 || config.queue_capacity == 0 {
            return Err(Error::InvalidParameters(format!(
                "driver configuration needs positive sizes: {config:?}"
            )));
        }
        let bsk = backend.upload_bootstrap_key(server_key.bootstrap_key())?;
        let ksk = match backend.upload_keyswitch_key(server_key.keyswitch_key()) {
            Ok(k) => k,
            Err(e) => {
                let _ = backend.release_bootstrap_key(&bsk);
                return Err(e);
            }
        };
        let (bootstrap_key, keyswitch_key) = (bsk.clone(), ksk.clone());
        let params = *server_key.parameters();
        let stats = Arc::new(StatsCollector::new());
        let schedule = config
            .schedule
            .clone()
            .unwrap_or_else(|| Arc::new(BackendSchedule::new()));
        let (submit_tx, submit_rx) = bounded::<Job>(config.queue_capacity);
        let (prepared_tx, prepared_rx) = bounded::<PreparedBatch>(config.in_flight_batches);
        let (rotated_tx, rotated_rx) = bounded::<RotatedBatch>(config.in_flight_batches);

        let batcher = {
            let backend = backend.clone();
            let stats = stats.clone();
            let config = config.clone();
            let schedule = schedule.clone();
            let wake = schedule.subscribe();
            std::thread::Builder::new()
                .name("glovebox-batcher".into())
                .spawn(move || {
                    batcher(
                        Inbox {
                            jobs: submit_rx,
                            wake,
                        },
                        prepared_tx,
                        &*backend,
                        &ksk,
                        &params,
                        &config,
                        (&schedule, &stats),
                    )
                })
                .map_err(spawn_error)?
        };
        let rotator = {
            let backend = backend.clone();
            let stats = stats.clone();
            std::thread::Builder::new()
                .name("glovebox-rotator".into())
                .spawn(move || {
                    rotator(
                        prepared_rx,
                        rotated_tx,
                        &*backend,
                        &bsk,
                        (&schedule, &stats),
                    )
                })
                .map_err(spawn_error)?
        };
        let finisher = {
            let stats = stats.clone();
            let key_id = server_key.key_id();
            std::thread::Builder::new()
                .name("glovebox-finisher".into())
                .spawn(move || finisher(rotated_rx, &params, key_id, &stats))
                .map_err(spawn_error)?
        };
        Ok(Self {
            submit: Some(submit_tx),
            backend: backend.clone(),
            bootstrap_key,
            keyswitch_keys: std::sync::Mutex::new(vec![keyswitch_key]),
            threads: vec![batcher, rotator, finisher],
            stats,
            params,
            key_id: server_key.key_id(),
            backend_name: backend.name(),
        })
    }

    /// Queues a job (blocking while the queue is full) and returns its handle. Inputs that do
    /// not fit this driver's key are refused here, with a typed error.
    pub fn submit(&self, ciphertext: Ciphertext, lut: Arc<LookupTable>) -> Result<JobHandle> {
        self.submit_table(ciphertext, lut)
    }

    /// Queues a job through a many-function table; [`JobHandle::wait_all`] returns one
    /// ciphertext per function.
    pub fn submit_many(
        &self,
        ciphertext: Ciphertext,
        lut: Arc<ManyLookupTable>,
    ) -> Result<JobHandle> {
        self.submit_table(ciphertext, lut)
    }

    /// Queues a job through any table (checked with the engine's [`check_ciphertext`] and
    /// [`check_table`]).
    pub fn submit_table(
        &self,
        ciphertext: Ciphertext,
        table: Arc<dyn BootstrapTable>,
    ) -> Result<JobHandle> {
        check_ciphertext(&self.params, self.key_id, &ciphertext)?;
        self.enqueue(ciphertext, None, table)
    }

    /// Uploads `key` (a casting key of this driver's client key, from the compact key's
    /// dimension, k N, into the small key) to the backend, for [`Self::submit_cast`].
    pub fn upload_casting_key(&self, key: &CastingKey) -> Result<DriverCastingKey> {
        if key.key_id() != self.key_id {
            return Err(Error::KeyMismatch {
                expected: self.key_id,
                got: key.key_id(),
            });
        }
        let ksk = key.keyswitch_key();
        let p = &self.params;
        if ksk.input_lwe_dimension() != p.big_lwe_dimension()
            || ksk.output_lwe_dimension() != p.lwe_dimension
        {
            return Err(Error::InvalidParameters(format!(
                "a casting key from dimension {} into {}: the driver of {} keyswitches from {} \
                 into {}",
                ksk.input_lwe_dimension().0,
                ksk.output_lwe_dimension().0,
                p.name,
                p.big_lwe_dimension().0,
                p.lwe_dimension.0
            )));
        }
        let handle = self.backend.upload_keyswitch_key(ksk)?;
        self.keyswitch_keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle.clone());
        Ok(DriverCastingKey {
            handle: Arc::new(handle),
            key_id: key.key_id(),
        })
    }

    /// Queues a job whose input is one value of a compact list, still under the compact key:
    /// its first stage keyswitches with `casting` instead of the server key, so the cast and
    /// the table's bootstrap are one PBS (batched with every other job). The table reads the
    /// value's whole range (below [`CompactCiphertext::bound`]).
    pub fn submit_cast(
        &self,
        casting: &DriverCastingKey,
        value: CompactCiphertext,
        table: Arc<dyn BootstrapTable>,
    ) -> Result<JobHandle> {
        for got in [casting.key_id, value.key_id()] {
            if got != self.key_id {
                return Err(Error::KeyMismatch {
                    expected: self.key_id,
                    got,
                });
            }
        }
        let space = self.params.message_modulus * self.params.carry_modulus;
        if value.bound() > space {
            return Err(Error::MessageOutOfRange {
                message: value.bound() - 1,
                modulus: space,
            });
        }
        let ciphertext = value.into_keyswitch_input(&self.params);
        if ciphertext.ct.lwe_dimension() != self.params.big_lwe_dimension() {
            return Err(Error::DimensionMismatch {
                what: "compact value dimension against the casting key's input",
                expected: self.params.big_lwe_dimension().0,
                got: ciphertext.ct.lwe_dimension().0,
            });
        }
        self.enqueue(ciphertext, Some(casting.handle.clone()), table)
    }

    fn enqueue(
        &self,
        ciphertext: Ciphertext,
        keyswitch: Option<Arc<KeyswitchKeyHandle>>,
        table: Arc<dyn BootstrapTable>,
    ) -> Result<JobHandle> {
        check_table(&self.params, &*table)?;
        let (reply, rx) = bounded(1);
        let job = Job {
            ciphertext,
            keyswitch,
            table,
            reply,
            submitted: Instant::now(),
        };
        self.submit
            .as_ref()
            .expect("present until drop")
            .send(job)
            .map_err(|_| Error::Backend {
                backend: self.backend_name.clone(),
                reason: "the driver's pipeline has stopped".into(),
            })?;
        Ok(JobHandle { reply: rx })
    }

    /// Submits one job and waits for it.
    pub fn bootstrap(&self, ciphertext: Ciphertext, lut: Arc<LookupTable>) -> Result<Ciphertext> {
        self.submit(ciphertext, lut)?.wait()
    }

    /// Submits many jobs, then waits for all; results in the order given.
    pub fn bootstrap_many(
        &self,
        jobs: impl IntoIterator<Item = (Ciphertext, Arc<LookupTable>)>,
    ) -> Vec<Result<Ciphertext>> {
        let handles: Vec<Result<JobHandle>> =
            jobs.into_iter().map(|(c, l)| self.submit(c, l)).collect();
        handles
            .into_iter()
            .map(|h| h.and_then(JobHandle::wait))
            .collect()
    }

    /// Throughput, latency percentiles and backend occupancy so far.
    pub fn stats(&self) -> DriverStats {
        self.stats.snapshot()
    }

    pub fn parameters(&self) -> &Parameters {
        &self.params
    }

    pub fn backend_name(&self) -> &str {
        &self.backend_name
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Closing the submission queue drains the pipeline: every queued job is answered.
        self.submit.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // Then the keys it uploaded leave the backend (a casting key handle still held by a
        // caller is refused from now on).
        let _ = self.backend.release_bootstrap_key(&self.bootstrap_key);
        for k in self
            .keyswitch_keys
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = self.backend.release_keyswitch_key(&k);
        }
    }
}

fn spawn_error(e: std::io::Error) -> Error {
    Error::Backend {
        backend: "driver".into(),
        reason: format!("cannot start a pipeline thread: {e}"),
    }
}

fn fail_all(jobs: Vec<Job>, error: &Error) {
    for job in jobs {
        let _ = job.reply.send(Err(error.clone()));
    }
}

/// What the batcher waits on: jobs, and the schedule's word that a rotation ended.
struct Inbox {
    jobs: Receiver<Job>,
    wake: Receiver<()>,
}

impl Inbox {
    /// The next job before `deadline`: `Ok(Some(job))`; `Ok(None)` at the deadline or when a
    /// rotation ended (the deadline may have moved); `Err(())` when the queue is closed.
    fn next(&self, deadline: Instant) -> std::result::Result<Option<Job>, ()> {
        select! {
            recv(self.jobs) -> job => job.map(Some).map_err(|_| ()),
            recv(self.wake) -> _ => Ok(None),
            default(deadline.saturating_duration_since(Instant::now())) => Ok(None),
        }
    }
}

/// Stage 1: forms batches (closed when full, or when [`BackendSchedule::close_at`] says),
/// keyswitches them and switches them to Z/2NZ.
fn batcher(
    inbox: Inbox,
    tx: Sender<PreparedBatch>,
    backend: &dyn Backend,
    ksk: &KeyswitchKeyHandle,
    params: &Parameters,
    config: &DriverConfig,
    (schedule, stats): (&Arc<BackendSchedule>, &StatsCollector),
) {
    let mut closed = false;
    while !closed {
        let first = match inbox.jobs.recv() {
            Ok(job) => job,
            Err(_) => break,
        };
        let opened = Instant::now();
        let mut jobs = vec![first];
        while jobs.len() < config.batch_size {
            let close_at = schedule.close_at(
                (jobs[0].submitted, opened),
                config.max_batch_wait,
                jobs.len(),
                config.batch_size,
            );
            if Instant::now() >= close_at {
                // Closing: the jobs already queued come along (up to a full batch).
                while jobs.len() < config.batch_size {
                    match inbox.jobs.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                break;
            }
            match inbox.next(close_at) {
                Ok(Some(job)) => jobs.push(job),
                Ok(None) => {}
                Err(()) => {
                    closed = true;
                    break;
                }
            }
        }
        let started = Instant::now();
        // Jobs grouped by their keyswitch key (the server key's, then each casting key's),
        // one backend keyswitch a group; the blind rotation takes the whole batch at once.
        jobs.sort_by_key(|j| j.keyswitch.as_ref().map_or(0, |h| Arc::as_ptr(h) as usize));
        let t = Instant::now();
        let msed = keyswitch_groups(backend, ksk, params, &jobs);
        let took = t.elapsed();
        stats.backend_time(took);
        let msed = match msed {
            Ok(m) => m,
            Err(e) => {
                stats.failed(jobs.len());
                fail_all(jobs, &e);
                continue;
            }
        };
        let tables: Vec<&dyn BootstrapTable> = jobs.iter().map(|j| &*j.table).collect();
        let accumulators = pack_accumulators(&tables);
        let ticket = schedule.prepared(jobs.len(), took);
        let batch = PreparedBatch {
            jobs,
            msed,
            accumulators,
            started,
            ticket,
        };
        if let Err(e) = tx.send(batch) {
            // The next stage is gone (only on shutdown after a panic): answer the jobs (the
            // batch's ticket leaves the schedule's queue with it).
            let batch = e.into_inner();
            fail_all(batch.jobs, &stopped());
        }
    }
}

/// Stage 1's keyswitch and modulus switch of a batch sorted by keyswitch key: one backend call
/// per run of jobs with the same key, outputs in the jobs' order.
fn keyswitch_groups(
    backend: &dyn Backend,
    server_ksk: &KeyswitchKeyHandle,
    params: &Parameters,
    jobs: &[Job],
) -> Result<Vec<u64>> {
    let mut msed = Vec::with_capacity(jobs.len() * (params.lwe_dimension.0 + 1));
    let mut start = 0;
    while start < jobs.len() {
        let key = jobs[start].keyswitch.as_ref();
        let same = |j: &Job| match (key, j.keyswitch.as_ref()) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        let end = start + jobs[start..].iter().take_while(|j| same(j)).count();
        let inputs: Vec<&Ciphertext> = jobs[start..end].iter().map(|j| &j.ciphertext).collect();
        let handle = key.map_or(server_ksk, |h| &**h);
        msed.extend(keyswitch_and_modulus_switch_batch(
            backend, handle, params, &inputs,
        )?);
        start = end;
    }
    Ok(msed)
}

fn stopped() -> Error {
    Error::Backend {
        backend: "driver".into(),
        reason: "the pipeline stopped".into(),
    }
}

/// Stage 2: blind rotation on the backend.
fn rotator(
    rx: Receiver<PreparedBatch>,
    tx: Sender<RotatedBatch>,
    backend: &dyn Backend,
    bsk: &BootstrapKeyHandle,
    (schedule, stats): (&BackendSchedule, &StatsCollector),
) {
    while let Ok(batch) = rx.recv() {
        let PreparedBatch {
            jobs,
            msed,
            mut accumulators,
            started,
            ticket,
        } = batch;
        let (result, took) = schedule.rotate(ticket, || {
            backend.blind_rotate_batch(bsk, &msed, &mut accumulators)
        });
        stats.backend_time(took);
        let rotated = RotatedBatch {
            jobs,
            result: result.map(|()| accumulators),
            started,
        };
        if let Err(e) = tx.send(rotated) {
            fail_all(e.into_inner().jobs, &stopped());
        }
    }
}

/// Stage 3: sample extraction and replies.
fn finisher(rx: Receiver<RotatedBatch>, params: &Parameters, key_id: u64, stats: &StatsCollector) {
    while let Ok(batch) = rx.recv() {
        let tables: Vec<&dyn BootstrapTable> = batch.jobs.iter().map(|j| &*j.table).collect();
        let outputs = batch
            .result
            .and_then(|accs| extract_outputs(params, key_id, &accs, &tables));
        drop(tables);
        match outputs {
            Err(e) => {
                stats.failed(batch.jobs.len());
                fail_all(batch.jobs, &e);
            }
            Ok(outputs) => {
                let count = batch.jobs.len();
                for job in &batch.jobs {
                    stats.job_latency(job.submitted.elapsed());
                }
                // Counters first, replies second: a caller that has its results sees them
                // counted.
                stats.batch_done(count, batch.started.elapsed());
                for (job, cts) in batch.jobs.into_iter().zip(outputs) {
                    let _ = job.reply.send(Ok(cts));
                }
            }
        }
    }
}
