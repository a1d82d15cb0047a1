//! The keyswitch unit (`hdl/ks_unit.sv`), simulated cycle by cycle with its key memory:
//! [`KeyswitchUnit::keyswitch_batch`] switches a batch of LWE ciphertexts exactly as
//! [`glovebox_engine::algorithms::keyswitch_lwe_ciphertext`] does (word for word, native torus
//! or output modulus 2^21), and reports the cycles, the key words read and the stall cycles
//! ([`KsRun`]). [`KsCycleModel`] predicts the cycles in closed form from the shapes, the lanes,
//! the key memory and the latency the RTL exports, and names the binding term; the tests
//! require the simulation to equal it.
//!
//! The unit (see the header of `hdl/ks_unit.sv`): for each input word `i`, level `t` and chunk
//! `c` of `lanes` key words, the chunk is used for every ciphertext of the batch, one per
//! cycle: P lanes add `−d · key word` into on-chip accumulators (banked one-read-one-write
//! memories). The key memory ([`KeyMemory`]) serves chunks in the key's stored order at a
//! bandwidth in words per cycle and a latency in cycles, into a read buffer sized to cover
//! that latency ([`KsCycleModel::buffer_chunks`]).
//!
//! ```
//! use glovebox_engine::prelude::*;
//! use glovebox_sim::{ks::KeyswitchUnit, KeyMemory};
//! let mut g = CsprngGenerator::from_seed([3; 32]);
//! let big = LweSecretKey::generate(LweDimension(64), &mut g);
//! let small = LweSecretKey::generate(LweDimension(20), &mut g);
//! let noise = NoiseDistribution::TUniform { bound_log2: 10 };
//! let ksk = generate_lwe_keyswitch_key(
//!     &big, &small, DecompositionBaseLog(3), DecompositionLevelCount(5), 64, noise, &mut g,
//! )?;
//! let inputs: Vec<_> = (0..3u64)
//!     .map(|m| encrypt_lwe_ciphertext(&big, m << 60, noise, 64, &mut g))
//!     .collect();
//! let memory = KeyMemory { words_per_cycle: 8, latency: 20 };
//! let mut unit = KeyswitchUnit::for_key(&ksk, 16, memory)?;
//! let (outputs, run) = unit.keyswitch_batch(&ksk, &inputs)?;
//! for (out, input) in outputs.iter().zip(&inputs) {
//!     assert_eq!(*out, keyswitch_lwe_ciphertext(&ksk, input)?);
//! }
//! assert_eq!(run.cycles, unit.cycle_model(&ksk, inputs.len())?.cycles);
//! # Ok::<(), glovebox_engine::Error>(())
//! ```

use crate::accelerator::Channel;
use crate::sim_error;
use crate::unit::{check_memory, checked_batch, not_built, KeyMemory};
use glovebox_engine::entities::{LweCiphertext, LweKeyswitchKey};
use glovebox_engine::{Error, Result};
use std::time::Instant;

#[cxx::bridge(namespace = "glovebox_sim")]
mod ffi {
    /// A built configuration's `ks_unit` parameters.
    struct KsLimits {
        lanes: u32,
        output_modulus_log: u32,
        max_base_log: u32,
        max_levels: u32,
        max_batch: u32,
        max_chunks: u32,
    }

    /// One batch for the harness (`cpp/ks_harness.h`).
    struct KsJob {
        n_in: u32,
        cols: u32,
        base_log: u32,
        levels: u32,
        batch: u32,
        bandwidth: u32,
        key_latency: u32,
        buffer_chunks: u32,
        bound: u64,
    }

    /// What the harness measured.
    struct KsStats {
        cycles: u64,
        key_words: u64,
        key_chunks: u64,
        key_stall_cycles: u64,
        in_stall_cycles: u64,
        max_buffered: u64,
    }

    unsafe extern "C++" {
        include!("glovebox-sim/cpp/ks.h");

        type KsSim;
        fn new_ks_sim(lanes: u32, w: u32) -> UniquePtr<KsSim>;
        fn ks_configs() -> Vec<KsLimits>;
        fn limits(self: &KsSim) -> KsLimits;
        fn latency(self: &KsSim) -> u32;
        fn decompose_latency(self: &KsSim) -> u32;
        fn run(
            self: Pin<&mut KsSim>,
            job: &KsJob,
            key: &[u64],
            inputs: &[u64],
            outputs: &mut [u64],
        ) -> Result<KsStats>;
    }
}

crate::unit::send_model!(ffi::KsSim);

/// A keyswitch unit configuration built into this library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KsUnitConfig {
    /// Output columns accumulated per cycle (P), and key words per chunk.
    pub lanes: usize,
    /// log2 of the output modulus (64: the native torus).
    pub output_modulus_log: u32,
    /// Largest decomposition base log (digits in [−2^(b−1), 2^(b−1)]).
    pub max_base_log: usize,
    /// Most decomposition levels.
    pub max_levels: usize,
    /// Most ciphertexts sharing one pass over the key.
    pub max_batch: usize,
    /// Most output words (n_out + 1).
    pub max_cols: usize,
}

impl From<ffi::KsLimits> for KsUnitConfig {
    fn from(k: ffi::KsLimits) -> Self {
        Self {
            lanes: k.lanes as usize,
            output_modulus_log: k.output_modulus_log,
            max_base_log: k.max_base_log as usize,
            max_levels: k.max_levels as usize,
            max_batch: k.max_batch as usize,
            max_cols: (k.lanes * k.max_chunks) as usize,
        }
    }
}

/// The keyswitch unit configurations built into this library.
pub fn ks_configs() -> Vec<KsUnitConfig> {
    ffi::ks_configs().into_iter().map(Into::into).collect()
}

/// The shape of one batch as the unit sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KsShape {
    /// Input LWE dimension (mask words per input ciphertext).
    pub n_in: usize,
    /// Output LWE dimension (n_out + 1 output words).
    pub n_out: usize,
    pub base_log: usize,
    pub levels: usize,
    /// Ciphertexts in the batch.
    pub batch: usize,
}

impl KsShape {
    /// The shape of `ksk` with a batch of `batch` ciphertexts.
    pub fn of_key(ksk: &LweKeyswitchKey, batch: usize) -> Self {
        Self {
            n_in: ksk.input_lwe_dimension().0,
            n_out: ksk.output_lwe_dimension().0,
            base_log: ksk.decomposition_base_log().0,
            levels: ksk.decomposition_level_count().0,
            batch,
        }
    }
}

/// What bounds a batch's cycles at steady state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KsBinding {
    /// The lanes: a key row is used (C chunks, B cycles each) no faster than it arrives.
    Compute,
    /// The key memory's bandwidth: a row of key words takes longer to arrive than to use.
    KeyBandwidth,
    /// The input words: a word's digits (B cycles in, then the decomposition pipeline) take
    /// longer to arrive than its rows to use, B + D > ℓ C B.
    Input,
}

impl std::fmt::Display for KsBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Compute => "compute",
            Self::KeyBandwidth => "key bandwidth",
            Self::Input => "input words",
        })
    }
}

/// The pipeline depths of a keyswitch unit, read from its ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KsLatencies {
    /// `latency`: from an operation's issue to its output.
    pub output: u64,
    /// `decompose_latency`: from a mask word's accept to its digits in the register file (the
    /// gadget decomposition's pipeline).
    pub decompose: u64,
}

/// The cycle count of one batch (the structure documented in `hdl/ks_unit.sv`).
///
/// With P lanes, C = ⌈(n_out + 1) / P⌉ chunks per key row (the last holding
/// s = n_out + 1 − (C − 1) P words), R = n_in ℓ rows, N = R C chunks, batch B, bandwidth K
/// words per cycle, memory latency L_k and decomposition latency D: chunk k's operations issue
/// from S_k = max(A_k, S_(k−1) + B, I_k), where chunk k is complete in the read buffer at
/// A_k = L_k + Σ_(m ≤ k) d_m (d = ⌈P / K⌉, or ⌈s / K⌉ for a row's last chunk; the read buffer
/// is deep enough that the memory never waits for room, [`KsCycleModel::buffer_chunks`]), and
/// I_k, for the first chunk of input word i, is the first cycle with word i's digits in:
/// a_i + B + D, where word i is accepted from a_0 = B + 1 (after the start cycle and the B
/// bodies), a_1 = 2B + 1 and a_i = max(a_(i−1) + B, e_(i−2) + 1), e_i being word i's last
/// issue cycle (its digit slot frees then). The batch takes S_(N−1) + B − 1 + latency cycles
/// (the last operation, then the RTL's exported latency). Without the input term the
/// recurrence unrolls to the closed forms of [`KsCycleModel::compute_path`] (the fill and
/// then B per chunk) and [`KsCycleModel::key_path`]:
///   L_k + (R − 1) max(D_k − C B, 0) + max_c f(c) + (N − 1) B
/// with D_k = (C − 1)⌈P/K⌉ + ⌈s/K⌉ the key cycles of a row and f(c) = (arrival of chunk c of
/// a row) − c B, largest at c = 0, c = C − 2 or c = C − 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KsCycleModel {
    /// Cycles from `start` to the last output.
    pub cycles: u64,
    /// The binding term at steady state (key cycles per row against compute cycles per row,
    /// and the input words). The memory's latency adds once, at the start: when compute binds
    /// and the key path is the longer, by `key_path − compute_path` cycles.
    pub binding: KsBinding,
    /// Issue cycle of the last chunk if only compute (and the input fill) bounded it.
    pub compute_path: u64,
    /// Issue cycle of the last chunk if only the key stream bounded it.
    pub key_path: u64,
    /// C: chunks per key row.
    pub chunks_per_row: u64,
    /// Cycles the lanes spend on a key row: C B.
    pub compute_cycles_per_row: u64,
    /// Cycles the key memory spends on a key row: D_k.
    pub key_cycles_per_row: u64,
    /// Key rows per batch: n_in ℓ.
    pub rows: u64,
    /// Key words read per batch: n_in ℓ (n_out + 1).
    pub key_words: u64,
    /// Read-buffer places (chunks, in flight included) that keep the memory from waiting:
    /// ⌈(max(L_k, 2B + D + 1) + 1 + max d) / min(B, min d)⌉ + 1, the memory's latency (or
    /// the input fill, when longer) plus a transfer over the fastest a chunk can be used.
    pub buffer_chunks: u64,
    /// Input words per ciphertext: n_in.
    pub input_words: u64,
    /// Cycles of a pair of input words when the input binds: ℓ C B + B + D (a word's slot
    /// frees when the word two before it is done; then B accepts and D cycles of pipeline).
    pub input_cycles_per_word_pair: u64,
}

impl KsCycleModel {
    /// The model of one batch of `shape` on a unit of `lanes` lanes whose ports read
    /// `latencies`.
    pub fn new(shape: &KsShape, lanes: usize, memory: &KeyMemory, latencies: &KsLatencies) -> Self {
        let p = lanes as i64;
        let k = i64::from(memory.words_per_cycle.max(1));
        let lk = i64::from(memory.latency);
        let b = shape.batch.max(1) as i64;
        let dec = latencies.decompose as i64;
        let cols = shape.n_out as i64 + 1;
        let c = (cols + p - 1) / p;
        let s_last = cols - (c - 1) * p;
        let d_full = (p + k - 1) / k;
        let d_last = (s_last + k - 1) / k;
        let rows = (shape.n_in * shape.levels) as i64;
        let n = rows * c;
        let key_row = (c - 1) * d_full + d_last;
        let compute_row = c * b;
        let mut f = (c - 1) * (d_full - b) + d_last;
        if c >= 2 {
            f = f.max(d_full).max(d_full + (c - 2) * (d_full - b));
        }
        let key_path = lk + (rows - 1) * (key_row - compute_row).max(0) + f + (n - 1) * b;
        // The recurrence without the keys (the compute path): input words and lanes only.
        let compute_path = {
            let words = shape.n_in.max(1);
            let chunks_per_word = shape.levels as i64 * c;
            let mut s_prev = i64::MIN / 2;
            let (mut e2, mut e1) = (i64::MIN / 2, i64::MIN / 2);
            let mut last_accept = b;
            for word in 0..words {
                let accept = match word {
                    0 => b + 1,
                    1 => 2 * b + 1,
                    _ => (last_accept + 1).max(e2 + 1),
                };
                last_accept = accept + b - 1;
                let landed = last_accept + dec + 1;
                for j in 0..chunks_per_word {
                    let mut s = s_prev + b;
                    if j == 0 {
                        s = s.max(landed);
                    }
                    s_prev = s;
                }
                e2 = e1;
                e1 = s_prev + b - 1;
            }
            s_prev
        };
        let word_row = shape.levels as i64 * compute_row;
        let input_pair = word_row + b + dec;
        // Only a third word waits for a slot.
        let binding =
            if shape.n_in >= 3 && input_pair > 2 * word_row.max(shape.levels as i64 * key_row) {
                KsBinding::Input
            } else if key_row > compute_row {
                KsBinding::KeyBandwidth
            } else {
                KsBinding::Compute
            };
        let d_max = d_full.max(d_last);
        let d_min = d_full.min(d_last);
        // The memory runs ahead for its latency, or for the input fill when that is longer
        // (the unit takes no chunk before its first word's digits are in).
        let ahead = lk.max(2 * b + dec + 1);
        let buffer_chunks = (ahead + 1 + d_max + b.min(d_min) - 1) / b.min(d_min) + 1;
        // With the keys: the stepper on a channel of the unit's own.
        let mut stepper = KsStepper::new(shape, lanes, memory, latencies, buffer_chunks as u64);
        let mut channel = Channel::new(memory.latency, 0);
        let mut t = 0;
        while let Some(ready) = stepper.ready() {
            t = t.max(ready).max(channel.free_at());
            let d = stepper.transfer_cycles();
            stepper.granted(channel.grant(t, d));
        }
        Self {
            cycles: stepper.cycles(),
            binding,
            compute_path: compute_path as u64,
            key_path: key_path as u64,
            chunks_per_row: c as u64,
            compute_cycles_per_row: compute_row as u64,
            key_cycles_per_row: key_row as u64,
            rows: rows as u64,
            key_words: (rows * cols) as u64,
            buffer_chunks: buffer_chunks as u64,
            input_words: shape.n_in as u64,
            input_cycles_per_word_pair: input_pair as u64,
        }
    }

    /// Cycles per batch at steady state (a stream of batches, fill and drain left out):
    /// R max(C B, D_k), or the input words' n_in (ℓ C B + B + D) / 2 when they bind.
    pub fn steady_cycles_per_batch(&self) -> u64 {
        let rows = self.rows * self.compute_cycles_per_row.max(self.key_cycles_per_row);
        rows.max((self.input_words * self.input_cycles_per_word_pair).div_ceil(2))
    }

    /// The fewest key words per cycle at which the batch is compute-bound at steady state
    /// (D_k ≤ C B), for `shape` on `lanes` lanes.
    pub fn words_per_cycle_for_compute(shape: &KsShape, lanes: usize) -> u32 {
        let p = lanes as u64;
        let cols = shape.n_out as u64 + 1;
        let c = cols.div_ceil(p);
        let s_last = cols - (c - 1) * p;
        let compute_row = c * shape.batch.max(1) as u64;
        (1..=lanes as u64)
            .find(|&k| (c - 1) * p.div_ceil(k) + s_last.div_ceil(k) <= compute_row)
            .unwrap_or(lanes as u64) as u32
    }
}

/// The recurrence of [`KsCycleModel`] one key chunk at a time, its chunks' arrivals set by
/// whoever grants the memory (a channel of the unit's own, or one it shares:
/// [`crate::accelerator`]). Times are cycles from the unit's start.
#[derive(Clone, Debug)]
pub(crate) struct KsStepper {
    b: i64,
    dec: i64,
    chunks_per_row: i64,
    chunks_per_word: i64,
    d_full: u64,
    d_last: u64,
    buffer_chunks: usize,
    total: usize,
    output_latency: u64,
    /// Issue cycle of every chunk granted so far.
    issue: Vec<i64>,
    last_accept: i64,
    landed: i64,
    e2: i64,
    e1: i64,
}

impl KsStepper {
    pub(crate) fn new(
        shape: &KsShape,
        lanes: usize,
        memory: &KeyMemory,
        latencies: &KsLatencies,
        buffer_chunks: u64,
    ) -> Self {
        let p = lanes as u64;
        let k = u64::from(memory.words_per_cycle.max(1));
        let cols = shape.n_out as u64 + 1;
        let c = cols.div_ceil(p);
        let s_last = cols - (c - 1) * p;
        Self {
            b: shape.batch.max(1) as i64,
            dec: latencies.decompose as i64,
            chunks_per_row: c as i64,
            chunks_per_word: (shape.levels as u64 * c) as i64,
            d_full: p.div_ceil(k),
            d_last: s_last.div_ceil(k),
            buffer_chunks: buffer_chunks.max(1) as usize,
            total: shape.n_in.max(1) * shape.levels * c as usize,
            output_latency: latencies.output,
            issue: Vec::new(),
            last_accept: 0,
            landed: 0,
            e2: i64::MIN / 2,
            e1: i64::MIN / 2,
        }
    }

    /// The first cycle the next chunk may be requested (the read buffer has room: the chunk
    /// `buffer_chunks` before it was taken), or `None` when every chunk is requested.
    pub(crate) fn ready(&self) -> Option<u64> {
        let k = self.issue.len();
        if k == self.total {
            None
        } else if k < self.buffer_chunks {
            Some(0)
        } else {
            Some((self.issue[k - self.buffer_chunks] + 1) as u64)
        }
    }

    /// Channel cycles of the next chunk.
    pub(crate) fn transfer_cycles(&self) -> u64 {
        let j = self.issue.len() as i64 % self.chunks_per_word;
        if j % self.chunks_per_row == self.chunks_per_row - 1 {
            self.d_last
        } else {
            self.d_full
        }
    }

    /// The next chunk's words are in the read buffer in cycle `arrival`.
    pub(crate) fn granted(&mut self, arrival: u64) {
        let k = self.issue.len() as i64;
        let (word, j) = (k / self.chunks_per_word, k % self.chunks_per_word);
        let b = self.b;
        if j == 0 {
            // Word `word` is accepted after the bodies, once the word two before it is done.
            let accept = match word {
                0 => b + 1,
                1 => 2 * b + 1,
                _ => (self.last_accept + 1).max(self.e2 + 1),
            };
            self.last_accept = accept + b - 1;
            self.landed = self.last_accept + self.dec + 1;
        }
        let mut s = self.issue.last().map_or(i64::MIN / 2, |&x| x) + b;
        if j == 0 {
            s = s.max(self.landed);
        }
        s = s.max(arrival as i64);
        self.issue.push(s);
        if j == self.chunks_per_word - 1 {
            self.e2 = self.e1;
            self.e1 = s + b - 1;
        }
    }

    /// Issue cycle of the last chunk granted.
    pub(crate) fn last_issue(&self) -> i64 {
        self.issue.last().copied().unwrap_or(0)
    }

    /// Cycles from the start to the last output, once every chunk is granted.
    pub(crate) fn cycles(&self) -> u64 {
        (self.last_issue() + self.b - 1) as u64 + self.output_latency
    }
}

/// What one batch through the unit cost, measured, beside its model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KsBatchRun {
    /// Ciphertexts in the batch.
    pub batch: usize,
    /// Cycles from `start` to the last output.
    pub cycles: u64,
    /// Key words the unit took.
    pub key_words: u64,
    /// Key chunks the unit took.
    pub key_chunks: u64,
    /// The unit's counter: cycles waiting for a key chunk.
    pub key_stall_cycles: u64,
    /// The unit's counter: cycles waiting for input words (the start-up fill included).
    pub in_stall_cycles: u64,
    /// The read buffer the memory model had (chunks) and the most it held at once.
    pub buffer_chunks: u64,
    pub max_buffered: u64,
    /// The closed-form model of this batch.
    pub model: KsCycleModel,
}

/// What one call cost: its batches, one after the other.
#[derive(Clone, Debug, PartialEq)]
pub struct KsRun {
    pub batches: Vec<KsBatchRun>,
    /// Ciphertexts switched.
    pub ciphertexts: usize,
    /// Cycles of all batches.
    pub cycles: u64,
    /// Key words read (every batch reads the whole key once).
    pub key_words: u64,
    /// Cycles waiting for key chunks, and for input words.
    pub key_stall_cycles: u64,
    pub in_stall_cycles: u64,
    /// Wall-clock seconds the simulation took.
    pub wall_seconds: f64,
}

crate::unit::simulated_run!(KsRun);

/// A simulated keyswitch unit of one built configuration, with its key memory.
pub struct KeyswitchUnit {
    sim: cxx::UniquePtr<ffi::KsSim>,
    config: KsUnitConfig,
    memory: KeyMemory,
    batch: usize,
}

impl KeyswitchUnit {
    /// The unit with `lanes` lanes and output modulus 2^`output_modulus_log`, fed by `memory`;
    /// [`Error::InvalidParameters`] names the built configurations if it is not among them.
    pub fn new(lanes: usize, output_modulus_log: u32, memory: KeyMemory) -> Result<Self> {
        check_memory(&memory)?;
        let sim = match u32::try_from(lanes) {
            Ok(l) => ffi::new_ks_sim(l, output_modulus_log),
            Err(_) => cxx::UniquePtr::null(),
        };
        let Some(config) = sim.as_ref().map(|s| KsUnitConfig::from(s.limits())) else {
            return Err(not_built(
                format!(
                    "no simulated keyswitch unit with {lanes} lanes and output modulus \
                     2^{output_modulus_log}"
                ),
                ks_configs()
                    .iter()
                    .map(|k| format!("{} lanes mod 2^{}", k.lanes, k.output_modulus_log)),
            ));
        };
        Ok(Self {
            sim,
            batch: config.max_batch,
            config,
            memory,
        })
    }

    /// The unit for `ksk`'s output modulus.
    pub fn for_key(ksk: &LweKeyswitchKey, lanes: usize, memory: KeyMemory) -> Result<Self> {
        Self::new(lanes, ksk.output_modulus_log(), memory)
    }

    /// Ciphertexts per pass over the key (1 ..= [`KsUnitConfig::max_batch`]; the default is
    /// the most); [`KeyswitchUnit::keyswitch_batch`] splits longer inputs into batches of it.
    pub fn with_batch(mut self, batch: usize) -> Result<Self> {
        self.batch = checked_batch("keyswitch", batch, self.config.max_batch)?;
        Ok(self)
    }

    pub fn config(&self) -> KsUnitConfig {
        self.config
    }

    pub fn memory(&self) -> KeyMemory {
        self.memory
    }

    /// Ciphertexts per pass over the key.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The unit's `latency` port (issue to output), read from the simulated RTL.
    pub fn latency(&self) -> u64 {
        self.sim.latency().into()
    }

    /// The unit's `latency` and `decompose_latency` ports, read from the simulated RTL.
    pub fn latencies(&self) -> KsLatencies {
        KsLatencies {
            output: self.latency(),
            decompose: self.sim.decompose_latency().into(),
        }
    }

    /// The model of one batch of `batch` ciphertexts under `ksk` on this unit.
    pub fn cycle_model(&self, ksk: &LweKeyswitchKey, batch: usize) -> Result<KsCycleModel> {
        self.check_key(ksk)?;
        Ok(KsCycleModel::new(
            &KsShape::of_key(ksk, batch),
            self.config.lanes,
            &self.memory,
            &self.latencies(),
        ))
    }

    /// What the unit can take: the key's modulus, decomposition and output dimension.
    fn check_key(&self, ksk: &LweKeyswitchKey) -> Result<()> {
        check_key_for(&self.config, ksk)
    }

    /// Keyswitches `inputs` with `ksk` on the simulated unit, in batches of
    /// [`KeyswitchUnit::batch`]: word for word
    /// [`glovebox_engine::algorithms::keyswitch_lwe_ciphertext`] of each.
    pub fn keyswitch_batch(
        &mut self,
        ksk: &LweKeyswitchKey,
        inputs: &[LweCiphertext],
    ) -> Result<(Vec<LweCiphertext>, KsRun)> {
        let n_in = ksk.input_lwe_dimension().0;
        let mut flat = Vec::with_capacity(inputs.len() * (n_in + 1));
        for ct in inputs {
            if ct.lwe_dimension().0 != n_in {
                return Err(Error::DimensionMismatch {
                    what: "keyswitch input LWE dimension",
                    expected: n_in,
                    got: ct.lwe_dimension().0,
                });
            }
            flat.extend_from_slice(ct.as_slice());
        }
        let cols = ksk.output_lwe_dimension().0 + 1;
        let mut out = vec![0u64; inputs.len() * cols];
        let run = self.keyswitch_batch_into(ksk, &flat, &mut out)?;
        let outputs = out
            .chunks_exact(cols)
            .map(|c| LweCiphertext::from_container(c.to_vec()))
            .collect::<Result<Vec<_>>>()?;
        Ok((outputs, run))
    }

    /// [`KeyswitchUnit::keyswitch_batch`] on flat containers, as the engine's `Backend` takes
    /// them: `inputs` holds whole ciphertexts of n_in + 1 words, `outputs` as many of
    /// n_out + 1.
    pub fn keyswitch_batch_into(
        &mut self,
        ksk: &LweKeyswitchKey,
        inputs: &[u64],
        outputs: &mut [u64],
    ) -> Result<KsRun> {
        self.check_key(ksk)?;
        let n_in = ksk.input_lwe_dimension().0;
        let cols = ksk.output_lwe_dimension().0 + 1;
        if !inputs.len().is_multiple_of(n_in + 1) {
            return Err(Error::MalformedContainer {
                entity: "keyswitch input batch",
                expected: (n_in + 1) * (inputs.len() / (n_in + 1) + 1),
                got: inputs.len(),
            });
        }
        let count = inputs.len() / (n_in + 1);
        if outputs.len() != count * cols {
            return Err(Error::DimensionMismatch {
                what: "keyswitch output batch words",
                expected: count * cols,
                got: outputs.len(),
            });
        }
        let w = ksk.output_modulus_log();
        if w < 64 {
            // The unit keeps the top w bits of each key word: a key for modulus 2^w has no others.
            let low = (1u64 << (64 - w)) - 1;
            if let Some(i) = ksk.as_slice().iter().position(|&x| x & low != 0) {
                return Err(Error::InvalidParameters(format!(
                    "keyswitch key word {i} ({:#018x}) is not a multiple of 2^{}: not a key for \
                     output modulus 2^{w}",
                    ksk.as_slice()[i],
                    64 - w
                )));
            }
        }
        let t = Instant::now();
        let mut batches = Vec::new();
        for (input, output) in inputs
            .chunks(self.batch * (n_in + 1))
            .zip(outputs.chunks_mut(self.batch * cols))
        {
            let batch = input.len() / (n_in + 1);
            let model = KsCycleModel::new(
                &KsShape::of_key(ksk, batch),
                self.config.lanes,
                &self.memory,
                &self.latencies(),
            );
            let job = ffi::KsJob {
                n_in: n_in as u32,
                cols: cols as u32,
                base_log: ksk.decomposition_base_log().0 as u32,
                levels: ksk.decomposition_level_count().0 as u32,
                batch: batch as u32,
                bandwidth: self.memory.words_per_cycle,
                key_latency: self.memory.latency,
                buffer_chunks: u32::try_from(model.buffer_chunks).unwrap_or(u32::MAX),
                bound: 2 * model.cycles + 1000,
            };
            let s = self
                .sim
                .pin_mut()
                .run(&job, ksk.as_slice(), input, output)
                .map_err(|e| sim_error(e.what()))?;
            batches.push(KsBatchRun {
                batch,
                cycles: s.cycles,
                key_words: s.key_words,
                key_chunks: s.key_chunks,
                key_stall_cycles: s.key_stall_cycles,
                in_stall_cycles: s.in_stall_cycles,
                buffer_chunks: model.buffer_chunks,
                max_buffered: s.max_buffered,
                model,
            });
        }
        let wall_seconds = t.elapsed().as_secs_f64();
        Ok(KsRun {
            ciphertexts: count,
            cycles: batches.iter().map(|b| b.cycles).sum(),
            key_words: batches.iter().map(|b| b.key_words).sum(),
            key_stall_cycles: batches.iter().map(|b| b.key_stall_cycles).sum(),
            in_stall_cycles: batches.iter().map(|b| b.in_stall_cycles).sum(),
            batches,
            wall_seconds,
        })
    }
}

/// What a unit of `config` can take: the key's modulus, decomposition and output dimension.
pub(crate) fn check_key_for(config: &KsUnitConfig, ksk: &LweKeyswitchKey) -> Result<()> {
    let k = config;
    let w = ksk.output_modulus_log();
    if w != k.output_modulus_log {
        return Err(Error::InvalidParameters(format!(
            "keyswitch key with output modulus 2^{w} on a unit built for 2^{}",
            k.output_modulus_log
        )));
    }
    let (b, l) = (
        ksk.decomposition_base_log().0,
        ksk.decomposition_level_count().0,
    );
    if b > k.max_base_log || l > k.max_levels || b * l >= 64 {
        return Err(Error::InvalidParameters(format!(
            "keyswitch decomposition {b}x{l}: this unit takes base logs up to {} and up to \
             {} levels",
            k.max_base_log, k.max_levels
        )));
    }
    let cols = ksk.output_lwe_dimension().0 + 1;
    if cols > k.max_cols {
        return Err(Error::InvalidParameters(format!(
            "keyswitch output dimension {}: this unit holds at most {} output words",
            cols - 1,
            k.max_cols
        )));
    }
    let n_in = ksk.input_lwe_dimension().0;
    if n_in == 0 || n_in > u32::MAX as usize {
        return Err(Error::InvalidParameters(format!(
            "keyswitch input dimension {n_in}: this unit takes 1 to {}",
            u32::MAX
        )));
    }
    Ok(())
}
