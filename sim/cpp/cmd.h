// The C++ side of glovebox_sim::device: the command interface's model (hdl/cmd_unit.sv),
// driven a cycle at a time through its ports. The operations it dispatches run on the unit
// models from Rust (src/device.rs), which tells it when they finish.
#pragma once
#include <cstdint>
#include <memory>
#include "rust/cxx.h"

namespace glovebox_sim {

struct ExecRequest;

class CmdSim {
public:
  virtual ~CmdSim() = default;
  // Ring sizes and key slots of the built configuration.
  virtual uint32_t qdepth() const = 0;
  virtual uint32_t cdepth() const = 0;
  virtual uint32_t slots() const = 0;
  // `rst` for two cycles: both rings empty, no key slot loaded.
  virtual void reset() = 0;
  // Host writes, one cycle each.
  virtual void write_descriptor(uint32_t index, uint64_t lo, uint64_t hi) = 0;
  virtual void doorbell(uint32_t tail) = 0;
  virtual void load_slot(uint32_t slot, uint32_t kind) = 0;
  virtual void set_completion_head(uint32_t head) = 0;
  // Runs until a unit is handed an operation (1, with `req` filled: req.op names the unit), the
  // interface is idle with nothing to fetch and no operation running (0), or `budget` cycles
  // pass in which no unit has a finish scheduled (2).
  virtual uint32_t run(uint64_t budget, ExecRequest &req) = 0;
  // The operation last handed to the unit of `op` takes `cycles` cycles from that hand-over:
  // schedules exec_done with `status` and `stalls` in its last cycle. The other unit goes on
  // meanwhile.
  virtual void finish(uint32_t op, uint64_t cycles, uint32_t status, uint32_t stalls) = 0;
  // The completion ring's tail, and entry `index` (one cycle: a registered read).
  virtual uint32_t completion_tail() = 0;
  virtual void read_completion(uint32_t index, rust::Slice<uint64_t> out) = 0;
  // Cycles since construction.
  virtual uint64_t cycles() const = 0;
};

std::unique_ptr<CmdSim> new_cmd_sim();

} // namespace glovebox_sim
