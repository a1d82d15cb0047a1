#include "glovebox-sim/cpp/br.h"
#include "glovebox-sim/cpp/br_harness.h"
#include "glovebox-sim/src/br.rs.h"
#include "br_models.inc"
#include <initializer_list>
#include <stdexcept>
#include <string>

namespace glovebox_sim {

namespace {

template <class V, uint32_t C> class BrModel final : public BrSim {
public:
  explicit BrModel(BrLimits limits)
      : limits_(limits), ctx_(new VerilatedContext), top_(new V{ctx_.get()}) {
    top_->eval();
  }
  ~BrModel() override { top_->final(); }
  BrLimits limits() const override { return limits_; }
  BrLatencies latencies() const override {
    BrLatencies l;
    l.fwd = top_->fwd_latency;
    l.inv = top_->inv_latency;
    l.mac = top_->mac_latency;
    l.pipe = top_->pipe_latency;
    l.release = top_->release_latency;
    l.out_delay = top_->out_delay;
    l.key_slots = top_->key_slots;
    return l;
  }

  BrStats run(const BrJob &job, rust::Slice<const uint64_t> key, rust::Slice<const uint64_t> rot,
              rust::Slice<const uint64_t> acc, rust::Slice<uint64_t> out) override {
    const uint64_t ggsw = uint64_t{job.levels} * limits_.k1 * limits_.k1 * limits_.poly;
    const uint64_t out_size =
        job.extract ? uint64_t{limits_.k1 - 1} * limits_.poly + 1 : uint64_t{limits_.k1} * limits_.poly;
    if (key.size() != uint64_t{job.n} * ggsw || rot.size() != uint64_t{job.batch} * (job.n + 1) ||
        acc.size() != uint64_t{job.batch} * limits_.k1 * limits_.poly ||
        out.size() != uint64_t{job.batch} * out_size || job.switch_kind > 2)
      throw std::invalid_argument(
          "blind-rotation unit: key, rotation, accumulator or output sizes do not match");
    const BrShape shape{job.n,        limits_.poly,  limits_.k1,      job.levels,
                        job.base_log, job.batch,     job.switch_kind, job.extract};
    const BrCounters k = br_run<V, C>(*top_, shape, job.bandwidth, job.key_latency, key.data(),
                                      rot.data(), acc.data(), out.data(), job.bound);
    if (k.conflicts != 0)
      throw std::runtime_error("blind-rotation unit: " + std::to_string(k.conflicts) +
                               " cycles with two accesses on one bank port");
    BrStats s;
    s.cycles = k.cycles;
    s.key_rows = k.key_rows;
    s.key_stall_cycles = k.key_stall_cycles;
    s.loop_stall_cycles = k.loop_stall_cycles;
    return s;
  }

private:
  BrLimits limits_;
  std::unique_ptr<VerilatedContext> ctx_;
  std::unique_ptr<V> top_;
};

} // namespace

std::unique_ptr<BrSim> new_br_sim(uint32_t poly, uint32_t lanes) {
#include "br_factory.inc"
  return nullptr;
}

rust::Vec<BrLimits> br_configs() {
  rust::Vec<BrLimits> v;
  for (const BrLimits &k : {
#include "br_configs.inc"
       })
    v.push_back(k);
  return v;
}

} // namespace glovebox_sim
