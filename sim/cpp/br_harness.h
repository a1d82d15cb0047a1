// The blind-rotation unit's harness (hdl/br_unit.sv): loads a batch of accumulators, streams the
// rotations and models the key memory that sends the GGSWs, through the unit's ports only.
// Shared by the cxx bridge (br.cpp) and nothing else: it knows no Rust types.
//
// Key memory model. The unit raises key_req while it can take the next GGSW; the memory starts
// sending it (key_start) in the first such cycle in which its channel is free. A GGSW is
// levels K1 K1 W rows of C words; the channel moves `bandwidth` words per cycle, so a row takes
// d = ceil(C / bandwidth) cycles and row m of a transfer begun in cycle F reaches the unit in
// cycle F + (m + 1) d + latency. The channel is free again at F + rows d (the next transfer may
// start while the previous one's last rows are still in flight).
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <stdexcept>
#include <string>

#include "glovebox-sim/cpp/ks_harness.h"

namespace glovebox_sim {

struct BrShape {
  uint32_t n, poly, k1, levels, base_log, batch;
};

struct BrCounters {
  uint64_t cycles = 0;             // cycle of the last output row (start in cycle 0)
  uint64_t key_rows = 0;           // key rows the unit took
  uint64_t key_stall_cycles = 0;   // the unit's counter: issue waiting for a GGSW
  uint64_t loop_stall_cycles = 0;  // the unit's counter: issue waiting for a write-back
  uint64_t conflicts = 0;          // the unit's bank-conflict counter
};

// Runs one batch. `key`: n GGSWs of levels k1 k1 poly words (NTT domain, times N); `msed`:
// batch ciphertexts of n + 1 rotations; `acc`: batch accumulators of k1 poly words, replaced by
// the results. The caller has checked the shapes. `bound` stops a unit that never finishes.
template <class V, uint32_t C>
BrCounters br_run(V &top, const BrShape &s, uint32_t bandwidth, uint32_t latency,
                  const uint64_t *key, const uint64_t *msed, uint64_t *acc, uint64_t bound) {
  using namespace ks_detail;
  const uint64_t rows_per_poly = s.poly / C;
  const uint64_t acc_rows = uint64_t{s.batch} * s.k1 * rows_per_poly;
  const uint64_t ggsw_rows = uint64_t{s.levels} * s.k1 * s.k1 * rows_per_poly;
  const uint64_t d = (C + bandwidth - 1) / bandwidth;
  const uint64_t rotations = uint64_t{s.n} * s.batch + s.batch;

  BrCounters k;
  top.rst = 1;
  top.start = 0;
  top.in_valid = 0;
  top.rot_valid = 0;
  top.key_start = 0;
  top.key_valid = 0;
  for (int r = 0; r < 2; r++) tick(top);
  top.rst = 0;

  std::deque<uint64_t> transfers;  // start cycles of the GGSWs in flight, oldest first
  uint64_t started = 0, channel_free = 0, head_row = 0, in_idx = 0, rot_idx = 0, out_idx = 0;
  uint64_t t = 0;
  while (out_idx < acc_rows) {
    if (t > bound)
      throw std::runtime_error("blind-rotation unit: " + std::to_string(out_idx) + " of " +
                               std::to_string(acc_rows) + " output rows within " +
                               std::to_string(bound) + " cycles");
    top.start = t == 0;
    top.cfg_n = s.n;
    top.cfg_batch = s.batch;
    top.cfg_base_log = s.base_log;
    top.cfg_levels = s.levels;
    const bool in_valid = t > 0 && in_idx < acc_rows;
    top.in_valid = in_valid;
    if (in_valid)
      for (uint32_t l = 0; l < C; l++) set_bits(top.in_data, size_t{l} * 64, 64, acc[in_idx * C + l]);
    const bool rot_valid = rot_idx < rotations;
    top.rot_valid = rot_valid;
    if (rot_valid) {
      const uint64_t nb = uint64_t{s.n} * s.batch;
      const uint64_t b = rot_idx < nb ? rot_idx % s.batch : rot_idx - nb;
      const uint64_t i = rot_idx < nb ? rot_idx / s.batch : s.n;
      top.rot_data = static_cast<uint16_t>(msed[b * (s.n + 1) + i]);
    }
    // The head transfer's next row, if it arrives in this cycle.
    bool key_valid = false;
    if (!transfers.empty() && t == transfers.front() + (head_row + 1) * d + latency) {
      key_valid = true;
      const uint64_t g = started - transfers.size();
      const uint64_t *row = key + (g * ggsw_rows + head_row) * C;
      for (uint32_t l = 0; l < C; l++) set_bits(top.key_data, size_t{l} * 64, 64, row[l]);
    }
    top.key_valid = key_valid;
    top.key_start = 0;
    top.eval();
    if (top.key_req && t >= channel_free && started < s.n) {
      top.key_start = 1;
      transfers.push_back(t);
      channel_free = t + ggsw_rows * d;
      started++;
    }
    const bool in_fire = in_valid && top.in_ready;
    const bool rot_fire = rot_valid && top.rot_ready;
    tick(top);
    count_unit_cycle();
    t++;
    if (in_fire) in_idx++;
    if (rot_fire) rot_idx++;
    if (key_valid) {
      k.key_rows++;
      if (++head_row == ggsw_rows) {
        head_row = 0;
        transfers.pop_front();
      }
    }
    // After the edge ending cycle t - 1 the registered outputs are those of cycle t.
    if (top.out_valid) {
      for (uint32_t l = 0; l < C; l++) acc[out_idx * C + l] = get_bits(top.out_data, size_t{l} * 64, 64);
      out_idx++;
      k.cycles = t;
    }
  }
  k.key_stall_cycles = top.key_stall_cycles;
  k.loop_stall_cycles = top.loop_stall_cycles;
  k.conflicts = top.conflicts;
  return k;
}

} // namespace glovebox_sim
