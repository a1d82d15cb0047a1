// A memory channel as the harnesses model it: it serves one transfer at a time; a transfer of
// d cycles granted in cycle F occupies cycles F .. F + d - 1 and its last word is in (read into
// the unit's buffer, or written) in cycle F + d + latency. At most `max_outstanding` transfers
// are in flight (granted, last word not yet in; 0: no limit). glovebox_sim's cycle models
// restate it (glovebox_sim::accelerator::Channel).
#pragma once
#include <cstdint>
#include <deque>

namespace glovebox_sim {

class Channel {
public:
  Channel(uint32_t latency, uint32_t max_outstanding)
      : latency_(latency), max_outstanding_(max_outstanding) {}

  // Whether a transfer may be granted in cycle t.
  bool free(uint64_t t) {
    while (!done_.empty() && done_.front() <= t) done_.pop_front();
    return t >= free_at_ && (max_outstanding_ == 0 || done_.size() < max_outstanding_);
  }
  // Grants a transfer of d cycles in cycle t (free(t) holds): the cycle its last word is in.
  uint64_t grant(uint64_t t, uint64_t d) {
    free_at_ = t + d;
    busy_ += d;
    done_.push_back(t + d + latency_);
    if (done_.size() > most_outstanding_) most_outstanding_ = done_.size();
    return t + d + latency_;
  }
  uint32_t latency() const { return latency_; }
  // Cycles the channel has carried data.
  uint64_t busy() const { return busy_; }
  uint64_t most_outstanding() const { return most_outstanding_; }

private:
  uint32_t latency_, max_outstanding_;
  uint64_t free_at_ = 0, busy_ = 0, most_outstanding_ = 0;
  std::deque<uint64_t> done_;  // in flight: completion cycles, increasing
};

} // namespace glovebox_sim
