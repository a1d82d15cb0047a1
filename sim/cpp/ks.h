// The C++ side of glovebox_sim::ks: the keyswitch unit's models (hdl/ks_unit.sv, one per
// configuration built) behind one interface, driven through their ports by ks_harness.h.
#pragma once
#include <cstdint>
#include <memory>
#include "rust/cxx.h"

namespace glovebox_sim {

// Shared with Rust (the cxx bridge in src/ks.rs defines them).
struct KsLimits;
struct KsJob;
struct KsStats;

class KsSim {
public:
  virtual ~KsSim() = default;
  // The configuration's parameters.
  virtual KsLimits limits() const = 0;
  // The unit's `latency` port (ks_pkg::KS_LATENCY).
  virtual uint32_t latency() const = 0;
  // The unit's `decompose_latency` port (the gadget decomposition's pipeline).
  virtual uint32_t decompose_latency() const = 0;
  // One batch: `key` is the LweKeyswitchKey container, `inputs` job.batch ciphertexts of
  // n_in + 1 words, `outputs` job.batch times cols words. Throws when the shapes do not match
  // or the unit does not finish within job.bound cycles.
  virtual KsStats run(const KsJob &job, rust::Slice<const uint64_t> key,
                      rust::Slice<const uint64_t> inputs, rust::Slice<uint64_t> outputs) = 0;
};

// nullptr when no unit with these lanes and output modulus 2^w was built.
std::unique_ptr<KsSim> new_ks_sim(uint32_t lanes, uint32_t w);
// The configurations built into this library.
rust::Vec<KsLimits> ks_configs();

} // namespace glovebox_sim
