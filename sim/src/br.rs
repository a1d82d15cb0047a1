//! The blind-rotation unit (`hdl/br_unit.sv`), simulated cycle by cycle with its key memory:
//! [`BlindRotationUnit::blind_rotate_batch`] blind-rotates a batch of accumulators exactly as
//! [`glovebox_engine::algorithms::blind_rotate_assign`] does (word for word), and reports the
//! cycles, the key rows read and the stall cycles ([`BrRun`]). [`BrCycleModel`] predicts the
//! cycles from the shapes, the lanes, the key memory and the latencies the RTL exports, names
//! the binding term, and the tests require the simulation to equal it.
//!
//! The unit (see the header of `hdl/br_unit.sv`): one job per ciphertext and GGSW, issued back
//! to back, each streaming the digits of `acc·X^a − acc` through a forward NTT unit into
//! K1 multiply-accumulate units fed from a two-GGSW buffer, then the sums through an inverse
//! NTT unit into the on-chip accumulators. Every GGSW serves the whole batch before the next is
//! used, and the next is loaded meanwhile.
//!
//! ```no_run
//! use glovebox_engine::prelude::*;
//! use glovebox_sim::br::BlindRotationUnit;
//! use glovebox_sim::KeyMemory;
//! # fn keys() -> (NttLweBootstrapKey, Vec<u64>, Vec<u64>) { unimplemented!() }
//! let (bsk, msed, mut accumulators) = keys();
//! let memory = KeyMemory { words_per_cycle: 4, latency: 100 };
//! let mut unit = BlindRotationUnit::for_key(&bsk, 4, memory)?;
//! let run = unit.blind_rotate_batch(&bsk, &msed, &mut accumulators)?;
//! println!("{} cycles, bound by {}", run.cycles, run.batches[0].model.binding);
//! # Ok::<(), glovebox_engine::Error>(())
//! ```

use crate::accelerator::Channel;
use crate::unit::{check_memory, checked_batch, not_built, KeyMemory};
use crate::{on_model_stack, sim_error};
use glovebox_engine::commons::modp;
use glovebox_engine::entities::NttLweBootstrapKey;
use glovebox_engine::parameters::ModulusSwitchType;
use glovebox_engine::{Error, Result};
use std::time::Instant;

#[cxx::bridge(namespace = "glovebox_sim")]
mod ffi {
    /// A built configuration's `br_unit` parameters.
    struct BrLimits {
        poly: u32,
        lanes: u32,
        k1: u32,
        max_levels: u32,
        max_base_log: u32,
        max_batch: u32,
    }

    /// The unit's latency ports.
    struct BrLatencies {
        fwd: u32,
        inv: u32,
        mac: u32,
        pipe: u32,
        release: u32,
        out_delay: u32,
        /// GGSWs the unit's key buffer holds (`key_slots`).
        key_slots: u32,
    }

    /// One batch for the harness (`cpp/br_harness.h`).
    struct BrJob {
        n: u32,
        levels: u32,
        base_log: u32,
        batch: u32,
        bandwidth: u32,
        key_latency: u32,
        bound: u64,
        /// 0: the rotations are switched already; 1: LWE words the unit switches; 2: likewise
        /// with the centered-mean body correction.
        switch_kind: u32,
        /// The results leave as LWE ciphertexts (sample-extracted) instead of accumulators.
        extract: bool,
    }

    /// What the harness measured.
    struct BrStats {
        cycles: u64,
        key_rows: u64,
        key_stall_cycles: u64,
        loop_stall_cycles: u64,
    }

    unsafe extern "C++" {
        include!("glovebox-sim/cpp/br.h");

        type BrSim;
        fn new_br_sim(poly: u32, lanes: u32) -> UniquePtr<BrSim>;
        fn br_configs() -> Vec<BrLimits>;
        fn limits(self: &BrSim) -> BrLimits;
        fn latencies(self: &BrSim) -> BrLatencies;
        fn run(
            self: Pin<&mut BrSim>,
            job: &BrJob,
            key: &[u64],
            rot: &[u64],
            acc: &[u64],
            out: &mut [u64],
        ) -> Result<BrStats>;
    }
}

pub use ffi::BrLatencies;

crate::unit::send_model!(ffi::BrSim);

/// A blind-rotation unit configuration built into this library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrUnitConfig {
    /// N: coefficients per polynomial.
    pub polynomial_size: usize,
    /// C: coefficients per cycle through every stage.
    pub lanes: usize,
    /// k + 1: polynomials per GLWE ciphertext.
    pub glwe_size: usize,
    /// Most decomposition levels.
    pub max_levels: usize,
    /// Largest decomposition base log.
    pub max_base_log: usize,
    /// Accumulators held on chip (ciphertexts per pass over the key).
    pub max_batch: usize,
}

impl From<ffi::BrLimits> for BrUnitConfig {
    fn from(k: ffi::BrLimits) -> Self {
        Self {
            polynomial_size: k.poly as usize,
            lanes: k.lanes as usize,
            glwe_size: k.k1 as usize,
            max_levels: k.max_levels as usize,
            max_base_log: k.max_base_log as usize,
            max_batch: k.max_batch as usize,
        }
    }
}

/// The blind-rotation unit configurations built into this library.
pub fn br_configs() -> Vec<BrUnitConfig> {
    ffi::br_configs().into_iter().map(Into::into).collect()
}

/// The latency ports of a unit with polynomial size `n` and `lanes` lanes, built or not: the
/// NTT units' from [`crate::NttUnit::analytic_latency`] (which the NTT tests hold equal to the
/// RTL's port), the mac_unit's and the unit's own registers from a built unit's ports (they do
/// not depend on N or C). For projections of configurations too wide to simulate here.
pub fn projected_latencies(n: usize, lanes: usize) -> Result<BrLatencies> {
    let built = br_configs()
        .into_iter()
        .next()
        .ok_or_else(|| sim_error("no blind-rotation unit built"))?;
    let unit = BlindRotationUnit::new(
        built.polynomial_size,
        built.lanes,
        KeyMemory {
            words_per_cycle: 1,
            latency: 0,
        },
    )?;
    let ntt = crate::NttUnit::analytic_latency(n, lanes) as u32;
    Ok(BrLatencies {
        fwd: ntt,
        inv: ntt,
        ..unit.latencies()
    })
}

/// The shape of one batch as the unit sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrShape {
    /// n: LWE dimension of the inputs (GGSWs in the key).
    pub lwe_dimension: usize,
    /// N.
    pub polynomial_size: usize,
    /// k + 1.
    pub glwe_size: usize,
    /// ℓ: decomposition levels of the key.
    pub levels: usize,
    /// B: ciphertexts in the batch.
    pub batch: usize,
    /// The results leave sample-extracted: (k + 1 − 1) W + 1 output rows a ciphertext instead
    /// of (k + 1) W.
    pub extract: bool,
}

impl BrShape {
    /// The shape of `bsk` with a batch of `batch` ciphertexts.
    pub fn of_key(bsk: &NttLweBootstrapKey, batch: usize) -> Self {
        Self {
            lwe_dimension: bsk.input_lwe_dimension().0,
            polynomial_size: bsk.polynomial_size().0,
            glwe_size: bsk.glwe_size().0,
            levels: bsk.decomposition_level_count().0,
            batch,
            extract: false,
        }
    }
}

/// What bounds a batch's cycles at steady state (cycles per GGSW, the largest wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrBinding {
    /// The NTT units and multipliers: B jobs of ℓ (k+1) N / C cycles per GGSW.
    Compute,
    /// The loop: a ciphertext's next job waits for its write-back (the batch is too small to
    /// cover the pipeline's latency).
    LoopLatency,
    /// The key memory's bandwidth: a GGSW takes longer to arrive than to use.
    KeyBandwidth,
    /// The key memory's latency: the GGSW buffer's slots (`key_slots`) do not cover it.
    KeyLatency,
}

impl std::fmt::Display for BrBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Compute => "compute",
            Self::LoopLatency => "loop latency",
            Self::KeyBandwidth => "key bandwidth",
            Self::KeyLatency => "key latency",
        })
    }
}

/// The recurrence of [`BrCycleModel`] one GGSW at a time, each GGSW's transfer begun when
/// whoever grants the memory says (a key memory of the unit's own, or a channel it shares:
/// [`crate::accelerator`]). Times are cycles from the unit's start.
#[derive(Clone, Debug)]
pub(crate) struct BrStepper {
    b: usize,
    n: usize,
    t: u64,
    lambda: u64,
    release: u64,
    slots: usize,
    rows_d: u64,
    lk: u64,
    out_rows: u64,
    out_delay: u64,
    /// Issue cycle of every job of the GGSWs granted so far.
    s: Vec<u64>,
    prev_end: u64,
}

impl BrStepper {
    pub(crate) fn new(
        shape: &BrShape,
        lanes: usize,
        memory: &KeyMemory,
        lat: &BrLatencies,
    ) -> Self {
        let w = (shape.polynomial_size / lanes) as u64;
        let k1 = shape.glwe_size as u64;
        let b = shape.batch.max(1) as u64;
        let t = shape.levels as u64 * k1 * w;
        let rows = shape.levels as u64 * k1 * k1 * w;
        let d = (lanes as u64).div_ceil(u64::from(memory.words_per_cycle.max(1)));
        let (lf, li, lm) = (u64::from(lat.fwd), u64::from(lat.inv), u64::from(lat.mac));
        let load = b * k1 * w;
        Self {
            b: b as usize,
            n: shape.lwe_dimension,
            t,
            lambda: t + k1 * w + lf + li + lm + u64::from(lat.pipe),
            release: t + lf + lm + u64::from(lat.release),
            slots: lat.key_slots.max(1) as usize,
            rows_d: rows * d,
            lk: u64::from(memory.latency),
            out_rows: if shape.extract {
                b * ((k1 - 1) * w + 1)
            } else {
                load
            },
            out_delay: u64::from(lat.out_delay),
            s: Vec::with_capacity(shape.lwe_dimension * b as usize),
            prev_end: load + 1,
        }
    }

    /// The first cycle the unit asks for its next GGSW (`key_req`: a slot is free), or `None`
    /// when every GGSW is granted.
    pub(crate) fn ready(&self) -> Option<u64> {
        let g = self.s.len() / self.b;
        if g == self.n {
            None
        } else if g < self.slots {
            Some(1)
        } else {
            Some(self.s[(g - self.slots) * self.b + self.b - 1] + self.release)
        }
    }

    /// Channel cycles of one GGSW.
    pub(crate) fn transfer_cycles(&self) -> u64 {
        self.rows_d
    }

    /// The next GGSW's transfer begins in cycle `f`.
    pub(crate) fn granted(&mut self, f: u64) {
        let loaded = f + self.rows_d + self.lk + 1;
        for _ in 0..self.b {
            let j = self.s.len();
            let mut sj = self.prev_end.max(loaded);
            if j >= self.b {
                sj = sj.max(self.s[j - self.b] + self.lambda);
            }
            self.s.push(sj);
            self.prev_end = sj + self.t;
        }
    }

    /// Cycles from the start to the last output row, once every GGSW is granted.
    pub(crate) fn cycles(&self) -> u64 {
        let last = self.s.last().copied().unwrap_or(0);
        (last + self.t).max(last + self.lambda) + self.out_rows + self.out_delay
    }
}

/// The cycle count of one batch, from the structure documented in `hdl/br_unit.sv`.
///
/// With W = N / C rows per polynomial, T = ℓ (k+1) W cycles per job, R = ℓ (k+1)² W key rows
/// per GGSW arriving d = ⌈C / K⌉ cycles apart (K words per cycle) after a latency L_k, and
/// Λ = T + (k+1) W + L_f + L_i + L_m + PIPE (the latency ports): the first job may issue at
/// E = B (k+1) W + 1 (the accumulators loaded), job j = i B + b at
///   S_j = max(S_(j−1) + T, G_i, S_(j−B) + Λ),
/// GGSW g is loaded at G_g = F_g + R d + L_k + 1, its transfer begun at
///   F_g = max(F_(g−1) + R d, S_((g−2) B + B − 1) + T + L_f + L_m + RELEASE),  F_0 = 1,
/// and the last output row leaves at max(S_last + T, S_last + Λ) + B (k+1) W + OUT_DELAY.
/// The recurrence runs over the n B jobs (exact, O(n B)); at steady state a GGSW costs the
/// largest of the four terms of [`BrCycleModel::terms`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BrCycleModel {
    /// Cycles from `start` to the last output row.
    pub cycles: u64,
    /// The binding term at steady state.
    pub binding: BrBinding,
    /// Steady-state cycles per GGSW: compute, loop latency, key bandwidth, key latency.
    pub terms: [f64; 4],
    /// Cycles per job: ℓ (k+1) N / C.
    pub job_cycles: u64,
    /// Jobs in the batch: n B.
    pub jobs: u64,
    /// Cycles from a job's issue to its write-back: Λ.
    pub loop_latency: u64,
    /// Key words read per batch: n ℓ (k+1)² N.
    pub key_words: u64,
    /// Cycles the forward NTT unit takes input (n B T), and the inverse (n B (k+1) W).
    pub fwd_busy: u64,
    pub inv_busy: u64,
}

impl BrCycleModel {
    /// The model of one batch of `shape` on a unit of `lanes` lanes with latency ports `lat`.
    pub fn new(shape: &BrShape, lanes: usize, memory: &KeyMemory, lat: &BrLatencies) -> Self {
        let w = (shape.polynomial_size / lanes) as u64;
        let k1 = shape.glwe_size as u64;
        let b = shape.batch.max(1) as u64;
        let n = shape.lwe_dimension as u64;
        let t = shape.levels as u64 * k1 * w;
        let rows = shape.levels as u64 * k1 * k1 * w;
        let d = (lanes as u64).div_ceil(u64::from(memory.words_per_cycle.max(1)));
        let lk = u64::from(memory.latency);
        let (lf, li, lm) = (u64::from(lat.fwd), u64::from(lat.inv), u64::from(lat.mac));
        let lambda = t + k1 * w + lf + li + lm + u64::from(lat.pipe);
        let release = t + lf + lm + u64::from(lat.release);
        let slots = lat.key_slots.max(1) as usize;
        let jobs = n * b;
        // The stepper on a key memory of the unit's own.
        let mut stepper = BrStepper::new(shape, lanes, memory, lat);
        let mut channel = Channel::new(memory.latency, 0);
        let mut now = 0;
        while let Some(want) = stepper.ready() {
            now = want.max(channel.free_at()).max(now);
            channel.grant(now, stepper.transfer_cycles());
            stepper.granted(now);
        }
        let cycles = stepper.cycles();
        let terms = [
            (b * t) as f64,
            lambda as f64,
            (rows * d) as f64,
            ((b - 1) * t + release + rows * d + lk + 1) as f64 / slots as f64,
        ];
        let bindings = [
            BrBinding::Compute,
            BrBinding::LoopLatency,
            BrBinding::KeyBandwidth,
            BrBinding::KeyLatency,
        ];
        let (mut best, mut binding) = (terms[0], bindings[0]);
        for (x, bd) in terms.iter().zip(bindings).skip(1) {
            if *x > best {
                best = *x;
                binding = bd;
            }
        }
        Self {
            cycles,
            binding,
            terms,
            job_cycles: t,
            jobs,
            loop_latency: lambda,
            key_words: n * rows * lanes as u64,
            fwd_busy: jobs * t,
            inv_busy: jobs * k1 * w,
        }
    }

    /// Steady-state cycles per batch (a stream of batches, fill and drain left out): n times
    /// the largest term.
    pub fn steady_cycles_per_batch(&self, lwe_dimension: usize) -> f64 {
        let worst = self.terms.iter().cloned().fold(0.0, f64::max);
        worst * lwe_dimension as f64
    }
}

/// What one batch through the unit cost, measured, beside its model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BrBatchRun {
    /// Ciphertexts in the batch.
    pub batch: usize,
    /// Cycles from `start` to the last output row.
    pub cycles: u64,
    /// Key rows (C words each) the unit took.
    pub key_rows: u64,
    /// The unit's counters: issue cycles waiting for a GGSW, and for a write-back.
    pub key_stall_cycles: u64,
    pub loop_stall_cycles: u64,
    /// The model of this batch.
    pub model: BrCycleModel,
}

/// What one call cost: its batches, one after the other.
#[derive(Clone, Debug, PartialEq)]
pub struct BrRun {
    pub batches: Vec<BrBatchRun>,
    /// Ciphertexts blind-rotated.
    pub ciphertexts: usize,
    /// Cycles of all batches.
    pub cycles: u64,
    /// Key words read (every batch reads the whole key once).
    pub key_words: u64,
    /// Wall-clock seconds the simulation took.
    pub wall_seconds: f64,
}

crate::unit::simulated_run!(BrRun);

/// What the unit's ends do: take switched rotations (`switch` none) or LWE words it switches,
/// and return accumulators or sample-extracted LWE ciphertexts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BrIo {
    switch: Option<ModulusSwitchType>,
    extract: bool,
}

/// A simulated blind-rotation unit of one built configuration, with its key memory.
pub struct BlindRotationUnit {
    sim: cxx::UniquePtr<ffi::BrSim>,
    config: BrUnitConfig,
    memory: KeyMemory,
    batch: usize,
}

impl BlindRotationUnit {
    /// The unit for polynomials of `polynomial_size` with `lanes` lanes, fed by `memory`;
    /// [`Error::InvalidParameters`] names the built configurations if it is not among them.
    pub fn new(polynomial_size: usize, lanes: usize, memory: KeyMemory) -> Result<Self> {
        check_memory(&memory)?;
        let sim = match (u32::try_from(polynomial_size), u32::try_from(lanes)) {
            (Ok(n), Ok(c)) => on_model_stack(|| ffi::new_br_sim(n, c))?,
            _ => cxx::UniquePtr::null(),
        };
        let Some(config) = sim.as_ref().map(|s| BrUnitConfig::from(s.limits())) else {
            return Err(not_built(
                format!(
                    "no simulated blind-rotation unit for N = {polynomial_size} with {lanes} lanes"
                ),
                br_configs()
                    .iter()
                    .map(|k| format!("N = {} with {} lanes", k.polynomial_size, k.lanes)),
            ));
        };
        Ok(Self {
            sim,
            batch: config.max_batch,
            config,
            memory,
        })
    }

    /// The unit for `bsk`'s polynomial size.
    pub fn for_key(bsk: &NttLweBootstrapKey, lanes: usize, memory: KeyMemory) -> Result<Self> {
        Self::new(bsk.polynomial_size().0, lanes, memory)
    }

    /// Ciphertexts per pass over the key (1 ..= [`BrUnitConfig::max_batch`]; the default is
    /// the most); longer inputs are split into batches of it.
    pub fn with_batch(mut self, batch: usize) -> Result<Self> {
        self.batch = checked_batch("blind-rotation", batch, self.config.max_batch)?;
        Ok(self)
    }

    pub fn config(&self) -> BrUnitConfig {
        self.config
    }

    pub fn memory(&self) -> KeyMemory {
        self.memory
    }

    /// Ciphertexts per pass over the key.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The unit's latency ports, read from the simulated RTL.
    pub fn latencies(&self) -> BrLatencies {
        self.sim.latencies()
    }

    /// The model of one batch of `batch` ciphertexts under `bsk` on this unit.
    pub fn cycle_model(&self, bsk: &NttLweBootstrapKey, batch: usize) -> Result<BrCycleModel> {
        self.check_key(bsk)?;
        Ok(BrCycleModel::new(
            &BrShape::of_key(bsk, batch),
            self.config.lanes,
            &self.memory,
            &self.latencies(),
        ))
    }

    /// What the unit can take: the key's polynomial size, GLWE size and decomposition.
    pub fn check_key(&self, bsk: &NttLweBootstrapKey) -> Result<()> {
        check_key_for(&self.config, bsk)
    }

    /// The key as the unit reads it: the engine's NTT-domain words times N mod p (the unit's
    /// inverse transform scales by N⁻¹, the engine's key carries it), each polynomial in the
    /// NTT units' order ([`crate::ntt_order`]). Done once per key.
    pub fn device_key(bsk: &NttLweBootstrapKey) -> Result<Vec<u64>> {
        let n = bsk.polynomial_size().0;
        let order = crate::ntt_order::NttOrder::new(n)?;
        Ok(bsk
            .as_slice()
            .chunks_exact(n)
            .flat_map(|p| order.to_unit_order(p))
            .map(|x| modp::mul(x, n as u64))
            .collect())
    }

    /// Blind-rotates `accumulators` (whole GLWE ciphertexts) by `msed` (whole modulus-switched
    /// ciphertexts, n + 1 words each, values in [0, 2N)) on the simulated unit, in batches of
    /// [`BlindRotationUnit::batch`]: word for word
    /// [`glovebox_engine::algorithms::blind_rotate_assign`] of each. `device_key` is
    /// [`BlindRotationUnit::device_key`] of `bsk`.
    pub fn blind_rotate_batch_with(
        &mut self,
        bsk: &NttLweBootstrapKey,
        device_key: &[u64],
        msed: &[u64],
        accumulators: &mut [u64],
    ) -> Result<BrRun> {
        let poly = bsk.polynomial_size().0;
        if let Some(&a) = msed.iter().find(|&&a| a >= 2 * poly as u64) {
            return Err(Error::InvalidParameters(format!(
                "modulus-switched value {a} outside [0, 2N = {})",
                2 * poly
            )));
        }
        let input = accumulators.to_vec();
        let io = BrIo {
            switch: None,
            extract: false,
        };
        self.run(bsk, device_key, msed, io, &input, accumulators)
    }

    /// [`BlindRotationUnit::blind_rotate_batch_with`] from keyswitched LWE ciphertexts
    /// (`lwes`, n + 1 native-torus words each) that the unit switches to Z/2NZ itself
    /// (`switch`, as [`glovebox_engine::algorithms::lwe_modulus_switch_into`]).
    pub fn switch_and_rotate_batch_with(
        &mut self,
        bsk: &NttLweBootstrapKey,
        device_key: &[u64],
        lwes: &[u64],
        switch: ModulusSwitchType,
        accumulators: &mut [u64],
    ) -> Result<BrRun> {
        let input = accumulators.to_vec();
        let io = BrIo {
            switch: Some(switch),
            extract: false,
        };
        self.run(bsk, device_key, lwes, io, &input, accumulators)
    }

    /// The unit's whole part of a bootstrap: `lwes` (keyswitched LWE ciphertexts of n + 1
    /// words, native torus) switched to Z/2NZ by the unit (`switch`, as
    /// [`glovebox_engine::algorithms::lwe_modulus_switch_into`]), `accumulators` (the lookup
    /// tables, whole GLWEs) blind-rotated, and the results sample-extracted by the unit into
    /// `outputs` (LWE ciphertexts of k N + 1 words): word for word the engine's modulus switch,
    /// [`glovebox_engine::algorithms::blind_rotate_assign`] and sample extraction of each.
    pub fn bootstrap_batch_with(
        &mut self,
        bsk: &NttLweBootstrapKey,
        device_key: &[u64],
        lwes: &[u64],
        switch: ModulusSwitchType,
        accumulators: &[u64],
        outputs: &mut [u64],
    ) -> Result<BrRun> {
        self.run(
            bsk,
            device_key,
            lwes,
            BrIo {
                switch: Some(switch),
                extract: true,
            },
            accumulators,
            outputs,
        )
    }

    fn run(
        &mut self,
        bsk: &NttLweBootstrapKey,
        device_key: &[u64],
        rot: &[u64],
        io: BrIo,
        accumulators: &[u64],
        outputs: &mut [u64],
    ) -> Result<BrRun> {
        self.check_key(bsk)?;
        let n = bsk.input_lwe_dimension().0;
        let poly = bsk.polynomial_size().0;
        let glwe = bsk.glwe_size().0 * poly;
        let extract = io.extract;
        let out_size = if extract { glwe - poly + 1 } else { glwe };
        if device_key.len() != bsk.as_slice().len() {
            return Err(Error::DimensionMismatch {
                what: "blind-rotation device key words",
                expected: bsk.as_slice().len(),
                got: device_key.len(),
            });
        }
        let count = rot.len() / (n + 1);
        if !rot.len().is_multiple_of(n + 1) || accumulators.len() != count * glwe {
            return Err(Error::DimensionMismatch {
                what: "blind-rotation accumulator words",
                expected: count * glwe,
                got: accumulators.len(),
            });
        }
        if outputs.len() != count * out_size {
            return Err(Error::DimensionMismatch {
                what: "blind-rotation output words",
                expected: count * out_size,
                got: outputs.len(),
            });
        }
        let switch_kind = match io.switch {
            None => 0,
            Some(ModulusSwitchType::Standard) => 1,
            Some(ModulusSwitchType::CenteredMeanNoiseReduction) => 2,
        };
        let lat = self.latencies();
        let t = Instant::now();
        let mut batches = Vec::new();
        for ((m, acc), out) in rot
            .chunks(self.batch * (n + 1))
            .zip(accumulators.chunks(self.batch * glwe))
            .zip(outputs.chunks_mut(self.batch * out_size))
        {
            let batch = m.len() / (n + 1);
            let model = BrCycleModel::new(
                &BrShape {
                    extract,
                    ..BrShape::of_key(bsk, batch)
                },
                self.config.lanes,
                &self.memory,
                &lat,
            );
            let job = ffi::BrJob {
                n: n as u32,
                levels: bsk.decomposition_level_count().0 as u32,
                base_log: bsk.decomposition_base_log().0 as u32,
                batch: batch as u32,
                bandwidth: self.memory.words_per_cycle,
                key_latency: self.memory.latency,
                bound: 2 * model.cycles + 10_000,
                switch_kind,
                extract,
            };
            let sim = &mut self.sim;
            let s = on_model_stack(|| sim.pin_mut().run(&job, device_key, m, acc, out))?
                .map_err(|e| sim_error(e.what()))?;
            batches.push(BrBatchRun {
                batch,
                cycles: s.cycles,
                key_rows: s.key_rows,
                key_stall_cycles: s.key_stall_cycles,
                loop_stall_cycles: s.loop_stall_cycles,
                model,
            });
        }
        let wall_seconds = t.elapsed().as_secs_f64();
        Ok(BrRun {
            ciphertexts: count,
            cycles: batches.iter().map(|b| b.cycles).sum(),
            key_words: batches
                .iter()
                .map(|b| b.key_rows * self.config.lanes as u64)
                .sum(),
            batches,
            wall_seconds,
        })
    }

    /// [`BlindRotationUnit::blind_rotate_batch_with`], converting the key first.
    pub fn blind_rotate_batch(
        &mut self,
        bsk: &NttLweBootstrapKey,
        msed: &[u64],
        accumulators: &mut [u64],
    ) -> Result<BrRun> {
        let key = Self::device_key(bsk)?;
        self.blind_rotate_batch_with(bsk, &key, msed, accumulators)
    }
}

/// What a unit of `config` can take: the key's polynomial size, GLWE size and decomposition.
pub(crate) fn check_key_for(config: &BrUnitConfig, bsk: &NttLweBootstrapKey) -> Result<()> {
    let k = config;
    if bsk.polynomial_size().0 != k.polynomial_size || bsk.glwe_size().0 != k.glwe_size {
        return Err(Error::InvalidParameters(format!(
            "bootstrapping key with N = {} and k + 1 = {} on a unit built for N = {} and \
             k + 1 = {}",
            bsk.polynomial_size().0,
            bsk.glwe_size().0,
            k.polynomial_size,
            k.glwe_size
        )));
    }
    let (b, l) = (
        bsk.decomposition_base_log().0,
        bsk.decomposition_level_count().0,
    );
    if b == 0 || l == 0 || b > k.max_base_log || l > k.max_levels || b * l >= 64 {
        return Err(Error::InvalidParameters(format!(
            "bootstrapping decomposition {b}x{l}: this unit takes base logs up to {} and up \
             to {} levels",
            k.max_base_log, k.max_levels
        )));
    }
    let n = bsk.input_lwe_dimension().0;
    if n == 0 || n > u32::MAX as usize / k.max_batch {
        return Err(Error::InvalidParameters(format!(
            "bootstrapping key of LWE dimension {n}: this unit takes 1 to {}",
            u32::MAX as usize / k.max_batch
        )));
    }
    Ok(())
}
