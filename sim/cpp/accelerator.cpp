// The device's timeline (see accelerator.h and glovebox_sim::accelerator, which models it).
//
// Batch j, its events in order (cycles of one clock; "done" is the cycle a transfer's last word
// is in):
//   PCIe in     host -> device, the batches queued at cycle 0, one after another on the link:
//               ceil(B (n_in + 1) 8 / pcie_bytes) cycles each, done pcie_latency later;
//   ct_in       the channel writes them into memory (requested when PCIe in is done);
//   ks_in       the channel reads them into the keyswitch unit's input buffer (requested when
//               ct_in is done and batch j - 1's keyswitch has started: two input buffers);
//   keyswitch   starts when ks_in is done and batch j - 1's keyswitch is over; its key chunks
//               are channel transfers (packed at W bits a word);
//   ks_out      the channel writes its outputs (B (n + 1) words at W bits) when it is over;
//   br_in       the channel reads them and the lookup tables (B N words) into the
//               blind-rotation unit's buffers (requested when ks_out is done and batch j - 1's
//               blind rotation has started);
//   blind rotation (modulus switch, rotation, sample extraction in the unit) starts when br_in
//               is done and batch j - 1's is over; each GGSW is one channel transfer;
//   br_out      the channel writes its LWE outputs (B ((k1 - 1) N + 1) words);
//   PCIe out    device -> host on the link's other direction, one batch after another.
// The channel grants one transfer at a time in this order of priority: the blind-rotation
// unit's GGSW (its loop binds), then ciphertext and table transfers (oldest request first),
// then the keyswitch unit's next key chunk.
#include "glovebox-sim/cpp/accelerator.h"
#include "glovebox-sim/cpp/br_harness.h"
#include "glovebox-sim/cpp/channel.h"
#include "glovebox-sim/cpp/ks_harness.h"
#include "glovebox-sim/src/accelerator.rs.h"
#include "glovebox-sim/src/br.rs.h"
#include "glovebox-sim/src/ks.rs.h"
#include "br_models.inc"
#include "ks_models.inc"
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace glovebox_sim {

namespace {

constexpr uint64_t NEVER = std::numeric_limits<uint64_t>::max();

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

enum Kind { CT_IN, KS_IN, KS_OUT, BR_IN, BR_OUT };

template <class KV, uint32_t P, uint32_t W, class BV, uint32_t C>
class DeviceModel final : public DeviceSim {
public:
  DeviceModel(KsLimits kl, BrLimits bl)
      : kl_(kl), bl_(bl), kctx_(new VerilatedContext), bctx_(new VerilatedContext),
        ks_(new KV{kctx_.get()}), br_(new BV{bctx_.get()}) {
    ks_->eval();
    br_->eval();
  }
  ~DeviceModel() override {
    ks_->final();
    br_->final();
  }

  DeviceStats run(const DeviceJob &job, rust::Slice<const uint64_t> ks_key,
                  rust::Slice<const uint64_t> br_key, rust::Slice<const uint64_t> inputs,
                  rust::Slice<const uint64_t> luts, rust::Slice<uint64_t> outputs,
                  rust::Vec<DeviceBatch> &timeline) override {
    const uint64_t B = job.batch, J = job.batches, N = bl_.poly, k1 = bl_.k1;
    const uint64_t n = job.cols - 1, n_in = job.n_in;
    const uint64_t in_size = n_in + 1, out_size = (k1 - 1) * N + 1;
    const uint64_t cts = B * J;
    if (B == 0 || J == 0 || B > kl_.max_batch || B > bl_.max_batch ||
        ks_key.size() != n_in * job.ks_levels * job.cols ||
        br_key.size() != n * job.br_levels * k1 * k1 * N || inputs.size() != cts * in_size ||
        luts.size() != cts * N || outputs.size() != cts * out_size || job.switch_kind > 2 ||
        job.words_per_cycle == 0 || job.ks_words_per_cycle == 0 || job.pcie_bytes_per_cycle == 0)
      throw std::invalid_argument("device: key, input, table or output sizes do not match");
    const KsShape ks_shape{job.n_in, job.cols, job.ks_base_log, job.ks_levels, job.batch};
    const BrShape br_shape{static_cast<uint32_t>(n), bl_.poly, bl_.k1, job.br_levels,
                           job.br_base_log, job.batch, job.switch_kind, true};
    const uint64_t K = job.words_per_cycle, Kp = job.ks_words_per_cycle;
    // Channel cycles of each ciphertext or table transfer, and the link's.
    const uint64_t xfer[5] = {ceil_div(B * in_size, K), ceil_div(B * in_size, K),
                              ceil_div(B * job.cols, Kp),
                              ceil_div(B * job.cols, Kp) + ceil_div(B * N, K),
                              ceil_div(B * out_size, K)};
    const uint64_t link_in = ceil_div(B * in_size * 8, job.pcie_bytes_per_cycle);
    const uint64_t link_out = ceil_div(B * out_size * 8, job.pcie_bytes_per_cycle);

    Channel ch(job.latency, job.max_outstanding);
    std::vector<uint64_t> ks_out(cts * job.cols), acc(B * k1 * N);
    // Per batch: done cycles of each transfer, start and end of each unit.
    std::vector<uint64_t> pcie_in(J), done[5], ks_start(J, NEVER), ks_end(J, NEVER),
        br_start(J, NEVER), br_end(J, NEVER), pcie_out(J, NEVER);
    std::vector<bool> requested[5];
    for (int x = 0; x < 5; x++) {
      done[x].assign(J, NEVER);
      requested[x].assign(J, false);
    }
    uint64_t link = 0;
    for (uint64_t j = 0; j < J; j++) {
      link += link_in;
      pcie_in[j] = link + job.pcie_latency;
    }
    struct Request {
      Kind kind;
      uint64_t batch;
    };
    std::deque<Request> queue;  // ciphertext and table transfers, oldest first
    uint64_t ks_next = 0, br_next = 0, out_link = 0, outs = 0;
    uint64_t ks_key_cycles = 0, br_key_cycles = 0, xfer_cycles = 0;
    uint64_t ks_stalls = 0, br_key_stalls = 0, br_loop_stalls = 0;
    std::optional<KsDriver<KV, P, W>> ks;
    std::optional<BrDriver<BV, C>> br;
    uint64_t t = 0;
    for (; outs < J; t++) {
      if (t > job.bound)
        throw std::runtime_error("device: " + std::to_string(outs) + " of " + std::to_string(J) +
                                 " batches out within " + std::to_string(job.bound) + " cycles");
      // Transfers whose conditions hold, in a fixed order (nothing of a batch before its PCIe
      // transfer is in, and those come in batch order).
      for (uint64_t j = outs; j < J && pcie_in[j] <= t; j++) {
        auto ask = [&](Kind x, bool when) {
          if (when && !requested[x][j]) {
            requested[x][j] = true;
            queue.push_back({x, j});
          }
        };
        ask(CT_IN, pcie_in[j] <= t);
        ask(KS_IN, done[CT_IN][j] <= t && (j == 0 || ks_start[j - 1] <= t));
        ask(KS_OUT, ks_end[j] <= t);
        ask(BR_IN, done[KS_OUT][j] <= t && (j == 0 || br_start[j - 1] <= t));
        ask(BR_OUT, br_end[j] <= t);
        if (done[BR_OUT][j] <= t && pcie_out[j] == NEVER && (j == 0 || pcie_out[j - 1] != NEVER)) {
          out_link = std::max(out_link, t) + link_out;
          pcie_out[j] = out_link + job.pcie_latency;
        }
      }
      // Units start.
      if (!ks && ks_next < J && done[KS_IN][ks_next] <= t &&
          (ks_next == 0 || ks_end[ks_next - 1] <= t)) {
        ks_start[ks_next] = t;
        ks.emplace(*ks_, ks_shape, Kp, job.ks_buffer_chunks, ks_key.data(),
                   inputs.data() + ks_next * B * in_size, ks_out.data() + ks_next * B * job.cols, t);
      }
      if (!br && br_next < J && done[BR_IN][br_next] <= t &&
          (br_next == 0 || br_end[br_next - 1] <= t)) {
        br_start[br_next] = t;
        // The trivial GLWEs of the tables: zero masks, the table as the body.
        std::fill(acc.begin(), acc.end(), 0);
        for (uint64_t b = 0; b < B; b++)
          std::copy_n(luts.data() + (br_next * B + b) * N, N, acc.data() + (b * k1 + k1 - 1) * N);
        br.emplace(*br_, br_shape, static_cast<uint32_t>(K), job.latency, br_key.data(),
                   ks_out.data() + br_next * B * job.cols, acc.data(),
                   outputs.data() + br_next * B * out_size, t);
      }
      if (ks) ks->drive(t);
      if (br) br->drive(t);
      if (ks) ks_->eval();
      if (br) br_->eval();
      if (ch.free(t)) {
        if (br && br->request()) {
          ch.grant(t, br->transfer_cycles());
          br_key_cycles += br->transfer_cycles();
          br->granted(t);
        } else if (!queue.empty()) {
          const Request r = queue.front();
          queue.pop_front();
          done[r.kind][r.batch] = ch.grant(t, xfer[r.kind]);
          xfer_cycles += xfer[r.kind];
        } else if (ks) {
          if (const uint64_t d = ks->request(); d != 0) {
            ks->granted(ch.grant(t, d));
            ks_key_cycles += d;
          }
        }
      }
      if (ks) {
        ks->clock(t);
        if (ks->done()) {
          ks_end[ks_next] = ks_start[ks_next] + ks->counters().cycles;
          ks_stalls += ks->counters().key_stall_cycles;
          ks.reset();
          ks_next++;
        }
      }
      if (br) {
        br->clock(t);
        if (br->done()) {
          const BrCounters &c = br->counters();
          if (c.conflicts != 0)
            throw std::runtime_error("blind-rotation unit: " + std::to_string(c.conflicts) +
                                     " cycles with two accesses on one bank port");
          br_end[br_next] = br_start[br_next] + c.cycles;
          br_key_stalls += c.key_stall_cycles;
          br_loop_stalls += c.loop_stall_cycles;
          br.reset();
          br_next++;
        }
      }
      while (outs < J && pcie_out[outs] != NEVER) outs++;
    }
    DeviceStats s;
    s.cycles = 0;
    for (uint64_t j = 0; j < J; j++) {
      DeviceBatch b;
      b.pcie_in_done = pcie_in[j];
      b.ks_start = ks_start[j];
      b.ks_end = ks_end[j];
      b.br_start = br_start[j];
      b.br_end = br_end[j];
      b.pcie_out_done = pcie_out[j];
      timeline.push_back(b);
      s.cycles = std::max(s.cycles, pcie_out[j]);
    }
    s.channel_busy = ch.busy();
    s.br_key_cycles = br_key_cycles;
    s.ks_key_cycles = ks_key_cycles;
    s.transfer_cycles = xfer_cycles;
    s.most_outstanding = ch.most_outstanding();
    s.ks_key_stall_cycles = ks_stalls;
    s.br_key_stall_cycles = br_key_stalls;
    s.br_loop_stall_cycles = br_loop_stalls;
    return s;
  }

private:
  KsLimits kl_;
  BrLimits bl_;
  std::unique_ptr<VerilatedContext> kctx_, bctx_;
  std::unique_ptr<KV> ks_;
  std::unique_ptr<BV> br_;
};

} // namespace

std::unique_ptr<DeviceSim> new_device_sim(uint32_t ks_lanes, uint32_t w, uint32_t poly,
                                          uint32_t lanes) {
#define GLOVEBOX_DEVICE(KV, P, W, KL, BV, C, BL)                                                   \
  if (ks_lanes == P && w == W && poly == BL.poly && lanes == C)                                    \
    return std::make_unique<DeviceModel<KV, P, W, BV, C>>(KL, BL);
#include "device_models.inc"
#undef GLOVEBOX_DEVICE
  return nullptr;
}

} // namespace glovebox_sim
