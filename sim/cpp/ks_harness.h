// The keyswitch unit's harness (hdl/ks_unit.sv): streams a batch of ciphertexts into the unit
// and models the key memory that feeds it, through the unit's ports only. Shared by the cxx
// bridge (ks.cpp) and nothing else: it knows no Rust types.
//
// Key memory model. The key is read once per batch, in its stored order, as chunks of P words
// (row r = input word i times levels plus level t, chunk c: words c P .. of the row; the last
// chunk of a row holds cols - (chunks - 1) P words). The memory (channel.h) serves one chunk at
// a time at `bandwidth` words per cycle: a chunk of s words occupies the channel
// ceil(s / bandwidth) cycles from its request, and its words are in the read buffer `latency`
// cycles after the channel finishes it. A request is issued as soon as the channel is free and
// the read buffer (`buffer_chunks` chunks, counting those still in flight) has room; the unit
// takes the oldest complete chunk with key_valid / key_ready, freeing its place after that
// cycle.
//
// KsDriver drives the unit through one batch cycle by cycle, its memory requests left to the
// caller (a channel of its own in ks_run, one shared with the blind-rotation unit in
// accelerator.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <stdexcept>
#include <string>
#include <vector>
#include "glovebox-sim/cpp/channel.h"
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

// One batch on the unit, cycle by cycle. `key`: n_in levels cols words (the engine's
// LweKeyswitchKey container); `inputs`: batch ciphertexts of n_in + 1 words each; `outputs`:
// batch times cols words. The caller has checked the shapes against the unit's limits. Each
// cycle t (from `t0`, the start cycle): drive(t), the model's eval, then request(t) and, if
// the memory takes it, granted(arrival), then clock(t).
template <class V, uint32_t P, uint32_t W> class KsDriver {
public:
  KsDriver(V &top, const KsShape &s, uint32_t bandwidth, uint32_t buffer_chunks,
           const uint64_t *key, const uint64_t *inputs, uint64_t *outputs, uint64_t t0)
      : top_(top), s_(s), bandwidth_(bandwidth), buffer_chunks_(buffer_chunks), key_(key),
        inputs_(inputs), outputs_(outputs), t0_(t0), chunks_((s.cols + P - 1) / P),
        total_chunks_(uint64_t{s.n_in} * s.levels * chunks_),
        last_size_(s.cols - (chunks_ - 1) * P),
        input_words_(uint64_t{s.batch} * (s.n_in + 1)), expected_outputs_(uint64_t{s.batch} * chunks_) {
    using namespace ks_detail;
    top_.rst = 1;
    top_.start = 0;
    top_.in_valid = 0;
    top_.key_valid = 0;
    for (int r = 0; r < 2; r++) tick(top_);
    top_.rst = 0;
  }

  bool done() const { return outputs_seen_ == expected_outputs_; }
  const KsCounters &counters() const { return k_; }
  uint64_t progress() const { return outputs_seen_; }
  uint64_t expected() const { return expected_outputs_; }

  void drive(uint64_t t) {
    using namespace ks_detail;
    top_.start = t == t0_;
    top_.cfg_n_in = s_.n_in;
    top_.cfg_cols = s_.cols;
    top_.cfg_batch = s_.batch;
    top_.cfg_base_log = s_.base_log;
    top_.cfg_levels = s_.levels;
    key_valid_ = !arrivals_.empty() && arrivals_.front() <= t;
    top_.key_valid = key_valid_;
    if (key_valid_) {
      const uint64_t row = head_ / chunks_, c = head_ % chunks_;
      const uint64_t *words = key_ + row * s_.cols + c * P;
      const uint64_t size = chunk_size(head_);
      for (uint32_t l = 0; l < P; l++)
        set_bits(top_.key_data, size_t{l} * W, W, l < size ? words[l] >> (64 - W) : 0);
    }
    in_valid_ = t > t0_ && in_idx_ < input_words_;
    top_.in_valid = in_valid_;
    if (in_valid_) top_.in_word = input_word(in_idx_);
  }

  // After eval: the transfer cycles of the next chunk if it may be requested now (a chunk
  // left and room in the read buffer), else 0.
  uint64_t request() const {
    if (next_request_ >= total_chunks_ || arrivals_.size() >= buffer_chunks_) return 0;
    return (chunk_size(next_request_) + bandwidth_ - 1) / bandwidth_;
  }
  void granted(uint64_t arrival) {
    arrivals_.push_back(arrival);
    next_request_++;
    if (arrivals_.size() > k_.max_buffered) k_.max_buffered = arrivals_.size();
  }

  // The clock edge ending cycle t.
  void clock(uint64_t t) {
    using namespace ks_detail;
    const bool key_fire = key_valid_ && top_.key_ready;
    const bool in_fire = in_valid_ && top_.in_ready;
    tick(top_);
    count_unit_cycle();
    if (key_fire) {
      k_.key_words += chunk_size(head_);
      k_.key_chunks++;
      arrivals_.pop_front();
      head_++;
    }
    if (in_fire) in_idx_++;
    // After the edge ending cycle t the registered outputs are those of cycle t + 1.
    if (top_.out_valid) {
      const uint64_t ct = top_.out_ct, c = top_.out_chunk;
      if (ct >= s_.batch || c >= chunks_)
        throw std::runtime_error("keyswitch unit: output for ciphertext " + std::to_string(ct) +
                                 ", chunk " + std::to_string(c) + " out of range");
      for (uint32_t l = 0; l < P; l++) {
        const uint64_t col = c * P + l;
        if (col < s_.cols)
          outputs_[ct * s_.cols + col] = get_bits(top_.out_data, size_t{l} * W, W) << (64 - W);
      }
      outputs_seen_++;
      k_.cycles = t + 1 - t0_;
    }
    if (done()) {
      k_.key_stall_cycles = top_.key_stall_cycles;
      k_.in_stall_cycles = top_.in_stall_cycles;
    }
  }

private:
  uint64_t chunk_size(uint64_t k) const { return k % chunks_ == chunks_ - 1 ? last_size_ : P; }
  // The input stream: bodies, then word i of every ciphertext, i = 0, 1, ...
  uint64_t input_word(uint64_t idx) const {
    const size_t width = s_.n_in + 1;
    if (idx < s_.batch) return inputs_[idx * width + s_.n_in];
    const uint64_t m = idx - s_.batch;
    return inputs_[(m % s_.batch) * width + m / s_.batch];
  }

  V &top_;
  KsShape s_;
  uint32_t bandwidth_, buffer_chunks_;
  const uint64_t *key_, *inputs_;
  uint64_t *outputs_;
  uint64_t t0_, chunks_, total_chunks_, last_size_, input_words_, expected_outputs_;
  std::deque<uint64_t> arrivals_;  // requested chunks, oldest first: the cycle each is complete
  uint64_t next_request_ = 0, head_ = 0, in_idx_ = 0, outputs_seen_ = 0;
  bool key_valid_ = false, in_valid_ = false;
  KsCounters k_;
};

// Runs one batch on a memory channel of its own (see KsDriver). `bound` stops a unit that
// never finishes (cycles).
template <class V, uint32_t P, uint32_t W>
KsCounters ks_run(V &top, const KsShape &s, const KsMemory &mem, const uint64_t *key,
                  const uint64_t *inputs, uint64_t *outputs, uint64_t bound) {
  KsDriver<V, P, W> unit(top, s, mem.bandwidth, mem.buffer_chunks, key, inputs, outputs, 0);
  Channel channel(mem.latency, 0);
  for (uint64_t t = 0; !unit.done(); t++) {
    if (t > bound)
      throw std::runtime_error("keyswitch unit: " + std::to_string(unit.progress()) + " of " +
                               std::to_string(unit.expected()) + " outputs within " +
                               std::to_string(bound) + " cycles");
    unit.drive(t);
    top.eval();
    if (const uint64_t d = unit.request(); d != 0 && channel.free(t))
      unit.granted(channel.grant(t, d));
    unit.clock(t);
  }
  return unit.counters();
}

} // namespace glovebox_sim
