// The C++ side of glovebox_sim::br: the blind-rotation unit's models (hdl/br_unit.sv, one per
// configuration built) behind one interface, driven through their ports by br_harness.h.
#pragma once
#include <cstdint>
#include <memory>
#include "rust/cxx.h"

namespace glovebox_sim {

// Shared with Rust (the cxx bridge in src/br.rs defines them).
struct BrLimits;
struct BrLatencies;
struct BrJob;
struct BrStats;

class BrSim {
public:
  virtual ~BrSim() = default;
  // The configuration's parameters.
  virtual BrLimits limits() const = 0;
  // The latency ports (the NTT units', the mac_unit's and the unit's own).
  virtual BrLatencies latencies() const = 0;
  // One batch: `key` is n GGSWs (NTT domain, times N), `rot` job.batch ciphertexts of n + 1
  // rotations (or LWE words, job.switch_kind), `acc` job.batch accumulators; `out` the results
  // (accumulators, or LWE ciphertexts with job.extract). Throws when the shapes do not match,
  // the unit does not finish within job.bound cycles or a bank port was contended.
  virtual BrStats run(const BrJob &job, rust::Slice<const uint64_t> key,
                      rust::Slice<const uint64_t> rot, rust::Slice<const uint64_t> acc,
                      rust::Slice<uint64_t> out) = 0;
};

// nullptr when no unit of this polynomial size and these lanes was built.
std::unique_ptr<BrSim> new_br_sim(uint32_t poly, uint32_t lanes);
// The configurations built into this library.
rust::Vec<BrLimits> br_configs();

} // namespace glovebox_sim
