// The C++ side of glovebox-sim: small wrappers around the Verilated models that expose ports
// only (reset, clock, push and pull words, counters), never Verilator's internal names.
#pragma once
#include <cstdint>
#include <memory>
#include "rust/cxx.h"

namespace glovebox_sim {

// Shared with Rust (the cxx bridge in src/lib.rs defines it).
struct RtlConstants;

// A streaming NTT unit of one (N, C) configuration.
class NttSim {
public:
  virtual ~NttSim() = default;
  virtual uint32_t n() const = 0;
  virtual uint32_t c() const = 0;
  // The unit's `latency` port: its LATENCY parameter (cycles from first word in to first word
  // out).
  virtual uint32_t latency() const = 0;
  // Cycles simulated since construction.
  virtual uint64_t cycles() const = 0;
  // Holds reset for a few cycles.
  virtual void reset() = 0;
  // Feeds whole polynomials back to back (C words per cycle, direction `inverse`), collects
  // every output word into `output` and, per polynomial, the cycle its first word appeared
  // (counted from the cycle its own first input word was presented) into `latencies`.
  // Returns the cycles from the first input word to the last output word. Throws if the unit
  // produces no output within the analytical bound plus a margin.
  virtual uint64_t stream(rust::Slice<const uint64_t> input, bool inverse,
                          rust::Slice<uint64_t> output, rust::Slice<uint64_t> latencies) = 0;
};

// nullptr when the configuration was not built.
std::unique_ptr<NttSim> new_ntt_sim(uint32_t n, uint32_t c);
// The (N, C) configurations built into this library, as pairs.
rust::Vec<uint32_t> ntt_configs();

// The units' `latency` ports and goldilocks_consts's ports, read from their models.
RtlConstants rtl_constants();

// The arithmetic units, one word (or lane group) per cycle with `in_valid` high; each output is
// taken from the ports on the cycle its `out_valid` comes, and that cycle (counted from the
// cycle the first input was presented: cycle k is after k clock edges) goes to `arrivals`
// (one entry per output word, per lane group for the MAC). Each returns the cycle of the last
// output, i.e. the cycles from the first input to the last output.
uint64_t mod_mul_stream(rust::Slice<const uint64_t> a, rust::Slice<const uint64_t> b,
                        rust::Slice<uint64_t> y, rust::Slice<uint64_t> arrivals);
uint64_t butterfly_stream(bool inverse, rust::Slice<const uint64_t> u,
                          rust::Slice<const uint64_t> v, rust::Slice<const uint64_t> w,
                          rust::Slice<uint64_t> x, rust::Slice<uint64_t> y,
                          rust::Slice<uint64_t> arrivals);
// a * 2^e mod p (hdl/mod_shift.sv) and the shift butterfly (hdl/butterfly_shift.sv).
uint64_t mod_shift_stream(rust::Slice<const uint64_t> a, rust::Slice<const uint8_t> e,
                          rust::Slice<uint64_t> y, rust::Slice<uint64_t> arrivals);
uint64_t butterfly_shift_stream(rust::Slice<const uint64_t> u, rust::Slice<const uint64_t> v,
                                rust::Slice<const uint8_t> e, rust::Slice<uint64_t> x,
                                rust::Slice<uint64_t> y, rust::Slice<uint64_t> arrivals);
uint64_t mac_stream(rust::Slice<const uint64_t> a, rust::Slice<const uint64_t> b,
                    rust::Slice<const uint64_t> c, rust::Slice<uint64_t> y,
                    rust::Slice<uint64_t> arrivals);
uint32_t mac_lanes();

// Clock edges the keyswitch and blind-rotation units' harnesses have simulated in this process
// (cpp/progress.h), for a progress display on another thread.
uint64_t unit_cycles_simulated();

} // namespace glovebox_sim
