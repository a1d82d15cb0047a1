//! The driver never loses or duplicates a job: thousands of jobs from several threads, random
//! batch sizes and queue depths, and a backend that fails on purpose.

use glovebox_driver::{BackendSchedule, Driver, DriverConfig};
use glovebox_engine::prelude::*;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct Setup {
    client: ClientKey,
    server: Arc<ServerKey>,
    luts: Vec<(Arc<LookupTable>, fn(u64) -> u64)>,
}

fn setup() -> Setup {
    let client = ClientKey::new(&TEST_PARAMS_INSECURE).unwrap();
    let server = Arc::new(client.server_key().unwrap());
    let fs: [fn(u64) -> u64; 4] = [|x| x, |x| x * x % 4, |x| (x >= 2) as u64, |x| 3 - x % 4];
    let luts = fs
        .iter()
        .map(|&f| (Arc::new(server.generate_lookup_table(f)), f))
        .collect();
    Setup {
        client,
        server,
        luts,
    }
}

#[test]
fn thousands_of_jobs_from_several_threads_with_random_batching() {
    let s = setup();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(41);
    for round in 0..3 {
        let config = DriverConfig {
            batch_size: rng.gen_range(1..=48),
            in_flight_batches: rng.gen_range(1..=3),
            queue_capacity: rng.gen_range(1..=64),
            max_batch_wait: Duration::from_micros(rng.gen_range(0..3000)),
            ..DriverConfig::default()
        };
        let driver = Driver::new(
            Arc::new(CpuBackend::new()),
            s.server.clone(),
            config.clone(),
        )
        .unwrap();
        let threads = 4;
        let per_thread = 250;
        std::thread::scope(|scope| {
            for t in 0..threads {
                let driver = &driver;
                let s = &s;
                scope.spawn(move || {
                    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(100 * round + t);
                    // Submit a stream, waiting for some handles early and some late.
                    let mut pending = Vec::new();
                    for i in 0..per_thread {
                        let m = rng.gen_range(0..4);
                        let l = rng.gen_range(0..s.luts.len());
                        let h = driver
                            .submit(s.client.encrypt(m).unwrap(), s.luts[l].0.clone())
                            .unwrap();
                        pending.push((m, l, h));
                        if i % 17 == 0 {
                            for (m, l, h) in pending.drain(..) {
                                let out = h.wait().unwrap();
                                assert_eq!(s.client.decrypt(&out).unwrap(), (s.luts[l].1)(m));
                            }
                        }
                    }
                    for (m, l, h) in pending {
                        let out = h.wait().unwrap();
                        assert_eq!(s.client.decrypt(&out).unwrap(), (s.luts[l].1)(m));
                    }
                });
            }
        });
        let stats = driver.stats();
        assert_eq!(stats.completed, (threads * per_thread) as u64, "{config:?}");
        assert_eq!(stats.failed, 0);
        assert!(stats.mean_batch_size <= config.batch_size as f64 + 1e-9);
        assert!(stats.batches as usize >= (threads * per_thread) as usize / config.batch_size);
        assert!(stats.pbs_per_s > 0.0 && stats.backend_busy > 0.0);
        assert!(stats.batch_latency_ms.p50 <= stats.batch_latency_ms.p99);
    }
}

#[test]
fn bootstrap_many_keeps_the_callers_order() {
    let s = setup();
    let driver = Driver::new(
        Arc::new(CpuBackend::new()),
        s.server.clone(),
        DriverConfig {
            batch_size: 5,
            ..DriverConfig::default()
        },
    )
    .unwrap();
    let msgs: Vec<u64> = (0..37).map(|i| (i * 3 + 1) % 4).collect();
    let outs = driver.bootstrap_many(
        msgs.iter()
            .map(|&m| (s.client.encrypt(m).unwrap(), s.luts[0].0.clone())),
    );
    let got: Vec<u64> = outs
        .into_iter()
        .map(|r| s.client.decrypt(&r.unwrap()).unwrap())
        .collect();
    assert_eq!(got, msgs);
}

/// A CPU backend that fails every `ks_every`-th keyswitch and `br_every`-th blind rotation.
struct FlakyBackend {
    inner: CpuBackend,
    ks_calls: AtomicUsize,
    br_calls: AtomicUsize,
    ks_every: usize,
    br_every: usize,
}

impl Backend for FlakyBackend {
    fn name(&self) -> String {
        "flaky".into()
    }
    fn upload_bootstrap_key(&self, bsk: &LweBootstrapKey) -> Result<BootstrapKeyHandle> {
        self.inner.upload_bootstrap_key(bsk)
    }
    fn upload_keyswitch_key(&self, ksk: &LweKeyswitchKey) -> Result<KeyswitchKeyHandle> {
        self.inner.upload_keyswitch_key(ksk)
    }
    fn release_bootstrap_key(&self, bsk: &BootstrapKeyHandle) -> Result<()> {
        self.inner.release_bootstrap_key(bsk)
    }
    fn release_keyswitch_key(&self, ksk: &KeyswitchKeyHandle) -> Result<()> {
        self.inner.release_keyswitch_key(ksk)
    }
    fn blind_rotate_batch(
        &self,
        bsk: &BootstrapKeyHandle,
        msed: &[u64],
        accs: &mut [u64],
    ) -> Result<()> {
        if self.br_calls.fetch_add(1, Ordering::SeqCst) % self.br_every == self.br_every - 1 {
            return Err(Error::Backend {
                backend: "flaky".into(),
                reason: "injected device fault (blind rotation)".into(),
            });
        }
        self.inner.blind_rotate_batch(bsk, msed, accs)
    }
    fn keyswitch_batch(
        &self,
        ksk: &KeyswitchKeyHandle,
        inputs: &[u64],
        outputs: &mut [u64],
    ) -> Result<()> {
        if self.ks_calls.fetch_add(1, Ordering::SeqCst) % self.ks_every == self.ks_every - 1 {
            return Err(Error::Backend {
                backend: "flaky".into(),
                reason: "injected device fault (keyswitch)".into(),
            });
        }
        self.inner.keyswitch_batch(ksk, inputs, outputs)
    }
}

#[test]
fn a_failing_backend_fails_only_its_batches_and_the_driver_keeps_serving() {
    let s = setup();
    let backend = Arc::new(FlakyBackend {
        inner: CpuBackend::new(),
        ks_calls: AtomicUsize::new(0),
        br_calls: AtomicUsize::new(0),
        ks_every: 5,
        br_every: 3,
    });
    let config = DriverConfig {
        batch_size: 8,
        in_flight_batches: 2,
        queue_capacity: 16,
        max_batch_wait: Duration::from_millis(1),
        ..DriverConfig::default()
    };
    let driver = Driver::new(backend, s.server.clone(), config).unwrap();
    let total = 600;
    let (ok, failed) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..3)
            .map(|t| {
                let driver = &driver;
                let s = &s;
                scope.spawn(move || {
                    let mut ok = 0;
                    let mut failed = 0;
                    let handles: Vec<_> = (0..total / 3)
                        .map(|i| {
                            let m = ((i + t) % 4) as u64;
                            (
                                m,
                                driver
                                    .submit(s.client.encrypt(m).unwrap(), s.luts[3].0.clone())
                                    .unwrap(),
                            )
                        })
                        .collect();
                    for (m, h) in handles {
                        match h.wait() {
                            Ok(out) => {
                                assert_eq!(s.client.decrypt(&out).unwrap(), 3 - m);
                                ok += 1;
                            }
                            Err(Error::Backend { reason, .. }) => {
                                assert!(reason.contains("injected"), "{reason}");
                                failed += 1;
                            }
                            Err(e) => panic!("unexpected error {e}"),
                        }
                    }
                    (ok, failed)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    // Every job answered exactly once; both outcomes occurred.
    assert_eq!(ok + failed, total);
    assert!(ok > 0 && failed > 0, "ok {ok} failed {failed}");
    let stats = driver.stats();
    assert_eq!(stats.completed as usize, ok);
    assert_eq!(stats.failed as usize, failed);
    // After the faults, the driver still serves.
    let out = driver.bootstrap(s.client.encrypt(1).unwrap(), s.luts[0].0.clone());
    let out = out.or_else(|_| driver.bootstrap(s.client.encrypt(1).unwrap(), s.luts[0].0.clone()));
    let out = out.or_else(|_| driver.bootstrap(s.client.encrypt(1).unwrap(), s.luts[0].0.clone()));
    assert_eq!(s.client.decrypt(&out.unwrap()).unwrap(), 1);
}

#[test]
fn foreign_inputs_are_refused_with_typed_errors() {
    let s = setup();
    let driver = Driver::new(
        Arc::new(CpuBackend::new()),
        s.server.clone(),
        DriverConfig::default(),
    )
    .unwrap();
    let other = ClientKey::new(&TEST_PARAMS_INSECURE).unwrap();
    assert!(matches!(
        driver.submit(other.encrypt(1).unwrap(), s.luts[0].0.clone()),
        Err(Error::KeyMismatch { .. })
    ));
    let mut ct = s.client.encrypt(1).unwrap();
    ct.parameters_fingerprint ^= 1;
    assert!(matches!(
        driver.submit(ct, s.luts[0].0.clone()),
        Err(Error::ParameterMismatch { .. })
    ));
    assert!(matches!(
        Driver::new(
            Arc::new(CpuBackend::new()),
            s.server.clone(),
            DriverConfig {
                batch_size: 0,
                ..DriverConfig::default()
            }
        ),
        Err(Error::InvalidParameters(_))
    ));
}

/// The driver runs the engine's batched path: its outputs equal `ResidentServerKey`'s word for
/// word, one- and many-function tables alike.
#[test]
fn driver_outputs_equal_the_engine_batch_word_for_word() {
    let s = setup();
    let backend = Arc::new(CpuBackend::new());
    let driver = Driver::new(backend.clone(), s.server.clone(), DriverConfig::default()).unwrap();
    let resident = s.server.upload(&*backend).unwrap();
    let many = Arc::new(
        s.server
            .generate_many_lookup_table(&[&|x| x, &|x| (x >= 3) as u64])
            .unwrap(),
    );
    let cts: Vec<Ciphertext> = (0..8).map(|m| s.client.encrypt(m).unwrap()).collect();
    let refs: Vec<&Ciphertext> = cts.iter().collect();
    let engine_many = resident
        .apply_many_lookup_table_batch(&refs, &vec![&*many; cts.len()])
        .unwrap();
    let one = &s.luts[1].0;
    let engine_one = resident
        .apply_lookup_table_batch(&refs, &vec![&**one; cts.len()])
        .unwrap();
    for (i, ct) in cts.iter().enumerate() {
        let outs = driver
            .submit_many(ct.clone(), many.clone())
            .unwrap()
            .wait_all()
            .unwrap();
        assert_eq!(outs, engine_many[i], "many-function job {i}");
        assert_eq!(s.client.decrypt(&outs[1]).unwrap(), (i >= 3) as u64);
        let out = driver.bootstrap(ct.clone(), one.clone()).unwrap();
        assert_eq!(out, engine_one[i], "one-function job {i}");
    }
}

/// A CPU backend whose blind rotations take at least `delay` each, and which counts the
/// rotations running at once (the most seen).
struct SlowBackend {
    inner: CpuBackend,
    delay: Duration,
    running: AtomicUsize,
    most_running: AtomicUsize,
}

impl SlowBackend {
    fn new(delay: Duration) -> Self {
        Self {
            inner: CpuBackend::new(),
            delay,
            running: AtomicUsize::new(0),
            most_running: AtomicUsize::new(0),
        }
    }
}

impl Backend for SlowBackend {
    fn name(&self) -> String {
        "slow".into()
    }
    fn upload_bootstrap_key(&self, bsk: &LweBootstrapKey) -> Result<BootstrapKeyHandle> {
        self.inner.upload_bootstrap_key(bsk)
    }
    fn upload_keyswitch_key(&self, ksk: &LweKeyswitchKey) -> Result<KeyswitchKeyHandle> {
        self.inner.upload_keyswitch_key(ksk)
    }
    fn release_bootstrap_key(&self, bsk: &BootstrapKeyHandle) -> Result<()> {
        self.inner.release_bootstrap_key(bsk)
    }
    fn release_keyswitch_key(&self, ksk: &KeyswitchKeyHandle) -> Result<()> {
        self.inner.release_keyswitch_key(ksk)
    }
    fn blind_rotate_batch(
        &self,
        bsk: &BootstrapKeyHandle,
        msed: &[u64],
        accs: &mut [u64],
    ) -> Result<()> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_running.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        let out = self.inner.blind_rotate_batch(bsk, msed, accs);
        self.running.fetch_sub(1, Ordering::SeqCst);
        out
    }
    fn keyswitch_batch(
        &self,
        ksk: &KeyswitchKeyHandle,
        inputs: &[u64],
        outputs: &mut [u64],
    ) -> Result<()> {
        self.inner.keyswitch_batch(ksk, inputs, outputs)
    }
}

/// Jobs that come one by one while the backend rotates join one batch, the next to rotate,
/// instead of a batch each per window; a lone job on an idle backend goes alone. With
/// batching by the window alone, the 24 jobs below (one every 2 ms, window 1 ms) would make
/// about 24 batches.
#[test]
fn jobs_that_come_while_the_backend_is_busy_join_the_next_batch() {
    let s = setup();
    let backend = Arc::new(SlowBackend::new(Duration::from_millis(400)));
    let config = DriverConfig {
        max_batch_wait: Duration::from_millis(1),
        ..DriverConfig::default()
    };
    let driver = Driver::new(backend.clone(), s.server.clone(), config).unwrap();
    let lut = &s.luts[3];
    // A lone job: one batch of one.
    let lone = driver
        .submit(s.client.encrypt(1).unwrap(), lut.0.clone())
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    // While it rotates, 24 jobs one by one.
    let handles: Vec<_> = (0..24u64)
        .map(|i| {
            std::thread::sleep(Duration::from_millis(2));
            (
                i % 4,
                driver
                    .submit(s.client.encrypt(i % 4).unwrap(), lut.0.clone())
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(s.client.decrypt(&lone.wait().unwrap()).unwrap(), lut.1(1));
    for (m, h) in handles {
        assert_eq!(s.client.decrypt(&h.wait().unwrap()).unwrap(), lut.1(m));
    }
    let stats = driver.stats();
    assert_eq!(stats.completed, 25);
    assert_eq!(stats.batches, 2, "{stats:?}");
    assert_eq!(stats.largest_batch, 24, "{stats:?}");
}

/// Two drivers (two keys: two clinics) on one backend with one schedule: their rotations
/// take turns, never overlap, and the jobs of each that come while the other's batch rotates
/// join one batch.
#[test]
fn drivers_that_share_a_schedule_take_turns_on_the_backend() {
    let (a, b) = (setup(), setup());
    let backend = Arc::new(SlowBackend::new(Duration::from_millis(300)));
    let config = DriverConfig {
        max_batch_wait: Duration::from_millis(1),
        schedule: Some(Arc::new(BackendSchedule::new())),
        ..DriverConfig::default()
    };
    let da = Driver::new(backend.clone(), a.server.clone(), config.clone()).unwrap();
    let db = Driver::new(backend.clone(), b.server.clone(), config).unwrap();
    // Clinic a's lone job rotates; meanwhile clinic b's jobs come one by one, and more of a's.
    let lone = da
        .submit(a.client.encrypt(2).unwrap(), a.luts[0].0.clone())
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut handles = Vec::new();
    for i in 0..16u64 {
        std::thread::sleep(Duration::from_millis(2));
        let (s, d) = if i % 2 == 0 { (&b, &db) } else { (&a, &da) };
        let h = d
            .submit(s.client.encrypt(i % 4).unwrap(), s.luts[2].0.clone())
            .unwrap();
        handles.push((s, i % 4, h));
    }
    assert_eq!(a.client.decrypt(&lone.wait().unwrap()).unwrap(), 2);
    for (s, m, h) in handles {
        assert_eq!(
            s.client.decrypt(&h.wait().unwrap()).unwrap(),
            s.luts[2].1(m)
        );
    }
    assert_eq!(backend.most_running.load(Ordering::SeqCst), 1);
    let (sa, sb) = (da.stats(), db.stats());
    assert_eq!((sa.completed, sb.completed), (9, 8));
    // a: the lone job, then its 8 others together; b: its 8 together.
    assert_eq!((sa.batches, sb.batches), (2, 1), "{sa:?} {sb:?}");
}

/// A queue longer than a batch goes in full batches, however long its jobs waited: a batch that
/// closes at once (its hold's cap long past) still takes the jobs already queued.
#[test]
fn a_backlog_goes_in_full_batches() {
    let s = setup();
    let backend = Arc::new(SlowBackend::new(Duration::from_millis(150)));
    let config = DriverConfig {
        batch_size: 8,
        in_flight_batches: 1,
        max_batch_wait: Duration::from_millis(1),
        ..DriverConfig::default()
    };
    let driver = Driver::new(backend, s.server.clone(), config).unwrap();
    let lut = &s.luts[1];
    // A first rotation, so that the schedule has its estimates.
    driver
        .bootstrap(s.client.encrypt(1).unwrap(), lut.0.clone())
        .unwrap();
    let inputs: Vec<(u64, Ciphertext)> = (0..40u64)
        .map(|i| (i % 4, s.client.encrypt(i % 4).unwrap()))
        .collect();
    let handles: Vec<_> = inputs
        .into_iter()
        .map(|(m, ct)| (m, driver.submit(ct, lut.0.clone()).unwrap()))
        .collect();
    for (m, h) in handles {
        assert_eq!(s.client.decrypt(&h.wait().unwrap()).unwrap(), lut.1(m));
    }
    let stats = driver.stats();
    assert_eq!((stats.completed, stats.batches), (41, 6), "{stats:?}");
}
