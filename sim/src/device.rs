//! The command interface (`hdl/cmd_unit.sv`), simulated: the host writes [`Descriptor`]s into
//! the device's ring and rings the doorbell; the device checks each one, hands the operation to
//! its units and writes a [`Completion`] (tag, status, busy and stall cycles) that the host
//! reads back. [`CommandInterface`] is the host's side of it; [`crate::backend::SimBackend`]
//! drives its units through it.
//!
//! ```no_run
//! use glovebox_sim::device::{CommandInterface, Descriptor, Event, Operation};
//! let mut dev = CommandInterface::new();
//! dev.load_slot(0, Some(Operation::BlindRotation))?;
//! dev.submit(&Descriptor { operation: 2, slot: 0, batch: 4, tag: 7, in_addr: 0, out_addr: 64 })?;
//! if let Event::Execute(req) = dev.run(1_000) {
//!     // ... run the blind-rotation unit on the buffers, then:
//!     dev.finish(&req, 12_345, 0, 0);
//! }
//! dev.run(1_000);
//! let done = dev.completions();
//! assert_eq!(done[0].tag, 7);
//! # Ok::<(), glovebox_engine::Error>(())
//! ```

use glovebox_engine::{Error, Result};

#[cxx::bridge(namespace = "glovebox_sim")]
mod ffi {
    /// An operation the command unit hands to the units (its `exec_*` ports).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct ExecRequest {
        op: u32,
        slot: u32,
        batch: u32,
        in_addr: u32,
        out_addr: u32,
    }

    unsafe extern "C++" {
        include!("glovebox-sim/cpp/cmd.h");

        type CmdSim;
        fn new_cmd_sim() -> UniquePtr<CmdSim>;
        fn qdepth(self: &CmdSim) -> u32;
        fn cdepth(self: &CmdSim) -> u32;
        fn slots(self: &CmdSim) -> u32;
        fn reset(self: Pin<&mut CmdSim>);
        fn write_descriptor(self: Pin<&mut CmdSim>, index: u32, lo: u64, hi: u64);
        fn doorbell(self: Pin<&mut CmdSim>, tail: u32);
        fn load_slot(self: Pin<&mut CmdSim>, slot: u32, kind: u32);
        fn set_completion_head(self: Pin<&mut CmdSim>, head: u32);
        fn run(self: Pin<&mut CmdSim>, budget: u64, req: &mut ExecRequest) -> u32;
        fn finish(self: Pin<&mut CmdSim>, op: u32, cycles: u64, status: u32, stalls: u32);
        fn completion_tail(self: Pin<&mut CmdSim>) -> u32;
        fn read_completion(self: Pin<&mut CmdSim>, index: u32, out: &mut [u64]);
        fn cycles(self: &CmdSim) -> u64;
    }
}

pub use ffi::ExecRequest;

crate::unit::send_model!(ffi::CmdSim);

/// The operations a descriptor can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// A batch of LWE keyswitches (operation code 1; key slot kind 2).
    Keyswitch,
    /// A batch of blind rotations (operation code 2; key slot kind 1).
    BlindRotation,
}

impl Operation {
    pub fn code(self) -> u8 {
        match self {
            Self::Keyswitch => 1,
            Self::BlindRotation => 2,
        }
    }

    fn slot_kind(self) -> u32 {
        match self {
            Self::Keyswitch => 2,
            Self::BlindRotation => 1,
        }
    }

    pub fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(Self::Keyswitch),
            2 => Some(Self::BlindRotation),
            _ => None,
        }
    }
}

/// One descriptor as the host writes it (the layout is in `hdl/cmd_unit.sv`). The fields are
/// raw so that a test can write what a faulty driver would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// Operation code (see [`Operation::code`]).
    pub operation: u8,
    pub slot: u8,
    pub batch: u16,
    pub tag: u16,
    /// Word addresses of the input and output buffers in device memory.
    pub in_addr: u32,
    pub out_addr: u32,
}

impl Descriptor {
    fn words(&self) -> (u64, u64) {
        let lo = u64::from(self.operation)
            | u64::from(self.slot) << 8
            | u64::from(self.batch) << 16
            | u64::from(self.tag) << 32
            | u64::from(self.in_addr & 0xffff) << 48;
        let hi = u64::from(self.in_addr >> 16) | u64::from(self.out_addr) << 16;
        (lo, hi)
    }
}

/// The status a completion carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Done,
    UnknownOperation,
    BadBatch,
    KeyNotLoaded,
    ReservedBits,
    /// The unit reported this fault code.
    UnitFault(u8),
    /// A code the interface does not define.
    Other(u8),
}

impl Status {
    fn from_code(code: u8) -> Self {
        match code {
            0 => Self::Done,
            1 => Self::UnknownOperation,
            2 => Self::BadBatch,
            3 => Self::KeyNotLoaded,
            4 => Self::ReservedBits,
            c if c & 0x80 != 0 => Self::UnitFault(c & 0x7f),
            c => Self::Other(c),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Done => f.write_str("done"),
            Self::UnknownOperation => f.write_str("unknown operation"),
            Self::BadBatch => f.write_str("batch size out of range"),
            Self::KeyNotLoaded => f.write_str("key slot not loaded (or holding another kind)"),
            Self::ReservedBits => f.write_str("reserved descriptor bits set"),
            Self::UnitFault(c) => write!(f, "unit fault {c}"),
            Self::Other(c) => write!(f, "undefined status {c}"),
        }
    }
}

/// One completion as the device wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    pub tag: u16,
    pub status: Status,
    /// Cycles the operation kept the device busy, and of those, the unit's stall cycles.
    pub busy_cycles: u32,
    pub stall_cycles: u32,
    /// The descriptor's index (modulo twice the ring size).
    pub index: u32,
}

/// What [`CommandInterface::run`] stopped at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The device hands this operation to its unit (`op` 1: keyswitch, 2: blind rotation);
    /// answer with [`CommandInterface::finish`]. The two units run at the same time.
    Execute(ExecRequest),
    /// Every descriptor up to the doorbell is done.
    Idle,
    /// The cycle budget ran out first.
    Timeout,
}

/// The host's side of the simulated command interface.
pub struct CommandInterface {
    sim: cxx::UniquePtr<ffi::CmdSim>,
    /// Descriptors written, and completions read (each modulo twice its ring's size).
    tail: u32,
    head: u32,
    /// Descriptors written whose completions are not read yet.
    outstanding: u32,
}

impl Default for CommandInterface {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandInterface {
    pub fn new() -> Self {
        Self {
            sim: ffi::new_cmd_sim(),
            tail: 0,
            head: 0,
            outstanding: 0,
        }
    }

    /// Descriptor ring entries.
    pub fn queue_depth(&self) -> u32 {
        self.sim.qdepth()
    }

    /// Key slots.
    pub fn slots(&self) -> u32 {
        self.sim.slots()
    }

    /// Cycles the interface has run.
    pub fn cycles(&self) -> u64 {
        self.sim.cycles()
    }

    /// Resets the device: both rings empty, no slot loaded.
    pub fn reset(&mut self) {
        self.sim.pin_mut().reset();
        self.tail = 0;
        self.head = 0;
        self.outstanding = 0;
    }

    /// Marks key slot `slot` as holding the key of `operation` (or empty).
    pub fn load_slot(&mut self, slot: u32, operation: Option<Operation>) -> Result<()> {
        if slot >= self.slots() {
            return Err(Error::InvalidParameters(format!(
                "key slot {slot}: the device has {} slots",
                self.slots()
            )));
        }
        let kind = operation.map_or(0, Operation::slot_kind);
        self.sim.pin_mut().load_slot(slot, kind);
        Ok(())
    }

    /// Descriptors written and not yet completed and read.
    pub fn in_flight(&self) -> u32 {
        self.outstanding
    }

    /// Writes `d` at the ring's tail and rings the doorbell.
    pub fn submit(&mut self, d: &Descriptor) -> Result<()> {
        let (lo, hi) = d.words();
        self.submit_words(lo, hi)
    }

    /// Writes a descriptor's two 64-bit words as they are (bits 0..63, then 64..127) and rings
    /// the doorbell: what a faulty driver could write, for tests.
    pub fn submit_words(&mut self, lo: u64, hi: u64) -> Result<()> {
        let q = self.queue_depth();
        if self.outstanding >= q.min(self.sim.cdepth()) {
            return Err(crate::sim_error(format!(
                "descriptor ring full ({q} in flight)"
            )));
        }
        self.sim.pin_mut().write_descriptor(self.tail % q, lo, hi);
        self.tail = (self.tail + 1) % (2 * q);
        self.outstanding += 1;
        self.sim.pin_mut().doorbell(self.tail);
        Ok(())
    }

    /// Runs the device until a unit is handed an operation, everything submitted is done, or
    /// `budget` cycles pass in which no unit has a finish scheduled (a unit that never answers).
    pub fn run(&mut self, budget: u64) -> Event {
        let mut req = ExecRequest {
            op: 0,
            slot: 0,
            batch: 0,
            in_addr: 0,
            out_addr: 0,
        };
        match self.sim.pin_mut().run(budget, &mut req) {
            0 => Event::Idle,
            1 => Event::Execute(req),
            _ => Event::Timeout,
        }
    }

    /// The unit handed `req` finishes it `cycles` cycles after the hand-over with `status`
    /// (0: done): scheduled, so the other unit's operation (and the interface) go on meanwhile
    /// at the next [`CommandInterface::run`].
    pub fn finish(&mut self, req: &ExecRequest, cycles: u64, status: u8, stall_cycles: u32) {
        self.sim
            .pin_mut()
            .finish(req.op, cycles.max(1), u32::from(status), stall_cycles);
    }

    /// Reads every completion written since the last call, and frees their ring entries.
    pub fn completions(&mut self) -> Vec<Completion> {
        let c = self.sim.cdepth();
        let tail = self.sim.pin_mut().completion_tail();
        let mut out = Vec::new();
        let mut words = [0u64; 2];
        while self.head != tail {
            self.sim
                .pin_mut()
                .read_completion(self.head % c, &mut words);
            out.push(Completion {
                tag: words[0] as u16,
                status: Status::from_code((words[0] >> 16) as u8),
                busy_cycles: (words[0] >> 32) as u32,
                stall_cycles: words[1] as u32,
                index: (words[1] >> 32) as u32,
            });
            self.head = (self.head + 1) % (2 * c);
            self.outstanding = self.outstanding.saturating_sub(1);
        }
        self.sim.pin_mut().set_completion_head(self.head);
        out
    }
}

/// A fault [`RingDriver::inject`] provokes in the next operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The units never answer the command interface's request.
    Hang,
    /// The completion comes back with a tag no descriptor in flight carries.
    UnknownTag,
    /// The units finish with this fault code (1 ..= 127).
    ErrorStatus(u8),
}

/// One operation for the device: a descriptor's fields but its tag, and the index of its first
/// ciphertext in the call.
#[derive(Clone, Copy, Debug)]
pub struct RingOp {
    pub op: Operation,
    pub slot: u32,
    pub batch: usize,
    pub in_addr: usize,
    pub out_addr: usize,
    pub first: usize,
}

/// The host's side of the command ring: the command interface, the device memory of the call
/// in progress, the key slots loaded (restored after a reset) and the next tag. It keeps the
/// ring full, runs each request the interface hands out on its unit, matches completions to
/// descriptors by tag, and turns a hang, an unknown tag or an error status into a typed error.
pub struct RingDriver {
    cmd: CommandInterface,
    memory: Vec<u64>,
    next_tag: u16,
    fault: Option<Fault>,
    loaded: Vec<(u32, Operation)>,
}

impl Default for RingDriver {
    fn default() -> Self {
        Self::new()
    }
}

impl RingDriver {
    pub fn new() -> Self {
        Self {
            cmd: CommandInterface::new(),
            memory: Vec::new(),
            next_tag: 0,
            fault: None,
            loaded: Vec::new(),
        }
    }

    /// Provokes `fault` in the next operation (tests of the fault handling).
    pub fn inject(&mut self, fault: Fault) {
        self.fault = Some(fault);
    }

    /// The command interface's key slots.
    pub fn slots(&self) -> u32 {
        self.cmd.slots()
    }

    /// The command interface's cycles so far.
    pub fn cycles(&self) -> u64 {
        self.cmd.cycles()
    }

    /// Marks `slot` loaded with a key of `op` (kept across resets).
    pub fn load_slot(&mut self, slot: u32, op: Operation) -> Result<()> {
        self.cmd.load_slot(slot, Some(op))?;
        self.loaded.push((slot, op));
        Ok(())
    }

    /// Resets the command interface and loads its key slots again.
    pub fn reset(&mut self) {
        self.cmd.reset();
        for &(slot, op) in &self.loaded {
            // Slots were checked when they were first loaded.
            let _ = self.cmd.load_slot(slot, Some(op));
        }
    }

    /// Runs `first` (and whatever `then` submits as operations complete) on the device, whose
    /// memory holds `memory` for the call; `exec` runs one request on its unit, in device
    /// memory, and returns its cycles and stall cycles; the device answers each request
    /// within `budget` cycles or the call fails. Returns the device memory. On any fault the
    /// device is reset and the call fails.
    pub fn run(
        &mut self,
        memory: Vec<u64>,
        budget: u64,
        first: Vec<RingOp>,
        exec: &mut dyn FnMut(&mut [u64], &ExecRequest) -> Result<(u64, u64)>,
        then: &mut dyn FnMut(&mut [u64], &RingOp) -> Result<Vec<RingOp>>,
    ) -> Result<Vec<u64>> {
        self.memory = memory;
        match self.drive(budget, first, exec, then) {
            Ok(()) => Ok(std::mem::take(&mut self.memory)),
            Err(e) => {
                self.reset();
                Err(e)
            }
        }
    }

    fn drive(
        &mut self,
        budget: u64,
        first: Vec<RingOp>,
        exec: &mut dyn FnMut(&mut [u64], &ExecRequest) -> Result<(u64, u64)>,
        then: &mut dyn FnMut(&mut [u64], &RingOp) -> Result<Vec<RingOp>>,
    ) -> Result<()> {
        let fault = crate::sim_error;
        let dev = self;
        let mut waiting: std::collections::VecDeque<RingOp> = first.into();
        let mut pending: Vec<(u16, RingOp)> = Vec::new();
        // The units' own error for a request they refused (reported with its completion).
        let mut unit_error: Option<Error> = None;
        while !waiting.is_empty() || !pending.is_empty() {
            while dev.cmd.in_flight() < dev.cmd.queue_depth() {
                let Some(op) = waiting.pop_front() else { break };
                let tag = dev.next_tag;
                dev.next_tag = dev.next_tag.wrapping_add(1);
                let mut written = tag;
                if dev.fault == Some(Fault::UnknownTag) {
                    dev.fault = None;
                    written ^= 0x8000;
                }
                let addr = |a: usize| {
                    u32::try_from(a).map_err(|_| fault(format!("buffer address {a} beyond 2^32")))
                };
                dev.cmd.submit(&Descriptor {
                    operation: op.op.code(),
                    slot: op.slot as u8,
                    batch: op.batch as u16,
                    tag: written,
                    in_addr: addr(op.in_addr)?,
                    out_addr: addr(op.out_addr)?,
                })?;
                pending.push((tag, op));
            }
            let idle = match dev.cmd.run(budget) {
                Event::Execute(req) => {
                    match dev.fault.take() {
                        Some(Fault::Hang) => {}
                        other => {
                            let (cycles, stalls, mut status) = match exec(&mut dev.memory, &req) {
                                Ok((c, s)) => (c, s, 0),
                                // The unit refused the request: a unit fault, reported as one.
                                Err(e) => {
                                    unit_error = Some(e);
                                    (1, 0, 1)
                                }
                            };
                            if let Some(Fault::ErrorStatus(s)) = other {
                                status = (s & 0x7f).max(1);
                            }
                            let stalls = stalls.min(u64::from(u32::MAX)) as u32;
                            dev.cmd.finish(&req, cycles, status, stalls);
                        }
                    }
                    false
                }
                Event::Idle => true,
                Event::Timeout => {
                    return Err(fault(format!(
                        "device did not answer within {budget} cycles ({} descriptors in flight)",
                        dev.cmd.in_flight()
                    )))
                }
            };
            let completions = dev.cmd.completions();
            if idle && completions.is_empty() && waiting.is_empty() {
                return Err(fault(format!(
                    "device idle with {} descriptors unanswered",
                    pending.len()
                )));
            }
            for c in completions {
                let Some(at) = pending.iter().position(|&(t, _)| t == c.tag) else {
                    return Err(fault(format!(
                        "completion with tag {} that no descriptor in flight carries",
                        c.tag
                    )));
                };
                let (_, op) = pending.swap_remove(at);
                if c.status != Status::Done {
                    if let Some(e) = unit_error.take() {
                        return Err(e);
                    }
                    return Err(fault(format!(
                        "descriptor with tag {} completed with status: {}",
                        c.tag, c.status
                    )));
                }
                waiting.extend(then(&mut dev.memory, &op)?);
            }
        }
        Ok(())
    }
}
