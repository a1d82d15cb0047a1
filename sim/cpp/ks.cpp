#include "glovebox-sim/cpp/ks.h"
#include "glovebox-sim/cpp/ks_harness.h"
#include "glovebox-sim/src/ks.rs.h"
#include "ks_models.inc"
#include <initializer_list>
#include <stdexcept>
#include <string>

namespace glovebox_sim {

namespace {

template <class V, uint32_t P, uint32_t W> class KsModel final : public KsSim {
public:
  explicit KsModel(KsLimits limits)
      : limits_(limits), ctx_(new VerilatedContext), top_(new V{ctx_.get()}) {
    top_->eval();
  }
  ~KsModel() override { top_->final(); }
  KsLimits limits() const override { return limits_; }
  uint32_t latency() const override { return top_->latency; }
  uint32_t decompose_latency() const override { return top_->decompose_latency; }

  KsStats run(const KsJob &job, rust::Slice<const uint64_t> key,
              rust::Slice<const uint64_t> inputs, rust::Slice<uint64_t> outputs) override {
    const uint64_t rows = uint64_t{job.n_in} * job.levels;
    if (key.size() != rows * job.cols || inputs.size() != uint64_t{job.batch} * (job.n_in + 1) ||
        outputs.size() != uint64_t{job.batch} * job.cols)
      throw std::invalid_argument("keyswitch unit: key, input or output sizes do not match");
    const KsShape shape{job.n_in, job.cols, job.base_log, job.levels, job.batch};
    const KsMemory mem{job.bandwidth, job.key_latency, job.buffer_chunks};
    const KsCounters k =
        ks_run<V, P, W>(*top_, shape, mem, key.data(), inputs.data(), outputs.data(), job.bound);
    KsStats s;
    s.cycles = k.cycles;
    s.key_words = k.key_words;
    s.key_chunks = k.key_chunks;
    s.key_stall_cycles = k.key_stall_cycles;
    s.in_stall_cycles = k.in_stall_cycles;
    s.max_buffered = k.max_buffered;
    return s;
  }

private:
  KsLimits limits_;
  std::unique_ptr<VerilatedContext> ctx_;
  std::unique_ptr<V> top_;
};

} // namespace

std::unique_ptr<KsSim> new_ks_sim(uint32_t lanes, uint32_t w) {
#include "ks_factory.inc"
  return nullptr;
}

rust::Vec<KsLimits> ks_configs() {
  rust::Vec<KsLimits> v;
  for (const KsLimits &k : {
#include "ks_configs.inc"
       })
    v.push_back(k);
  return v;
}

} // namespace glovebox_sim
