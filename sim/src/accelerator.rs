//! One device: the keyswitch unit and the blind-rotation unit on one simulated timeline,
//! sharing one memory channel that holds both keys, the ciphertexts and the lookup tables, with
//! the host's transfers on a PCIe link. A batch enters as LWE ciphertexts under the big key
//! and leaves as bootstrapped LWE ciphertexts: the keyswitch, the modulus switch, the blind
//! rotation and the sample extraction all run in RTL (`hdl/ks_unit.sv`, `hdl/br_unit.sv` with
//! `hdl/mod_switch.sv`); the host only moves bytes.
//!
//! The memory ([`Channel`], `cpp/channel.h`) serves one transfer at a time at
//! [`DeviceConfig::memory`]'s words per cycle, each transfer's last word in its latency after
//! the channel finishes it, at most [`DeviceConfig::max_outstanding`] in flight. Its grants, in
//! order of priority: the blind-rotation unit's next GGSW, the ciphertext and table transfers
//! (oldest first), the keyswitch unit's next key chunk (its key packed at the output modulus's
//! width). The order of a batch's events is in `cpp/accelerator.cpp`; [`device_model`]
//! restates the whole timeline from the units' cycle recurrences ([`crate::ks::KsCycleModel`],
//! [`crate::br::BrCycleModel`]), and the tests hold it equal to the simulation, contended or
//! not.
//!
//! Simplifications, stated: the memory is one channel of fixed latency (no banks, rows, refresh
//! or read/write turnaround); the PCIe link is a fixed rate and latency per direction; the host
//! queues every batch at cycle 0.

use crate::br::{BlindRotationUnit, BrLatencies, BrShape, BrStepper, BrUnitConfig};
use crate::ks::{KeyswitchUnit, KsCycleModel, KsLatencies, KsShape, KsStepper, KsUnitConfig};
use crate::unit::{check_memory, checked_batch, not_built, KeyMemory};
use crate::{on_model_stack, sim_error};
use glovebox_engine::entities::{LweKeyswitchKey, NttLweBootstrapKey};
use glovebox_engine::parameters::ModulusSwitchType;
use glovebox_engine::{Error, Result};
use std::collections::VecDeque;
use std::time::Instant;

#[cxx::bridge(namespace = "glovebox_sim")]
mod ffi {
    /// One run for the device harness (`cpp/accelerator.cpp`).
    struct DeviceJob {
        n_in: u32,
        /// n + 1: the keyswitch's output words.
        cols: u32,
        ks_base_log: u32,
        ks_levels: u32,
        br_base_log: u32,
        br_levels: u32,
        batch: u32,
        batches: u32,
        /// 1: standard modulus switch, 2: centered-mean.
        switch_kind: u32,
        /// The channel: 64-bit words a cycle, and keyswitch-key words (packed) a cycle.
        words_per_cycle: u32,
        ks_words_per_cycle: u32,
        latency: u32,
        max_outstanding: u32,
        ks_buffer_chunks: u32,
        pcie_bytes_per_cycle: u32,
        pcie_latency: u32,
        bound: u64,
    }

    /// One batch on the device's timeline: the cycles its PCIe transfer in was done, its
    /// keyswitch started and ended, its blind rotation started and ended, and its PCIe
    /// transfer out was done.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct DeviceBatch {
        pcie_in_done: u64,
        ks_start: u64,
        ks_end: u64,
        br_start: u64,
        br_end: u64,
        pcie_out_done: u64,
    }

    /// What the harness measured.
    struct DeviceStats {
        cycles: u64,
        channel_busy: u64,
        br_key_cycles: u64,
        ks_key_cycles: u64,
        transfer_cycles: u64,
        most_outstanding: u64,
        ks_key_stall_cycles: u64,
        br_key_stall_cycles: u64,
        br_loop_stall_cycles: u64,
    }

    unsafe extern "C++" {
        include!("glovebox-sim/cpp/accelerator.h");

        type DeviceSim;
        fn new_device_sim(ks_lanes: u32, w: u32, poly: u32, lanes: u32) -> UniquePtr<DeviceSim>;
        #[allow(clippy::too_many_arguments)]
        fn run(
            self: Pin<&mut DeviceSim>,
            job: &DeviceJob,
            ks_key: &[u64],
            br_key: &[u64],
            inputs: &[u64],
            luts: &[u64],
            outputs: &mut [u64],
            timeline: &mut Vec<DeviceBatch>,
        ) -> Result<DeviceStats>;
    }
}

pub use ffi::DeviceBatch;

crate::unit::send_model!(ffi::DeviceSim);

/// The memory channel the units share (and each unit's own in its single-unit models): one
/// transfer at a time; a transfer of `d` cycles granted in cycle F occupies cycles F .. F + d − 1
/// and its last word is in at F + d + latency; at most `max_outstanding` in flight (0: no
/// limit). `cpp/channel.h` is the same.
#[derive(Clone, Debug)]
pub struct Channel {
    latency: u64,
    max_outstanding: usize,
    free_at: u64,
    busy: u64,
    most_outstanding: usize,
    done: VecDeque<u64>,
}

impl Channel {
    pub fn new(latency: u32, max_outstanding: u32) -> Self {
        Self {
            latency: latency.into(),
            max_outstanding: max_outstanding as usize,
            free_at: 0,
            busy: 0,
            most_outstanding: 0,
            done: VecDeque::new(),
        }
    }

    /// The first cycle the channel is not carrying a transfer.
    pub fn free_at(&self) -> u64 {
        self.free_at
    }

    /// Whether a transfer may be granted in cycle `t`.
    pub fn free(&mut self, t: u64) -> bool {
        while self.done.front().is_some_and(|&d| d <= t) {
            self.done.pop_front();
        }
        t >= self.free_at && (self.max_outstanding == 0 || self.done.len() < self.max_outstanding)
    }

    /// Grants a transfer of `d` cycles in cycle `t`: the cycle its last word is in.
    pub fn grant(&mut self, t: u64, d: u64) -> u64 {
        self.free_at = t + d;
        self.busy += d;
        self.done.push_back(t + d + self.latency);
        self.most_outstanding = self.most_outstanding.max(self.done.len());
        t + d + self.latency
    }

    /// Cycles the channel has carried data.
    pub fn busy(&self) -> u64 {
        self.busy
    }
}

/// The device around the units: its memory channel and its PCIe link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeviceConfig {
    /// The one channel: 64-bit words per cycle (keys packed at their width count as fewer
    /// bits) and latency in cycles.
    pub memory: KeyMemory,
    /// Transfers in flight at most (0: no limit).
    pub max_outstanding: u32,
    /// The PCIe link, each direction: bytes per cycle and latency in cycles.
    pub pcie_bytes_per_cycle: u32,
    pub pcie_latency: u32,
}

impl DeviceConfig {
    /// A device at `clock_mhz` with `memory_gbps` of memory bandwidth (GB/s) and
    /// `memory_latency` cycles, `max_outstanding` transfers, and a PCIe link of `pcie_gbps` per
    /// direction with `pcie_latency_ns`.
    ///
    /// ```
    /// use glovebox_sim::accelerator::DeviceConfig;
    /// // The V80: HBM "approaching 460 GB/s" (AMD), PCIe Gen5 x8 (about 32 GB/s), at 350 MHz.
    /// let c = DeviceConfig::at_clock(350.0, 460.0, 200, 64, 32.0, 1000.0);
    /// assert_eq!(c.memory.words_per_cycle, 164);
    /// assert_eq!(c.pcie_bytes_per_cycle, 91);
    /// assert_eq!(c.pcie_latency, 350);
    /// ```
    pub fn at_clock(
        clock_mhz: f64,
        memory_gbps: f64,
        memory_latency: u32,
        max_outstanding: u32,
        pcie_gbps: f64,
        pcie_latency_ns: f64,
    ) -> Self {
        let per_cycle = |gbps: f64| gbps * 1e3 / clock_mhz;
        Self {
            memory: KeyMemory {
                words_per_cycle: ((per_cycle(memory_gbps) / 8.0).floor() as u32).max(1),
                latency: memory_latency,
            },
            max_outstanding,
            pcie_bytes_per_cycle: (per_cycle(pcie_gbps).floor() as u32).max(1),
            pcie_latency: (pcie_latency_ns * clock_mhz / 1e3).round() as u32,
        }
    }
}

/// The device's timeline for a stream of batches: each batch's events, and the channel's use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceTimeline {
    /// The cycle the last batch's outputs are on the host.
    pub cycles: u64,
    pub batches: Vec<DeviceBatch>,
    /// Channel cycles carrying data: all, GGSWs, keyswitch-key chunks, ciphertexts and tables.
    pub channel_busy: u64,
    pub br_key_cycles: u64,
    pub ks_key_cycles: u64,
    pub transfer_cycles: u64,
    /// Most transfers in flight at once.
    pub most_outstanding: u64,
}

/// The shapes and units [`device_model`] takes.
#[derive(Clone, Copy)]
pub struct DeviceShape<'a> {
    pub ks: &'a KsShape,
    pub ks_lanes: usize,
    pub ks_latencies: &'a KsLatencies,
    /// The keyswitch's output modulus width: its key and outputs travel packed at it.
    pub ks_word_bits: u32,
    pub br: &'a BrShape,
    pub br_lanes: usize,
    pub br_latencies: &'a BrLatencies,
    pub batches: usize,
}

impl DeviceShape<'_> {
    /// The keyswitch unit's view of the channel: its key packed at the output modulus's width.
    fn ks_memory(&self, config: &DeviceConfig) -> KeyMemory {
        config.memory.packed(self.ks_word_bits)
    }

    /// Read-buffer places of the keyswitch unit (as its own model sizes them).
    fn ks_buffer_chunks(&self, config: &DeviceConfig) -> u64 {
        KsCycleModel::new(
            self.ks,
            self.ks_lanes,
            &self.ks_memory(config),
            self.ks_latencies,
        )
        .buffer_chunks
    }
}

const NEVER: u64 = u64::MAX;

/// The device's timeline, cycle for cycle what `cpp/accelerator.cpp` simulates: the units'
/// recurrences ([`KsStepper`], [`BrStepper`]) with their memory transfers granted by one
/// [`Channel`] in the device's order of priority, and the ciphertext, table and PCIe
/// transfers of each batch.
pub fn device_model(shape: &DeviceShape, config: &DeviceConfig) -> DeviceTimeline {
    let (ks, br) = (shape.ks, shape.br);
    let b = ks.batch.max(1) as u64;
    let j_max = shape.batches;
    let n = br.polynomial_size as u64;
    let k1 = br.glwe_size as u64;
    let cols = ks.n_out as u64 + 1;
    let in_size = ks.n_in as u64 + 1;
    let out_size = (k1 - 1) * n + 1;
    let k = u64::from(config.memory.words_per_cycle.max(1));
    let ks_memory = shape.ks_memory(config);
    let kp = u64::from(ks_memory.words_per_cycle.max(1));
    let xfer = [
        (b * in_size).div_ceil(k),
        (b * in_size).div_ceil(k),
        (b * cols).div_ceil(kp),
        (b * cols).div_ceil(kp) + (b * n).div_ceil(k),
        (b * out_size).div_ceil(k),
    ];
    let pcie = u64::from(config.pcie_bytes_per_cycle.max(1));
    let (link_in, link_out) = (
        (b * in_size * 8).div_ceil(pcie),
        (b * out_size * 8).div_ceil(pcie),
    );
    let pcie_latency = u64::from(config.pcie_latency);
    let buffer_chunks = shape.ks_buffer_chunks(config);
    const CT_IN: usize = 0;
    const KS_IN: usize = 1;
    const KS_OUT: usize = 2;
    const BR_IN: usize = 3;
    const BR_OUT: usize = 4;

    let mut ch = Channel::new(config.memory.latency, config.max_outstanding);
    let pcie_in: Vec<u64> = (1..=j_max as u64)
        .map(|j| j * link_in + pcie_latency)
        .collect();
    let mut done: Vec<Vec<u64>> = (0..5).map(|_| vec![NEVER; j_max]).collect();
    let mut requested: Vec<Vec<bool>> = (0..5).map(|_| vec![false; j_max]).collect();
    let (mut ks_start, mut ks_end) = (vec![NEVER; j_max], vec![NEVER; j_max]);
    let (mut br_start, mut br_end) = (vec![NEVER; j_max], vec![NEVER; j_max]);
    let mut pcie_out = vec![NEVER; j_max];
    let mut queue: VecDeque<(usize, usize)> = VecDeque::new();
    let (mut ks_next, mut br_next, mut out_link, mut outs) = (0usize, 0usize, 0u64, 0usize);
    let (mut ks_key_cycles, mut br_key_cycles, mut transfer_cycles) = (0u64, 0u64, 0u64);
    let mut ks_unit: Option<(u64, KsStepper)> = None;
    let mut br_unit: Option<(u64, BrStepper)> = None;
    let mut t = 0u64;
    while outs < j_max {
        let mut j = outs;
        while j < j_max && pcie_in[j] <= t {
            let mut ask = |x: usize, when: bool| {
                if when && !requested[x][j] {
                    requested[x][j] = true;
                    queue.push_back((x, j));
                }
            };
            ask(CT_IN, true);
            ask(
                KS_IN,
                done[CT_IN][j] <= t && (j == 0 || ks_start[j - 1] <= t),
            );
            ask(KS_OUT, ks_end[j] <= t);
            ask(
                BR_IN,
                done[KS_OUT][j] <= t && (j == 0 || br_start[j - 1] <= t),
            );
            ask(BR_OUT, br_end[j] <= t);
            if done[BR_OUT][j] <= t && pcie_out[j] == NEVER && (j == 0 || pcie_out[j - 1] != NEVER)
            {
                out_link = out_link.max(t) + link_out;
                pcie_out[j] = out_link + pcie_latency;
            }
            j += 1;
        }
        if ks_unit.is_none()
            && ks_next < j_max
            && done[KS_IN][ks_next] <= t
            && (ks_next == 0 || ks_end[ks_next - 1] <= t)
        {
            ks_start[ks_next] = t;
            ks_unit = Some((
                t,
                KsStepper::new(
                    ks,
                    shape.ks_lanes,
                    &ks_memory,
                    shape.ks_latencies,
                    buffer_chunks,
                ),
            ));
        }
        if br_unit.is_none()
            && br_next < j_max
            && done[BR_IN][br_next] <= t
            && (br_next == 0 || br_end[br_next - 1] <= t)
        {
            br_start[br_next] = t;
            br_unit = Some((
                t,
                BrStepper::new(br, shape.br_lanes, &config.memory, shape.br_latencies),
            ));
        }
        if ch.free(t) {
            let br_wants = br_unit
                .as_ref()
                .is_some_and(|(t0, s)| s.ready().is_some_and(|w| t >= t0 + w));
            let ks_wants = ks_unit
                .as_ref()
                .is_some_and(|(t0, s)| s.ready().is_some_and(|r| t >= t0 + r));
            if br_wants {
                let (t0, s) = br_unit.as_mut().expect("checked");
                let d = s.transfer_cycles();
                ch.grant(t, d);
                br_key_cycles += d;
                s.granted(t - *t0);
                if s.ready().is_none() {
                    br_end[br_next] = *t0 + s.cycles();
                    br_unit = None;
                    br_next += 1;
                }
            } else if let Some((x, j)) = queue.pop_front() {
                done[x][j] = ch.grant(t, xfer[x]);
                transfer_cycles += xfer[x];
            } else if ks_wants {
                let (t0, s) = ks_unit.as_mut().expect("checked");
                let d = s.transfer_cycles();
                let arrival = ch.grant(t, d);
                ks_key_cycles += d;
                s.granted(arrival - *t0);
                if s.ready().is_none() {
                    ks_end[ks_next] = *t0 + s.cycles();
                    ks_unit = None;
                    ks_next += 1;
                }
            }
        }
        while outs < j_max && pcie_out[outs] != NEVER {
            outs += 1;
        }
        t += 1;
    }
    DeviceTimeline {
        cycles: pcie_out.iter().copied().max().unwrap_or(0),
        batches: (0..j_max)
            .map(|j| DeviceBatch {
                pcie_in_done: pcie_in[j],
                ks_start: ks_start[j],
                ks_end: ks_end[j],
                br_start: br_start[j],
                br_end: br_end[j],
                pcie_out_done: pcie_out[j],
            })
            .collect(),
        channel_busy: ch.busy(),
        br_key_cycles,
        ks_key_cycles,
        transfer_cycles,
        most_outstanding: ch.most_outstanding as u64,
    }
}

/// What a run on the device measured, beside its model.
#[derive(Clone, Debug)]
pub struct DeviceRun {
    pub ciphertexts: usize,
    pub measured: DeviceTimeline,
    pub model: DeviceTimeline,
    /// The units' counters, summed over the batches: the keyswitch unit waiting for key
    /// chunks, the blind-rotation unit waiting for a GGSW and for its loop.
    pub ks_key_stall_cycles: u64,
    pub br_key_stall_cycles: u64,
    pub br_loop_stall_cycles: u64,
    pub wall_seconds: f64,
}

/// A simulated device: one keyswitch unit and one blind-rotation unit of built configurations
/// on one memory channel and one PCIe link ([`DeviceConfig`]).
pub struct Accelerator {
    sim: cxx::UniquePtr<ffi::DeviceSim>,
    ks: KsUnitConfig,
    br: BrUnitConfig,
    ks_latencies: KsLatencies,
    br_latencies: BrLatencies,
    config: DeviceConfig,
    batch: usize,
}

impl Accelerator {
    /// The device with the keyswitch unit of `ks_lanes` lanes and output modulus
    /// 2^`ks_output_modulus_log` and the blind-rotation unit for N = `polynomial_size` with
    /// `lanes` lanes; [`Error::InvalidParameters`] names the built pairs if it is not among
    /// them.
    pub fn new(
        ks_lanes: usize,
        ks_output_modulus_log: u32,
        polynomial_size: usize,
        lanes: usize,
        config: DeviceConfig,
    ) -> Result<Self> {
        check_memory(&config.memory)?;
        if config.pcie_bytes_per_cycle == 0 {
            return Err(Error::InvalidParameters(
                "PCIe bandwidth must be at least 1 byte per cycle".into(),
            ));
        }
        let ks_unit = KeyswitchUnit::new(ks_lanes, ks_output_modulus_log, config.memory);
        let br_unit = BlindRotationUnit::new(polynomial_size, lanes, config.memory);
        let (ks_unit, br_unit) = match (ks_unit, br_unit) {
            (Ok(k), Ok(b)) => (k, b),
            _ => {
                return Err(not_built(
                    format!(
                        "no simulated device with a {ks_lanes}-lane keyswitch unit for 2^\
                         {ks_output_modulus_log} and a blind-rotation unit for N = \
                         {polynomial_size} with {lanes} lanes"
                    ),
                    crate::ks::ks_configs().iter().flat_map(|k| {
                        crate::br::br_configs().into_iter().map(move |b| {
                            format!(
                                "{} keyswitch lanes for 2^{} with N = {} and {} lanes",
                                k.lanes, k.output_modulus_log, b.polynomial_size, b.lanes
                            )
                        })
                    }),
                ))
            }
        };
        let (p, w, n, c) = (
            ks_lanes as u32,
            ks_output_modulus_log,
            polynomial_size as u32,
            lanes as u32,
        );
        let sim = on_model_stack(|| ffi::new_device_sim(p, w, n, c))?;
        if sim.is_null() {
            return Err(sim_error(
                "the device pair is built as units but not as a device",
            ));
        }
        let (ks, br) = (ks_unit.config(), br_unit.config());
        Ok(Self {
            sim,
            ks_latencies: ks_unit.latencies(),
            br_latencies: br_unit.latencies(),
            batch: ks.max_batch.min(br.max_batch),
            ks,
            br,
            config,
        })
    }

    /// Ciphertexts per batch (at most what both units hold; the default is the most).
    pub fn with_batch(mut self, batch: usize) -> Result<Self> {
        self.batch = checked_batch("device", batch, self.ks.max_batch.min(self.br.max_batch))?;
        Ok(self)
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn config(&self) -> DeviceConfig {
        self.config
    }

    pub fn units(&self) -> (KsUnitConfig, BrUnitConfig) {
        (self.ks, self.br)
    }

    /// The units' latency ports, read from the simulated RTL when the device was built.
    pub fn latencies(&self) -> (&KsLatencies, &BrLatencies) {
        (&self.ks_latencies, &self.br_latencies)
    }

    /// `f` of the device's shape for `batches` batches under these keys.
    fn with_shape<R>(
        &self,
        ksk: &LweKeyswitchKey,
        bsk: &NttLweBootstrapKey,
        batches: usize,
        f: impl FnOnce(&DeviceShape) -> R,
    ) -> Result<R> {
        if ksk.output_lwe_dimension() != bsk.input_lwe_dimension() {
            return Err(Error::InvalidParameters(format!(
                "keyswitch key into dimension {} beside a bootstrapping key from dimension {}",
                ksk.output_lwe_dimension().0,
                bsk.input_lwe_dimension().0
            )));
        }
        let ks = KsShape::of_key(ksk, self.batch);
        let br = BrShape {
            extract: true,
            ..BrShape::of_key(bsk, self.batch)
        };
        Ok(f(&DeviceShape {
            ks: &ks,
            ks_lanes: self.ks.lanes,
            ks_latencies: &self.ks_latencies,
            ks_word_bits: ksk.output_modulus_log(),
            br: &br,
            br_lanes: self.br.lanes,
            br_latencies: &self.br_latencies,
            batches,
        }))
    }

    /// The model of `batches` batches under these keys ([`device_model`]).
    pub fn model(
        &self,
        ksk: &LweKeyswitchKey,
        bsk: &NttLweBootstrapKey,
        batches: usize,
    ) -> Result<DeviceTimeline> {
        self.with_shape(ksk, bsk, batches, |shape| device_model(shape, &self.config))
    }

    /// Bootstraps `inputs` (LWE ciphertexts of the keyswitch key's input dimension + 1 words),
    /// batch after batch, on the device: keyswitch, modulus switch (`switch`), blind rotation
    /// of each ciphertext's lookup table (`luts`: N words each) and sample extraction, into
    /// `outputs` (LWE ciphertexts of k N + 1 words); word for word the engine's
    /// keyswitch, [`glovebox_engine::algorithms::lwe_modulus_switch_into`],
    /// [`glovebox_engine::algorithms::blind_rotate_assign`] and sample extraction. The number
    /// of ciphertexts must be a whole number of batches. `device_key` is
    /// [`BlindRotationUnit::device_key`] of `bsk`.
    #[allow(clippy::too_many_arguments)]
    pub fn bootstrap(
        &mut self,
        ksk: &LweKeyswitchKey,
        bsk: &NttLweBootstrapKey,
        device_key: &[u64],
        inputs: &[u64],
        luts: &[u64],
        switch: ModulusSwitchType,
        outputs: &mut [u64],
    ) -> Result<DeviceRun> {
        crate::ks::check_key_for(&self.ks, ksk)?;
        crate::br::check_key_for(&self.br, bsk)?;
        let in_size = ksk.input_lwe_dimension().0 + 1;
        let poly = bsk.polynomial_size().0;
        let out_size = (bsk.glwe_size().0 - 1) * poly + 1;
        let count = inputs.len() / in_size;
        if !inputs.len().is_multiple_of(in_size) || !count.is_multiple_of(self.batch) || count == 0
        {
            return Err(Error::InvalidParameters(format!(
                "{} input words: whole ciphertexts of {in_size} words, a whole number of \
                 batches of {}",
                inputs.len(),
                self.batch
            )));
        }
        for (what, expected, got) in [
            ("device lookup-table words", count * poly, luts.len()),
            ("device output words", count * out_size, outputs.len()),
            (
                "blind-rotation device key words",
                bsk.as_slice().len(),
                device_key.len(),
            ),
        ] {
            if expected != got {
                return Err(Error::DimensionMismatch {
                    what,
                    expected,
                    got,
                });
            }
        }
        let batches = count / self.batch;
        let config = self.config;
        let (model, ks_words_per_cycle, ks_buffer_chunks) =
            self.with_shape(ksk, bsk, batches, |shape| {
                (
                    device_model(shape, &config),
                    shape.ks_memory(&config).words_per_cycle,
                    shape.ks_buffer_chunks(&config),
                )
            })?;
        let job = ffi::DeviceJob {
            n_in: ksk.input_lwe_dimension().0 as u32,
            cols: ksk.output_lwe_dimension().0 as u32 + 1,
            ks_base_log: ksk.decomposition_base_log().0 as u32,
            ks_levels: ksk.decomposition_level_count().0 as u32,
            br_base_log: bsk.decomposition_base_log().0 as u32,
            br_levels: bsk.decomposition_level_count().0 as u32,
            batch: self.batch as u32,
            batches: batches as u32,
            switch_kind: match switch {
                ModulusSwitchType::Standard => 1,
                ModulusSwitchType::CenteredMeanNoiseReduction => 2,
            },
            words_per_cycle: self.config.memory.words_per_cycle,
            ks_words_per_cycle,
            latency: self.config.memory.latency,
            max_outstanding: self.config.max_outstanding,
            ks_buffer_chunks: u32::try_from(ks_buffer_chunks).unwrap_or(u32::MAX),
            pcie_bytes_per_cycle: self.config.pcie_bytes_per_cycle,
            pcie_latency: self.config.pcie_latency,
            bound: 2 * model.cycles + 100_000,
        };
        let t = Instant::now();
        let mut timeline = Vec::new();
        let sim = &mut self.sim;
        let s = on_model_stack(|| {
            sim.pin_mut().run(
                &job,
                ksk.as_slice(),
                device_key,
                inputs,
                luts,
                outputs,
                &mut timeline,
            )
        })?
        .map_err(|e| sim_error(e.what()))?;
        Ok(DeviceRun {
            ciphertexts: count,
            measured: DeviceTimeline {
                cycles: s.cycles,
                batches: timeline,
                channel_busy: s.channel_busy,
                br_key_cycles: s.br_key_cycles,
                ks_key_cycles: s.ks_key_cycles,
                transfer_cycles: s.transfer_cycles,
                most_outstanding: s.most_outstanding,
            },
            model,
            ks_key_stall_cycles: s.ks_key_stall_cycles,
            br_key_stall_cycles: s.br_key_stall_cycles,
            br_loop_stall_cycles: s.br_loop_stall_cycles,
            wall_seconds: t.elapsed().as_secs_f64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::br::BrCycleModel;

    /// One batch alone on the device: each unit's span is its own model's (nothing else uses
    /// the channel while it runs), and the events come in the documented order.
    #[test]
    fn one_batch_spans_its_units_models() {
        let ks = KsShape {
            n_in: 64,
            n_out: 20,
            base_log: 4,
            levels: 3,
            batch: 4,
        };
        let br = BrShape {
            lwe_dimension: 20,
            polynomial_size: 512,
            glwe_size: 2,
            levels: 2,
            batch: 4,
            extract: true,
        };
        let ks_lat = KsLatencies {
            output: 9,
            decompose: 4,
        };
        let br_lat = BrLatencies {
            fwd: 40,
            inv: 40,
            mac: 6,
            pipe: 14,
            release: 11,
            out_delay: 4,
            key_slots: 4,
        };
        let config = DeviceConfig {
            memory: KeyMemory {
                words_per_cycle: 8,
                latency: 50,
            },
            max_outstanding: 0,
            pcie_bytes_per_cycle: 64,
            pcie_latency: 100,
        };
        let shape = DeviceShape {
            ks: &ks,
            ks_lanes: 16,
            ks_latencies: &ks_lat,
            ks_word_bits: 64,
            br: &br,
            br_lanes: 4,
            br_latencies: &br_lat,
            batches: 1,
        };
        let t = device_model(&shape, &config);
        let b = t.batches[0];
        let ks_model = KsCycleModel::new(&ks, 16, &config.memory, &ks_lat);
        let br_model = BrCycleModel::new(&br, 4, &config.memory, &br_lat);
        assert_eq!(b.ks_end - b.ks_start, ks_model.cycles);
        assert_eq!(b.br_end - b.br_start, br_model.cycles);
        assert!(b.pcie_in_done < b.ks_start && b.ks_end < b.br_start && b.br_end < b.pcie_out_done);
        assert_eq!(t.cycles, b.pcie_out_done);
        // Every channel cycle is accounted for.
        assert_eq!(
            t.channel_busy,
            t.br_key_cycles + t.ks_key_cycles + t.transfer_cycles
        );
        // Two batches on a channel of 1 word a cycle with 2 transfers in flight: slower.
        let narrow = DeviceConfig {
            memory: KeyMemory {
                words_per_cycle: 1,
                latency: 50,
            },
            max_outstanding: 2,
            ..config
        };
        let two = |c: &DeviceConfig| {
            device_model(
                &DeviceShape {
                    batches: 2,
                    ..shape
                },
                c,
            )
        };
        let (wide, slow) = (two(&config), two(&narrow));
        assert!(slow.cycles > wide.cycles);
        assert!(slow.most_outstanding <= 2);
    }
}
