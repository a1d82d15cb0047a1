// The keyswitch unit's harness (hdl/ks_unit.sv): streams a batch of ciphertexts into the unit
// and models the key memory that feeds it, through the unit's ports only. Shared by the cxx
// bridge (ks.cpp) and nothing else: it knows no Rust types.
//
// Key memory model. The key is read once per batch, in its stored order, as chunks of P words
// (row r = input word i times levels plus level t, chunk c: words c P .. of the row; the last
// chunk of a row holds cols - (chunks - 1) P words). The memory serves one chunk at a time at
// `bandwidth` words per cycle: a chunk of s words occupies the channel ceil(s / bandwidth)
// cycles from its request, and its words are in the read buffer `latency` cycles after the
// channel finishes it. A request is issued as soon as the channel is free and the read buffer
// (`buffer_chunks` chunks, counting those still in flight) has room; the unit takes the oldest
// complete chunk with key_valid / key_ready, freeing its place after that cycle.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <stdexcept>
#include <string>
#include <vector>
#include "glovebox-sim/cpp/progress.h"

namespace glovebox_sim {

struct KsShape {
  uint32_t n_in, cols, base_log, levels, batch;
};

struct KsMemory {
  uint32_t bandwidth;      // words per cycle
  uint32_t latency;        // cycles
  uint32_t buffer_chunks;  // read-buffer places, in-flight requests included
};

struct KsCounters {
  uint64_t cycles = 0;            // cycle of the last output (start in cycle 0)
  uint64_t key_words = 0;         // key words the unit took
  uint64_t key_chunks = 0;        // key chunks the unit took
  uint64_t key_stall_cycles = 0;  // the unit's counter: waiting for a key chunk
  uint64_t in_stall_cycles = 0;   // the unit's counter: waiting for input digits
  uint64_t max_buffered = 0;      // most chunks in the read buffer or in flight at once
};

namespace ks_detail {

// Bits [lo, lo + width) of a Verilator wide port (32-bit words), width <= 64, a 32-bit word
// segment at a time.
template <class Wide> void set_bits(Wide &port, size_t lo, size_t width, uint64_t v) {
  while (width > 0) {
    const size_t off = lo % 32, n = width < 32 - off ? width : 32 - off;
    const uint32_t m = static_cast<uint32_t>(((uint64_t{1} << n) - 1) << off);
    port[lo / 32] = (port[lo / 32] & ~m) | (static_cast<uint32_t>(v << off) & m);
    v >>= n;
    lo += n;
    width -= n;
  }
}
template <class Wide> uint64_t get_bits(const Wide &port, size_t lo, size_t width) {
  uint64_t v = 0;
  for (size_t done = 0; done < width;) {
    const size_t off = lo % 32, n = width - done < 32 - off ? width - done : 32 - off;
    v |= ((static_cast<uint64_t>(port[lo / 32]) >> off) & ((uint64_t{1} << n) - 1)) << done;
    lo += n;
    done += n;
  }
  return v;
}

template <class V> void tick(V &top) {
  top.clk = 1;
  top.eval();
  top.clk = 0;
  top.eval();
}

} // namespace ks_detail

// Runs one batch. `key`: n_in levels cols words (the engine's LweKeyswitchKey container);
// `inputs`: batch ciphertexts of n_in + 1 words each; `outputs`: batch times cols words. The
// caller has checked the shapes against the unit's limits. `bound` stops a unit that never
// finishes (cycles).
template <class V, uint32_t P, uint32_t W>
KsCounters ks_run(V &top, const KsShape &s, const KsMemory &mem, const uint64_t *key,
                  const uint64_t *inputs, uint64_t *outputs, uint64_t bound) {
  using namespace ks_detail;
  const uint64_t chunks = (s.cols + P - 1) / P;
  const uint64_t rows = uint64_t{s.n_in} * s.levels;
  const uint64_t total_chunks = rows * chunks;
  const uint64_t last_size = s.cols - (chunks - 1) * P;
  const uint32_t shift = 64 - W;
  auto chunk_size = [&](uint64_t k) { return k % chunks == chunks - 1 ? last_size : P; };
  auto transfer = [&](uint64_t k) { return (chunk_size(k) + mem.bandwidth - 1) / mem.bandwidth; };

  // The input stream: bodies, then word i of every ciphertext, i = 0, 1, ...
  const size_t width = s.n_in + 1;
  auto input_word = [&](uint64_t idx) -> uint64_t {
    if (idx < s.batch) return inputs[idx * width + s.n_in];
    const uint64_t m = idx - s.batch;
    return inputs[(m % s.batch) * width + m / s.batch];
  };
  const uint64_t input_words = uint64_t{s.batch} * width;

  KsCounters k;
  top.rst = 1;
  top.start = 0;
  top.in_valid = 0;
  top.key_valid = 0;
  for (int r = 0; r < 2; r++) tick(top);
  top.rst = 0;

  std::deque<uint64_t> arrivals;  // requested chunks, oldest first: the cycle each is complete
  uint64_t next_request = 0, channel_free = 0, head = 0, in_idx = 0, outputs_seen = 0;
  const uint64_t expected_outputs = uint64_t{s.batch} * chunks;
  uint64_t t = 0;
  while (outputs_seen < expected_outputs) {
    if (t > bound)
      throw std::runtime_error("keyswitch unit: " + std::to_string(outputs_seen) + " of " +
                               std::to_string(expected_outputs) + " outputs within " +
                               std::to_string(bound) + " cycles");
    // Key memory: issue the next request when the channel and the buffer allow.
    if (next_request < total_chunks && t >= channel_free && arrivals.size() < mem.buffer_chunks) {
      const uint64_t d = transfer(next_request);
      arrivals.push_back(t + d + mem.latency);
      channel_free = t + d;
      next_request++;
      if (arrivals.size() > k.max_buffered) k.max_buffered = arrivals.size();
    }
    top.start = t == 0;
    top.cfg_n_in = s.n_in;
    top.cfg_cols = s.cols;
    top.cfg_batch = s.batch;
    top.cfg_base_log = s.base_log;
    top.cfg_levels = s.levels;
    const bool key_valid = !arrivals.empty() && arrivals.front() <= t;
    top.key_valid = key_valid;
    if (key_valid) {
      const uint64_t row = head / chunks, c = head % chunks;
      const uint64_t *words = key + row * s.cols + c * P;
      const uint64_t size = chunk_size(head);
      for (uint32_t l = 0; l < P; l++)
        set_bits(top.key_data, size_t{l} * W, W, l < size ? words[l] >> shift : 0);
    }
    const bool in_valid = t > 0 && in_idx < input_words;
    top.in_valid = in_valid;
    if (in_valid) top.in_word = input_word(in_idx);
    top.eval();
    const bool key_fire = key_valid && top.key_ready;
    const bool in_fire = in_valid && top.in_ready;
    tick(top);
    count_unit_cycle();
    t++;
    if (key_fire) {
      k.key_words += chunk_size(head);
      k.key_chunks++;
      arrivals.pop_front();
      head++;
    }
    if (in_fire) in_idx++;
    // After the edge ending cycle t - 1 the registered outputs are those of cycle t.
    if (top.out_valid) {
      const uint64_t ct = top.out_ct, c = top.out_chunk;
      if (ct >= s.batch || c >= chunks)
        throw std::runtime_error("keyswitch unit: output for ciphertext " + std::to_string(ct) +
                                 ", chunk " + std::to_string(c) + " out of range");
      for (uint32_t l = 0; l < P; l++) {
        const uint64_t col = c * P + l;
        if (col < s.cols) outputs[ct * s.cols + col] = get_bits(top.out_data, size_t{l} * W, W) << shift;
      }
      outputs_seen++;
      k.cycles = t;
    }
  }
  k.key_stall_cycles = top.key_stall_cycles;
  k.in_stall_cycles = top.in_stall_cycles;
  return k;
}

} // namespace glovebox_sim
