// The blind-rotation unit's harness (hdl/br_unit.sv): loads a batch of accumulators, streams the
// rotations and models the key memory that sends the GGSWs, through the unit's ports only.
// Shared by the cxx bridge (br.cpp) and nothing else: it knows no Rust types.
//
// Key memory model. The unit raises key_req while it can take the next GGSW; the memory starts
// sending it (key_start) in the first such cycle in which its channel is free. A GGSW is
// levels K1 K1 W rows of C words; the channel moves `bandwidth` words per cycle, so a row takes
// d = ceil(C / bandwidth) cycles and row m of a transfer begun in cycle F reaches the unit in
// cycle F + (m + 1) d + latency. The channel is free again at F + rows d (the next transfer may
// start while the previous one's last rows are still in flight): channel.h's transfer of
// rows d cycles.
//
// BrDriver drives the unit through one batch cycle by cycle, its key requests left to the
// caller (a channel of its own in br_run, one shared with the keyswitch unit in
// accelerator.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <stdexcept>
#include <string>

#include "glovebox-sim/cpp/channel.h"
#include "glovebox-sim/cpp/ks_harness.h"

namespace glovebox_sim {

struct BrShape {
  uint32_t n, poly, k1, levels, base_log, batch;
  // Rotations: 0 switched already, 1 native-torus words switched by the unit, 2 likewise with
  // the centered-mean body correction. Outputs: LWE ciphertexts (sample-extracted) or GLWEs.
  uint32_t switch_kind;
  bool extract;
};

struct BrCounters {
  uint64_t cycles = 0;             // cycle of the last output row (start in cycle 0)
  uint64_t key_rows = 0;           // key rows the unit took
  uint64_t key_stall_cycles = 0;   // the unit's counter: issue waiting for a GGSW
  uint64_t loop_stall_cycles = 0;  // the unit's counter: issue waiting for a write-back
  uint64_t conflicts = 0;          // the unit's bank-conflict counter
};

// One batch on the unit, cycle by cycle. `key`: n GGSWs of levels k1 k1 poly words (NTT
// domain, times N); `rot`: batch ciphertexts of n + 1 words (switched rotations, or LWE words
// with switch_kind); `acc`: batch accumulators of k1 poly words; `out`: the results, batch
// accumulators (may be `acc`) or, extracting, batch LWE ciphertexts of (k1 - 1) poly + 1
// words. The caller has checked the shapes. Each cycle t (from `t0`, the start cycle):
// drive(t), the model's eval, then request() and, if the memory takes it, granted(t), then
// clock(t).
template <class V, uint32_t C> class BrDriver {
public:
  BrDriver(V &top, const BrShape &s, uint32_t bandwidth, uint32_t latency, const uint64_t *key,
           const uint64_t *rot, const uint64_t *acc, uint64_t *out, uint64_t t0)
      : top_(top), s_(s), latency_(latency), key_(key), rot_(rot), acc_(acc), out_(out), t0_(t0),
        rows_per_poly_(s.poly / C), acc_rows_(uint64_t{s.batch} * s.k1 * rows_per_poly_),
        out_rows_per_ct_(s.extract ? (s.k1 - 1) * rows_per_poly_ + 1 : s.k1 * rows_per_poly_),
        out_rows_(uint64_t{s.batch} * out_rows_per_ct_),
        ggsw_rows_(uint64_t{s.levels} * s.k1 * s.k1 * rows_per_poly_),
        d_((C + bandwidth - 1) / bandwidth), rotations_(uint64_t{s.n} * s.batch + s.batch) {
    using namespace ks_detail;
    top_.rst = 1;
    top_.start = 0;
    top_.in_valid = 0;
    top_.rot_valid = 0;
    top_.key_start = 0;
    top_.key_valid = 0;
    for (int r = 0; r < 2; r++) tick(top_);
    top_.rst = 0;
  }

  bool done() const { return out_idx_ == out_rows_; }
  const BrCounters &counters() const { return k_; }
  uint64_t progress() const { return out_idx_; }
  uint64_t expected() const { return out_rows_; }
  // The channel cycles of one GGSW.
  uint64_t transfer_cycles() const { return ggsw_rows_ * d_; }

  void drive(uint64_t t) {
    using namespace ks_detail;
    top_.start = t == t0_;
    top_.cfg_n = s_.n;
    top_.cfg_batch = s_.batch;
    top_.cfg_base_log = s_.base_log;
    top_.cfg_levels = s_.levels;
    top_.cfg_switch = s_.switch_kind != 0;
    top_.cfg_centered = s_.switch_kind == 2;
    top_.cfg_extract = s_.extract;
    in_valid_ = t > t0_ && in_idx_ < acc_rows_;
    top_.in_valid = in_valid_;
    if (in_valid_)
      for (uint32_t l = 0; l < C; l++) set_bits(top_.in_data, size_t{l} * 64, 64, acc_[in_idx_ * C + l]);
    rot_valid_ = rot_idx_ < rotations_;
    top_.rot_valid = rot_valid_;
    if (rot_valid_) {
      const uint64_t nb = uint64_t{s_.n} * s_.batch;
      const uint64_t b = rot_idx_ < nb ? rot_idx_ % s_.batch : rot_idx_ - nb;
      const uint64_t i = rot_idx_ < nb ? rot_idx_ / s_.batch : s_.n;
      top_.rot_data = rot_[b * (s_.n + 1) + i];
    }
    // The head transfer's next row, if it arrives in this cycle.
    key_valid_ = !transfers_.empty() && t == transfers_.front() + (head_row_ + 1) * d_ + latency_;
    if (key_valid_) {
      const uint64_t g = started_ - transfers_.size();
      const uint64_t *row = key_ + (g * ggsw_rows_ + head_row_) * C;
      for (uint32_t l = 0; l < C; l++) set_bits(top_.key_data, size_t{l} * 64, 64, row[l]);
    }
    top_.key_valid = key_valid_;
    top_.key_start = 0;
  }

  // After eval: whether the unit asks for its next GGSW (it has a free slot and one is left).
  bool request() const { return top_.key_req && started_ < s_.n; }
  // The memory begins sending the next GGSW in cycle t.
  void granted(uint64_t t) {
    top_.key_start = 1;
    transfers_.push_back(t);
    started_++;
  }

  // The clock edge ending cycle t.
  void clock(uint64_t t) {
    using namespace ks_detail;
    const bool in_fire = in_valid_ && top_.in_ready;
    const bool rot_fire = rot_valid_ && top_.rot_ready;
    tick(top_);
    count_unit_cycle();
    if (in_fire) in_idx_++;
    if (rot_fire) rot_idx_++;
    if (key_valid_) {
      k_.key_rows++;
      if (++head_row_ == ggsw_rows_) {
        head_row_ = 0;
        transfers_.pop_front();
      }
    }
    // After the edge ending cycle t the registered outputs are those of cycle t + 1.
    if (top_.out_valid) {
      const uint64_t ct = out_idx_ / out_rows_per_ct_, row = out_idx_ % out_rows_per_ct_;
      if (!s_.extract) {
        for (uint32_t l = 0; l < C; l++)
          out_[out_idx_ * C + l] = get_bits(top_.out_data, size_t{l} * 64, 64);
      } else {
        // k poly mask words, then the body in lane 0 of the last row.
        const uint64_t size = uint64_t{s_.k1 - 1} * s_.poly + 1;
        const uint32_t lanes = row + 1 == out_rows_per_ct_ ? 1 : C;
        for (uint32_t l = 0; l < lanes; l++)
          out_[ct * size + row * C + l] = get_bits(top_.out_data, size_t{l} * 64, 64);
      }
      out_idx_++;
      k_.cycles = t + 1 - t0_;
    }
    if (done()) {
      k_.key_stall_cycles = top_.key_stall_cycles;
      k_.loop_stall_cycles = top_.loop_stall_cycles;
      k_.conflicts = top_.conflicts;
    }
  }

private:
  V &top_;
  BrShape s_;
  uint32_t latency_;
  const uint64_t *key_, *rot_, *acc_;
  uint64_t *out_;
  uint64_t t0_, rows_per_poly_, acc_rows_, out_rows_per_ct_, out_rows_, ggsw_rows_, d_, rotations_;
  std::deque<uint64_t> transfers_;  // start cycles of the GGSWs in flight, oldest first
  uint64_t started_ = 0, head_row_ = 0, in_idx_ = 0, rot_idx_ = 0, out_idx_ = 0;
  bool in_valid_ = false, rot_valid_ = false, key_valid_ = false;
  BrCounters k_;
};

// Runs one batch on a key memory of its own (see BrDriver); `bound` stops a unit that never
// finishes.
template <class V, uint32_t C>
BrCounters br_run(V &top, const BrShape &s, uint32_t bandwidth, uint32_t latency,
                  const uint64_t *key, const uint64_t *rot, const uint64_t *acc, uint64_t *out,
                  uint64_t bound) {
  BrDriver<V, C> unit(top, s, bandwidth, latency, key, rot, acc, out, 0);
  Channel channel(latency, 0);
  for (uint64_t t = 0; !unit.done(); t++) {
    if (t > bound)
      throw std::runtime_error("blind-rotation unit: " + std::to_string(unit.progress()) +
                               " of " + std::to_string(unit.expected()) + " output rows within " +
                               std::to_string(bound) + " cycles");
    unit.drive(t);
    top.eval();
    if (unit.request() && channel.free(t)) {
      channel.grant(t, unit.transfer_cycles());
      unit.granted(t);
    }
    unit.clock(t);
  }
  return unit.counters();
}

} // namespace glovebox_sim
