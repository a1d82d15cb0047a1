// Cycles the keyswitch and blind-rotation units' harnesses have simulated in this process: a
// counter that another thread reads for a progress display (relaxed atomics: a count, not a
// synchronization point). Every clock edge of a unit's main loop adds one.
#pragma once
#include <atomic>
#include <cstdint>

namespace glovebox_sim {

inline std::atomic<uint64_t> &unit_cycles_counter() {
  static std::atomic<uint64_t> counter{0};
  return counter;
}

inline void count_unit_cycle() { unit_cycles_counter().fetch_add(1, std::memory_order_relaxed); }

} // namespace glovebox_sim
