// One device: a keyswitch unit and a blind-rotation unit on one timeline, sharing one memory
// channel (channel.h) that holds both keys, the ciphertexts and the lookup tables, with the
// host's transfers on a PCIe link. The cxx bridge's C++ side (src/accelerator.rs).
#pragma once
#include "rust/cxx.h"
#include <cstdint>
#include <memory>

namespace glovebox_sim {

struct DeviceJob;
struct DeviceBatch;
struct DeviceStats;

class DeviceSim {
public:
  virtual ~DeviceSim() = default;
  // job.batches batches of job.batch ciphertexts: `inputs` (LWE ciphertexts of n_in + 1 words),
  // `luts` (one lookup-table polynomial of N words per ciphertext), `outputs` (LWE ciphertexts of
  // (k1 - 1) N + 1 words); `ks_key` the engine's keyswitching key, `br_key` the unit's
  // bootstrapping key. `timeline` gets one entry per batch. Throws when the shapes do not
  // match the units, a unit does not finish within job.bound cycles or a bank port was
  // contended.
  virtual DeviceStats run(const DeviceJob &job, rust::Slice<const uint64_t> ks_key,
                          rust::Slice<const uint64_t> br_key, rust::Slice<const uint64_t> inputs,
                          rust::Slice<const uint64_t> luts, rust::Slice<uint64_t> outputs,
                          rust::Vec<DeviceBatch> &timeline) = 0;
};

// nullptr when no such pair of units was built.
std::unique_ptr<DeviceSim> new_device_sim(uint32_t ks_lanes, uint32_t w, uint32_t poly,
                                          uint32_t lanes);

} // namespace glovebox_sim
