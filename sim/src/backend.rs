//! [`SimBackend`]: the engine's [`Backend`] on the simulated accelerator. Uploading a key puts
//! it in the simulated key memory, builds the unit that will read it (the blind-rotation unit
//! for the key's polynomial size, the keyswitch unit for its output modulus) and marks its slot
//! loaded in the command interface; every `blind_rotate_batch` and `keyswitch_batch` is written
//! as descriptors into the command interface's ring (`hdl/cmd_unit.sv`, see [`crate::device`]),
//! whose requests run cycle by cycle on the Verilated units, word for word equal to the CPU
//! backend. Nothing falls back to the CPU: a key no built unit can take is refused at upload
//! with a typed error.
//!
//! Faults: a device that does not answer within [`SimConfig::answer_budget`] cycles, a
//! completion with a tag no descriptor in flight carries, or one with an error status fails the
//! call that submitted it with [`Error::Backend`]; the backend then resets the device, marks
//! its key slots loaded again and takes the next call. [`SimBackend::inject_fault`] provokes
//! each of them for tests.
//!
//! ```no_run
//! use glovebox_engine::prelude::*;
//! use glovebox_sim::backend::SimBackend;
//! let sim = SimBackend::new();
//! # let server_key: ServerKey = unimplemented!();
//! let handle = sim.upload_bootstrap_key(server_key.bootstrap_key())?;
//! // ... sim.blind_rotate_batch(&handle, &msed, &mut accumulators)?;
//! println!("{} simulated cycles", sim.counters().blind_rotation_cycles);
//! # Ok::<(), glovebox_engine::Error>(())
//! ```

use crate::br::{br_configs, BlindRotationUnit};
pub use crate::device::Fault;
use crate::device::{ExecRequest, Operation, RingDriver, RingOp};
use crate::ks::{ks_configs, KeyswitchUnit};
use crate::unit::KeyMemory;
use glovebox_engine::algorithms::key_generation::convert_standard_lwe_bootstrap_key_to_ntt;
use glovebox_engine::backend::{
    next_backend_instance, Backend, BootstrapKeyHandle, KeyswitchKeyHandle, ResidentKeys,
};
use glovebox_engine::entities::{LweBootstrapKey, LweKeyswitchKey, NttLweBootstrapKey};
use glovebox_engine::parameters::ModulusSwitchType;
use glovebox_engine::{Error, Result};
use std::sync::Mutex;

/// The simulated device: the key memory, the units' widths, and the batch per descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// The key memory of each unit (bandwidth in 64-bit words per cycle, latency in cycles):
    /// each key has its own channels, as the HPU gives each of its two keys 16 HBM ports, so
    /// the two units read at the same time without contending. The keyswitch key is stored
    /// packed at its output modulus's width (2^21: 21 bits a word, [`KeyMemory::packed`]), so
    /// its unit gets ⌊64 / 21⌋-odd words for every 64-bit word of bandwidth.
    pub memory: KeyMemory,
    /// Coefficients per cycle of the blind-rotation unit (a built configuration for the key's
    /// N; `None`: the first built).
    pub blind_rotation_lanes: Option<usize>,
    /// Lanes of the keyswitch unit (a built configuration: 16, 4 on the native torus, 512 for
    /// output modulus 2^21).
    pub keyswitch_lanes: usize,
    /// Cycles the driver waits for the command interface's next request or completion before
    /// it declares the device unresponsive (the units' own cycles are not counted against it).
    pub answer_budget: u64,
    /// Ciphertexts per descriptor: the accumulators the blind-rotation unit fills per pass over
    /// its key, and the keyswitch unit's batch (`None`: as many as both units hold).
    pub batch: Option<usize>,
}

impl Default for SimConfig {
    /// 32 words (256 bytes) per cycle after 200 cycles: about 90 GB/s at 350 MHz, a fifth of
    /// one HBM2e stack; 16 keyswitch lanes; 100,000 cycles for the device to answer.
    fn default() -> Self {
        Self {
            memory: KeyMemory {
                words_per_cycle: 32,
                latency: 200,
            },
            blind_rotation_lanes: None,
            keyswitch_lanes: 16,
            answer_budget: 100_000,
            batch: None,
        }
    }
}

/// What the simulated units have done since the backend was made.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SimCounters {
    /// Ciphertexts blind-rotated, and the cycles the blind-rotation unit took.
    pub blind_rotations: u64,
    pub blind_rotation_cycles: u64,
    /// Ciphertexts keyswitched, and the cycles the keyswitch unit took.
    pub keyswitches: u64,
    pub keyswitch_cycles: u64,
    /// Key words read from the simulated key memory.
    pub key_words: u64,
    /// Wall-clock seconds spent simulating.
    pub wall_seconds: f64,
    /// Cycles the device ran (command interface and units together, the units overlapping
    /// where a call lets them): the measured time of the calls.
    pub device_cycles: u64,
    /// Descriptors completed, and device resets after faults.
    pub descriptors: u64,
    pub resets: u64,
}

struct SimBootstrapKey {
    key: NttLweBootstrapKey,
    device_key: Vec<u64>,
    unit: Mutex<BlindRotationUnit>,
}

struct SimKeyswitchKey {
    key: LweKeyswitchKey,
    unit: Mutex<KeyswitchUnit>,
}

/// The engine's [`Backend`] on the simulated RTL (see the module documentation).
pub struct SimBackend {
    instance: u64,
    config: SimConfig,
    bsks: ResidentKeys<SimBootstrapKey>,
    ksks: ResidentKeys<SimKeyswitchKey>,
    device: Mutex<RingDriver>,
    counters: Mutex<SimCounters>,
}

impl Default for SimBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl SimBackend {
    /// The backend with [`SimConfig::default`].
    pub fn new() -> Self {
        Self::with_config(SimConfig::default())
    }

    pub fn with_config(config: SimConfig) -> Self {
        let instance = next_backend_instance();
        Self {
            instance,
            config,
            bsks: ResidentKeys::new(instance, "bootstrap key"),
            ksks: ResidentKeys::new(instance, "keyswitch key"),
            device: Mutex::new(RingDriver::new()),
            counters: Mutex::new(SimCounters::default()),
        }
    }

    /// Provokes `fault` in the next operation the device runs (for tests of the driver's
    /// fault handling).
    pub fn inject_fault(&self, fault: Fault) {
        self.device().inject(fault);
    }

    fn device(&self) -> std::sync::MutexGuard<'_, RingDriver> {
        self.device.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks `slot` loaded with a key of `op` in the command interface.
    fn load_slot(&self, slot: u32, op: Operation) -> Result<()> {
        self.device().load_slot(slot, op)
    }

    /// The command interface's slot of a key: bootstrapping keys in even slots, keyswitch keys
    /// in odd ones, as many as the built command interface has.
    fn device_slot(&self, slot: usize, op: Operation) -> Result<u32> {
        let slots = self.device().slots() as usize;
        let s = 2 * slot + (op == Operation::Keyswitch) as usize;
        if s >= slots {
            return Err(Error::InvalidParameters(format!(
                "sim backend: the device holds {} keys of each kind; key {} does not fit",
                slots / 2,
                slot + 1
            )));
        }
        Ok(s as u32)
    }

    /// Runs `first` (and whatever `then` submits as operations complete) on the device, whose
    /// memory holds `memory` for the call; `exec` runs one request on its unit, in device
    /// memory, and returns its cycles and stall cycles. Returns the device memory and the cycles
    /// the device ran. On any fault the device is reset and the call fails.
    fn execute(
        &self,
        memory: Vec<u64>,
        first: Vec<RingOp>,
        exec: &mut dyn FnMut(&mut [u64], &ExecRequest) -> Result<(u64, u64)>,
        then: &mut dyn FnMut(&mut [u64], &RingOp) -> Result<Vec<RingOp>>,
    ) -> Result<Vec<u64>> {
        let mut dev = self.device();
        let start = dev.cycles();
        let result = dev.run(
            memory,
            self.config.answer_budget,
            first,
            exec,
            &mut |m, op| {
                self.count(|k| k.descriptors += 1);
                then(m, op)
            },
        );
        let cycles = dev.cycles() - start;
        self.count(|c| c.device_cycles += cycles);
        if result.is_err() {
            self.count(|c| c.resets += 1);
        }
        result
    }

    /// Runs `batch` ciphertexts of one operation in descriptors of at most `per`: device
    /// memory holds `inputs`, then `outputs` (a blind rotation's accumulators are rotated in
    /// place there); `exec` runs one request on the unit from its input words into its output
    /// words. The results are copied back into `outputs`.
    #[allow(clippy::too_many_arguments)]
    fn execute_one(
        &self,
        op: Operation,
        slot: u32,
        inputs: &[u64],
        outputs: &mut [u64],
        batch: usize,
        per: usize,
        mut exec: impl FnMut(&[u64], &mut [u64]) -> Result<(u64, u64)>,
    ) -> Result<()> {
        let (in_size, out_size) = (inputs.len() / batch, outputs.len() / batch);
        let ops: Vec<RingOp> = (0..batch)
            .step_by(per)
            .map(|j| RingOp {
                op,
                slot,
                batch: per.min(batch - j),
                in_addr: j * in_size,
                out_addr: inputs.len() + j * out_size,
                first: j,
            })
            .collect();
        let mut memory = Vec::with_capacity(inputs.len() + outputs.len());
        memory.extend_from_slice(inputs);
        memory.extend_from_slice(outputs);
        let memory = self.execute(
            memory,
            ops,
            &mut |mem, req| {
                let b = req.batch as usize;
                let (i, o) = (req.in_addr as usize, req.out_addr as usize);
                let (m, out) = mem.split_at_mut(o);
                exec(&m[i..i + b * in_size], &mut out[..b * out_size])
            },
            &mut |_, _| Ok(Vec::new()),
        )?;
        outputs.copy_from_slice(&memory[inputs.len()..]);
        Ok(())
    }

    pub fn config(&self) -> SimConfig {
        self.config
    }

    /// What the units have done so far.
    pub fn counters(&self) -> SimCounters {
        *self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, f: impl FnOnce(&mut SimCounters)) {
        f(&mut self.counters.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Runs one request on the blind-rotation unit and counts it: its cycles and stall cycles.
    /// With `switch`, `rot` holds keyswitched LWE ciphertexts that the unit switches to Z/2NZ;
    /// else switched rotations.
    fn run_blind_rotation(
        &self,
        unit: &mut BlindRotationUnit,
        key: &SimBootstrapKey,
        rot: &[u64],
        switch: Option<ModulusSwitchType>,
        accumulators: &mut [u64],
    ) -> Result<(u64, u64)> {
        let run = match switch {
            None => unit.blind_rotate_batch_with(&key.key, &key.device_key, rot, accumulators)?,
            Some(kind) => unit.switch_and_rotate_batch_with(
                &key.key,
                &key.device_key,
                rot,
                kind,
                accumulators,
            )?,
        };
        self.count(|c| {
            c.blind_rotations += run.ciphertexts as u64;
            c.blind_rotation_cycles += run.cycles;
            c.key_words += run.key_words;
            c.wall_seconds += run.wall_seconds;
        });
        let stalls = run
            .batches
            .iter()
            .map(|r| r.key_stall_cycles + r.loop_stall_cycles)
            .sum();
        Ok((run.cycles, stalls))
    }

    /// Runs one request on the keyswitch unit and counts it.
    fn run_keyswitch(
        &self,
        unit: &mut KeyswitchUnit,
        key: &SimKeyswitchKey,
        inputs: &[u64],
        outputs: &mut [u64],
    ) -> Result<(u64, u64)> {
        let run = unit.keyswitch_batch_into(&key.key, inputs, outputs)?;
        self.count(|c| {
            c.keyswitches += run.ciphertexts as u64;
            c.keyswitch_cycles += run.cycles;
            c.key_words += run.key_words;
            c.wall_seconds += run.wall_seconds;
        });
        Ok((run.cycles, run.key_stall_cycles + run.in_stall_cycles))
    }

    /// The blind-rotation unit for `key`: the built configuration of its polynomial size.
    fn br_unit(&self, key: &NttLweBootstrapKey) -> Result<BlindRotationUnit> {
        let n = key.polynomial_size().0;
        let lanes = br_configs()
            .into_iter()
            .find(|c| {
                c.polynomial_size == n
                    && self
                        .config
                        .blind_rotation_lanes
                        .is_none_or(|l| l == c.lanes)
            })
            .map(|c| c.lanes)
            .ok_or_else(|| {
                let built: Vec<String> = br_configs()
                    .iter()
                    .map(|c| format!("N = {} with C = {}", c.polynomial_size, c.lanes))
                    .collect();
                let lanes = self
                    .config
                    .blind_rotation_lanes
                    .map(|l| format!(" with C = {l}"))
                    .unwrap_or_default();
                Error::InvalidParameters(format!(
                    "sim backend: no blind-rotation unit for N = {n}{lanes} (built: {})",
                    built.join(", ")
                ))
            })?;
        let mut unit = BlindRotationUnit::new(n, lanes, self.config.memory)?;
        if let Some(b) = self.config.batch {
            unit = unit.with_batch(b)?;
        }
        unit.check_key(key)?;
        Ok(unit)
    }
}

impl Backend for SimBackend {
    fn name(&self) -> String {
        let m = self.config.memory;
        format!(
            "sim (Verilated RTL; key memory {} words/cycle, {} cycles latency)",
            m.words_per_cycle, m.latency
        )
    }

    fn upload_bootstrap_key(&self, bsk: &LweBootstrapKey) -> Result<BootstrapKeyHandle> {
        let key = convert_standard_lwe_bootstrap_key_to_ntt(bsk)?;
        let unit = self.br_unit(&key)?;
        let device_key = BlindRotationUnit::device_key(&key)?;
        let slot = self.bsks.insert(SimBootstrapKey {
            key,
            device_key,
            unit: Mutex::new(unit),
        });
        self.load_slot(
            self.device_slot(slot, Operation::BlindRotation)?,
            Operation::BlindRotation,
        )?;
        Ok(BootstrapKeyHandle::new(self.instance, slot, bsk))
    }

    fn upload_keyswitch_key(&self, ksk: &LweKeyswitchKey) -> Result<KeyswitchKeyHandle> {
        let lanes = self.config.keyswitch_lanes;
        let w = ksk.output_modulus_log();
        if !ks_configs()
            .iter()
            .any(|c| c.lanes == lanes && c.output_modulus_log == w)
        {
            return Err(Error::InvalidParameters(format!(
                "sim backend: no keyswitch unit with {lanes} lanes for output modulus 2^{w}"
            )));
        }
        // The keyswitch key is stored packed at its modulus's width (KeyMemory::packed).
        let memory = self.config.memory.packed(w);
        let mut unit = KeyswitchUnit::for_key(ksk, lanes, memory)?;
        if let Some(b) = self.config.batch {
            unit = unit.with_batch(b)?;
        }
        // The unit checks the key's shape on every batch; check it once here as well, so a key
        // it cannot take is refused at upload.
        unit.cycle_model(ksk, 1)?;
        let slot = self.ksks.insert(SimKeyswitchKey {
            key: ksk.clone(),
            unit: Mutex::new(unit),
        });
        self.load_slot(
            self.device_slot(slot, Operation::Keyswitch)?,
            Operation::Keyswitch,
        )?;
        Ok(KeyswitchKeyHandle::new(self.instance, slot, ksk))
    }

    /// Frees the host's copy of the key and its Verilated unit. The command interface's slot
    /// is not handed out again (slots follow upload order), so a simulated device takes at most
    /// its slot count of uploads over its life.
    fn release_bootstrap_key(&self, bsk: &BootstrapKeyHandle) -> Result<()> {
        self.bsks.remove(bsk.backend_instance(), bsk.slot())
    }

    fn release_keyswitch_key(&self, ksk: &KeyswitchKeyHandle) -> Result<()> {
        self.ksks.remove(ksk.backend_instance(), ksk.slot())
    }

    fn blind_rotate_batch(
        &self,
        handle: &BootstrapKeyHandle,
        msed: &[u64],
        accumulators: &mut [u64],
    ) -> Result<()> {
        let Some(batch) = handle.nonempty_batch(msed, accumulators)? else {
            return Ok(());
        };
        let resident = self.bsks.get(handle.backend_instance(), handle.slot())?;
        let mut unit = resident.unit.lock().unwrap_or_else(|e| e.into_inner());
        let per = unit.batch();
        self.execute_one(
            Operation::BlindRotation,
            self.device_slot(handle.slot(), Operation::BlindRotation)?,
            msed,
            accumulators,
            batch,
            per,
            |m, acc| self.run_blind_rotation(&mut unit, &resident, m, None, acc),
        )
    }

    fn keyswitch_batch(
        &self,
        handle: &KeyswitchKeyHandle,
        inputs: &[u64],
        outputs: &mut [u64],
    ) -> Result<()> {
        let Some(batch) = handle.nonempty_batch(inputs, outputs)? else {
            return Ok(());
        };
        let resident = self.ksks.get(handle.backend_instance(), handle.slot())?;
        let mut unit = resident.unit.lock().unwrap_or_else(|e| e.into_inner());
        let per = unit.batch();
        self.execute_one(
            Operation::Keyswitch,
            self.device_slot(handle.slot(), Operation::Keyswitch)?,
            inputs,
            outputs,
            batch,
            per,
            |m, out| self.run_keyswitch(&mut unit, &resident, m, out),
        )
    }

    /// The keyswitch of chunk i + 1 runs on its unit while chunk i is blind-rotated on the
    /// other: the driver submits both as soon as the keyswitch of chunk i completes. The
    /// blind-rotation unit reads the keyswitch's outputs as they are and switches them to
    /// Z/2NZ itself (`hdl/mod_switch.sv`). Device memory holds the inputs, the keyswitch
    /// outputs and the accumulators, a region each.
    fn keyswitch_blind_rotate_batch(
        &self,
        ksk: &KeyswitchKeyHandle,
        bsk: &BootstrapKeyHandle,
        inputs: &[u64],
        log_2n: u32,
        switch: ModulusSwitchType,
        accumulators: &mut [u64],
    ) -> Result<()> {
        let small = ksk.output_lwe_dimension().0 + 1;
        let big = ksk.input_lwe_dimension().0 + 1;
        let batch = inputs.len() / big;
        let switched_len = batch * small;
        ksk.check_batch(inputs, &vec![0u64; switched_len])?;
        bsk.check_batch(&vec![0u64; switched_len], accumulators)?;
        if batch == 0 {
            return Ok(());
        }
        let poly = bsk.polynomial_size().0;
        if 1usize.checked_shl(log_2n) != Some(2 * poly) {
            return Err(Error::InvalidParameters(format!(
                "modulus switch to 2^{log_2n}: the blind-rotation unit switches to 2N = {}",
                2 * poly
            )));
        }
        let acc_size = accumulators.len() / batch;
        let ks_key = self.ksks.get(ksk.backend_instance(), ksk.slot())?;
        let br_key = self.bsks.get(bsk.backend_instance(), bsk.slot())?;
        let mut ks_unit = ks_key.unit.lock().unwrap_or_else(|e| e.into_inner());
        let mut br_unit = br_key.unit.lock().unwrap_or_else(|e| e.into_inner());
        let per = ks_unit.batch().min(br_unit.batch());
        let (ks_slot, br_slot) = (
            self.device_slot(ksk.slot(), Operation::Keyswitch)?,
            self.device_slot(bsk.slot(), Operation::BlindRotation)?,
        );
        // Regions: inputs, keyswitch outputs, accumulators.
        let out_at = inputs.len();
        let acc_at = out_at + switched_len;
        let keyswitch = |first: usize| RingOp {
            op: Operation::Keyswitch,
            slot: ks_slot,
            batch: per.min(batch - first),
            in_addr: first * big,
            out_addr: out_at + first * small,
            first,
        };
        let mut memory = Vec::with_capacity(acc_at + accumulators.len());
        memory.extend_from_slice(inputs);
        memory.resize(acc_at, 0);
        memory.extend_from_slice(accumulators);
        let memory = self.execute(
            memory,
            vec![keyswitch(0)],
            &mut |mem, req| {
                let b = req.batch as usize;
                let (i, o) = (req.in_addr as usize, req.out_addr as usize);
                let (m, out) = mem.split_at_mut(o);
                if req.op == u32::from(Operation::Keyswitch.code()) {
                    let input = &m[i..i + b * big];
                    self.run_keyswitch(&mut ks_unit, &ks_key, input, &mut out[..b * small])
                } else {
                    let input = &m[i..i + b * small];
                    let acc = &mut out[..b * acc_size];
                    self.run_blind_rotation(&mut br_unit, &br_key, input, Some(switch), acc)
                }
            },
            &mut |_, done| {
                if done.op != Operation::Keyswitch {
                    return Ok(Vec::new());
                }
                let (first, b) = (done.first, done.batch);
                let mut next = Vec::new();
                if first + b < batch {
                    next.push(keyswitch(first + b));
                }
                next.push(RingOp {
                    op: Operation::BlindRotation,
                    slot: br_slot,
                    batch: b,
                    in_addr: out_at + first * small,
                    out_addr: acc_at + first * acc_size,
                    first,
                });
                Ok(next)
            },
        )?;
        accumulators.copy_from_slice(&memory[acc_at..]);
        Ok(())
    }
}
