//! The monitoring server: the rules on ciphertexts, through the host driver on any backend;
//! built from the server key alone.

use super::encrypted::{EncryptedAlerts, EncryptedReading, ReadingAlerts};
use super::rules::{count_blocks, expected_bootstraps, AlertRules};
use crate::prelude::*;
use crate::{Error, Result};
use glovebox_driver::{Driver, DriverCastingKey, DriverConfig, DriverStats};
use glovebox_engine::shortint::public_key::CastingKey;
use glovebox_engine::Error as EngineError;
use glovebox_integer::{BoolCiphertext, IntegerServer, RadixLayout, U8Predicate};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// The server side: evaluation keys, a backend behind the host driver, and the rules.
pub struct MonitoringServer {
    server_key: Arc<ServerKey>,
    driver: Driver,
    rules: AlertRules,
    heart_rate: U8Predicate,
    spo2: U8Predicate,
    steps_in_flight: usize,
    /// The clinic's casting key on the backend: readings from public-key devices need it.
    casting: Option<DriverCastingKey>,
}

/// Per time step, per patient.
struct StepAlerts {
    heart_rate: Vec<BoolCiphertext>,
    spo2: Vec<BoolCiphertext>,
    any: Vec<BoolCiphertext>,
}

impl MonitoringServer {
    /// Uploads the evaluation keys to `backend` (through the driver) and compiles the rules.
    pub fn new(
        server_key: Arc<ServerKey>,
        backend: Arc<dyn Backend>,
        rules: AlertRules,
        config: DriverConfig,
    ) -> Result<Self> {
        rules.validate()?;
        let p = server_key.parameters();
        if p.message_modulus * p.carry_modulus < 16 {
            return Err(Error::InvalidInput(format!(
                "vitals monitoring needs 4 bits of message and carry; {} has {}x{}",
                p.name, p.message_modulus, p.carry_modulus
            )));
        }
        let driver = Driver::new(backend, server_key.clone(), config)?;
        Ok(Self {
            heart_rate: rules.heart_rate_predicate(),
            spo2: rules.spo2_predicate(),
            server_key,
            driver,
            rules,
            steps_in_flight: 4,
            casting: None,
        })
    }

    /// Uploads the clinic's casting key (through the driver): the readings of its devices,
    /// encrypted under its public key, are cast with it in their first bootstraps.
    pub fn with_casting_key(mut self, key: &CastingKey) -> Result<Self> {
        self.casting = Some(self.driver.upload_casting_key(key)?);
        Ok(self)
    }

    /// How many time steps are evaluated concurrently (default 4): more steps in flight make
    /// larger batches for the backend, at the cost of latency per step.
    pub fn with_steps_in_flight(mut self, steps: usize) -> Self {
        self.steps_in_flight = steps.max(1);
        self
    }

    pub fn rules(&self) -> &AlertRules {
        &self.rules
    }

    /// The integer evaluator over this server's driver and key (records, cohorts:
    /// [`crate::records`]).
    pub fn integers(&self) -> Result<IntegerServer<'_>> {
        Ok(IntegerServer::new(&self.driver, &self.server_key)?)
    }

    /// The parameters of the server key.
    pub fn parameters(&self) -> &Parameters {
        self.server_key.parameters()
    }

    /// The bootstraps [`Self::monitor`] spends on a ward ([`expected_bootstraps`]).
    pub fn expected_bootstraps(&self, patients: usize, seconds: usize) -> Result<u64> {
        let layout = RadixLayout::new(self.server_key.parameters())?;
        Ok(expected_bootstraps(&self.rules, patients, seconds, &layout))
    }

    /// The driver's counters (bootstraps done, batch sizes, backend occupancy).
    pub fn driver_stats(&self) -> DriverStats {
        self.driver.stats()
    }

    pub fn backend_name(&self) -> &str {
        self.driver.backend_name()
    }

    /// Evaluates the rules over the ward's streams (`ward[patient][second]`, all the same
    /// length), time step by time step as they would arrive, several steps in flight.
    /// `on_step(done)` reports progress. Returns each patient's encrypted alerts.
    pub fn monitor(
        &self,
        ward: &[Vec<EncryptedReading>],
        on_step: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<EncryptedAlerts>> {
        let seconds = check_ward_shape(ward)?;
        let ints = IntegerServer::new(&self.driver, &self.server_key)?;
        let progress = Progress::new(seconds);
        let next_step = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..self.steps_in_flight.min(seconds) {
                scope.spawn(|| loop {
                    let t = next_step.fetch_add(1, Ordering::Relaxed);
                    if t >= seconds || progress.failed() {
                        return;
                    }
                    if let Err(e) = self.run_step(&ints, ward, t, &progress, on_step) {
                        progress.fail(e);
                        return;
                    }
                });
            }
        });
        let (steps, sustained) = progress.finish()?;
        self.assemble(&ints, &steps, sustained, seconds)
    }

    /// The streaming form of [`Self::monitor`]: one reading per item, each with the "any"
    /// flags of its stream's earlier readings (oldest first; only the last k − 1 are used).
    /// Where fewer than k − 1 are given (the start of a stream) "sustained" is a public false,
    /// as in [`Self::monitor`]. All items are bootstrapped together: 6 blind rotations each,
    /// and one more for "sustained".
    pub fn evaluate_readings(
        &self,
        items: &[(&EncryptedReading, Vec<&BoolCiphertext>)],
    ) -> Result<Vec<ReadingAlerts>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let ints = IntegerServer::new(&self.driver, &self.server_key)?;
        let readings: Vec<&EncryptedReading> = items.iter().map(|(r, _)| *r).collect();
        let flags = self.rule_flags(&ints, &readings)?;
        let windows: Vec<(&[&BoolCiphertext], &BoolCiphertext)> = items
            .iter()
            .zip(&flags)
            .map(|((_, previous), [_, _, any])| (previous.as_slice(), any))
            .collect();
        let sustained = self.sustained(&ints, &windows)?;
        Ok(flags
            .into_iter()
            .zip(sustained)
            .map(|([heart_rate, spo2, any], sustained)| ReadingAlerts {
                heart_rate,
                spo2,
                any,
                sustained,
            })
            .collect())
    }

    /// The rules on each reading, all bootstrapped together: heart rate outside its limits,
    /// SpO2 below its limit and their OR (6 blind rotations a reading).
    fn rule_flags(
        &self,
        ints: &IntegerServer,
        readings: &[&EncryptedReading],
    ) -> Result<Vec<[BoolCiphertext; 3]>> {
        let casting = self.casting.as_ref().ok_or_else(|| {
            Error::InvalidInput(
                "readings from public-key devices need the clinic's casting key \
                 (MonitoringServer::with_casting_key)"
                    .into(),
            )
        })?;
        let nibbles = readings
            .iter()
            .map(|r| r.nibbles())
            .collect::<Result<Vec<_>>>()?;
        let inputs: Vec<_> = nibbles
            .iter()
            .map(|(hr, spo2)| (hr, &self.heart_rate, spo2, &self.spo2))
            .collect();
        Ok(ints.predicates_with_or_compact(casting, &inputs)?)
    }

    /// "Sustained" for each reading, from its "any" flag and those of its stream's earlier
    /// readings (oldest first; only the last k − 1 are read), all bootstrapped together (one
    /// blind rotation a reading). Where fewer than k − 1 earlier flags exist (the start of a
    /// stream) it is a public false, no bootstrap; for k = 1 it is the "any" flag itself.
    fn sustained(
        &self,
        ints: &IntegerServer,
        windows: &[(&[&BoolCiphertext], &BoolCiphertext)],
    ) -> Result<Vec<BoolCiphertext>> {
        let k = self.rules.sustained_readings;
        let full = |previous: &[&BoolCiphertext]| k > 1 && previous.len() + 1 >= k;
        let groups: Vec<Vec<&BoolCiphertext>> = windows
            .iter()
            .filter(|(previous, _)| full(previous))
            .map(|(previous, any)| {
                let mut g = previous[previous.len() + 1 - k..].to_vec();
                g.push(*any);
                g
            })
            .collect();
        let mut anded = if groups.is_empty() {
            Vec::new()
        } else {
            ints.and_many(&groups)?
        }
        .into_iter();
        Ok(windows
            .iter()
            .map(|(previous, any)| {
                if k == 1 {
                    (*any).clone()
                } else if full(previous) {
                    anded.next().expect("one AND per full window")
                } else {
                    ints.trivial_bool(false)
                }
            })
            .collect())
    }

    /// Time step `t` for every patient: the rules ([`Self::rule_flags`]), then "sustained"
    /// ([`Self::sustained`]) once the k − 1 earlier steps have their "any" flags. The same two
    /// functions serve [`Self::evaluate_readings`]: one path evaluates the rules.
    fn run_step(
        &self,
        ints: &IntegerServer,
        ward: &[Vec<EncryptedReading>],
        t: usize,
        progress: &Progress,
        on_step: &(dyn Fn(usize) + Sync),
    ) -> Result<()> {
        let readings: Vec<&EncryptedReading> = ward.iter().map(|s| &s[t]).collect();
        let mut step = StepAlerts {
            heart_rate: Vec::with_capacity(ward.len()),
            spo2: Vec::with_capacity(ward.len()),
            any: Vec::with_capacity(ward.len()),
        };
        for [h, s, a] in self.rule_flags(ints, &readings)? {
            step.heart_rate.push(h);
            step.spo2.push(s);
            step.any.push(a);
        }
        let any = step.any.clone();
        progress.record_step(t, step);
        // The k − 1 earlier steps' "any" flags (waited for: they may still be in flight).
        let k = self.rules.sustained_readings;
        let window = if k > 1 && t + 1 >= k {
            progress.wait_for_any(t + 1 - k..t)?
        } else {
            Vec::new()
        };
        let previous: Vec<Vec<&BoolCiphertext>> = (0..ward.len())
            .map(|p| window.iter().map(|w| &w[p]).collect())
            .collect();
        let windows: Vec<(&[&BoolCiphertext], &BoolCiphertext)> = previous
            .iter()
            .zip(&any)
            .map(|(previous, any)| (previous.as_slice(), any))
            .collect();
        let sustained = self.sustained(ints, &windows)?;
        on_step(progress.record_sustained(t, sustained));
        Ok(())
    }

    /// Per patient: the flags of every step, and the count of the "any" flags.
    fn assemble(
        &self,
        ints: &IntegerServer,
        steps: &[StepAlerts],
        sustained: Vec<Vec<BoolCiphertext>>,
        seconds: usize,
    ) -> Result<Vec<EncryptedAlerts>> {
        let patients = steps[0].any.len();
        let any_per_patient: Vec<Vec<&BoolCiphertext>> = (0..patients)
            .map(|p| steps.iter().map(|s| &s.any[p]).collect())
            .collect();
        let counts = ints.count_flags(&any_per_patient, count_blocks(seconds, ints.layout()))?;
        Ok(counts
            .into_iter()
            .enumerate()
            .map(|(p, count)| EncryptedAlerts {
                heart_rate: steps.iter().map(|s| s.heart_rate[p].clone()).collect(),
                spo2: steps.iter().map(|s| s.spo2[p].clone()).collect(),
                any: steps.iter().map(|s| s.any[p].clone()).collect(),
                sustained: sustained.iter().map(|s| s[p].clone()).collect(),
                count,
            })
            .collect())
    }
}

/// Checks that the ward has at least one reading and streams of one length; returns it.
fn check_ward_shape(ward: &[Vec<EncryptedReading>]) -> Result<usize> {
    let seconds = ward.first().map(|s| s.len()).unwrap_or(0);
    if seconds == 0 {
        return Err(Error::InvalidInput(
            "no readings to monitor (empty ward or empty stream)".into(),
        ));
    }
    for s in ward {
        if s.len() != seconds {
            return Err(EngineError::DimensionMismatch {
                what: "readings per patient stream",
                expected: seconds,
                got: s.len(),
            }
            .into());
        }
    }
    Ok(seconds)
}

/// What the steps in flight share: finished steps, sustained flags, the first error.
struct Progress {
    state: Mutex<ProgressState>,
    ready: Condvar,
}

struct ProgressState {
    steps: Vec<Option<StepAlerts>>,
    sustained: Vec<Option<Vec<BoolCiphertext>>>,
    failed: Option<Error>,
    done: usize,
}

impl Progress {
    fn new(seconds: usize) -> Self {
        Self {
            state: Mutex::new(ProgressState {
                steps: (0..seconds).map(|_| None).collect(),
                sustained: vec![None; seconds],
                failed: None,
                done: 0,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failed(&self) -> bool {
        self.lock().failed.is_some()
    }

    /// Keeps the first error and wakes every waiting step.
    fn fail(&self, e: Error) {
        self.lock().failed.get_or_insert(e);
        self.ready.notify_all();
    }

    fn record_step(&self, t: usize, step: StepAlerts) {
        self.lock().steps[t] = Some(step);
        self.ready.notify_all();
    }

    /// Stores step `t`'s sustained flags; returns how many steps are done.
    fn record_sustained(&self, t: usize, flags: Vec<BoolCiphertext>) -> usize {
        let mut s = self.lock();
        s.sustained[t] = Some(flags);
        s.done += 1;
        s.done
    }

    /// The "any" flags of `steps`, once they are all recorded (or the first error).
    fn wait_for_any(&self, steps: std::ops::Range<usize>) -> Result<Vec<Vec<BoolCiphertext>>> {
        let mut s = self.lock();
        loop {
            if let Some(e) = &s.failed {
                return Err(e.clone());
            }
            if s.steps[steps.clone()].iter().all(Option::is_some) {
                return Ok(steps
                    .map(|u| s.steps[u].as_ref().expect("checked").any.clone())
                    .collect());
            }
            s = self.ready.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Every step's alerts and sustained flags, or the first error.
    #[allow(clippy::type_complexity)]
    fn finish(self) -> Result<(Vec<StepAlerts>, Vec<Vec<BoolCiphertext>>)> {
        let s = self.state.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = s.failed {
            return Err(e);
        }
        let steps = s
            .steps
            .into_iter()
            .map(|x| x.expect("every step finished"))
            .collect();
        let sustained = s
            .sustained
            .into_iter()
            .map(|x| x.expect("every step finished"))
            .collect();
        Ok((steps, sustained))
    }
}
