#include "glovebox-sim/cpp/cmd.h"
#include "glovebox-sim/cpp/ks_harness.h"
#include "glovebox-sim/src/device.rs.h"
#include "models.inc"

namespace glovebox_sim {

namespace {

class CmdModel final : public CmdSim {
public:
  CmdModel() : ctx_(new VerilatedContext), top_(new Vcmd_unit{ctx_.get()}) {
    idle_inputs();
    top_->eval();
    reset();
  }
  ~CmdModel() override { top_->final(); }
  uint32_t qdepth() const override { return GLOVEBOX_CMD_QDEPTH; }
  uint32_t cdepth() const override { return GLOVEBOX_CMD_CDEPTH; }
  uint32_t slots() const override { return GLOVEBOX_CMD_SLOTS; }

  void reset() override {
    idle_inputs();
    top_->rst = 1;
    tick();
    tick();
    top_->rst = 0;
  }
  void write_descriptor(uint32_t index, uint64_t lo, uint64_t hi) override {
    top_->desc_we = 1;
    top_->desc_waddr = index;
    ks_detail::set_bits(top_->desc_wdata, 0, 64, lo);
    ks_detail::set_bits(top_->desc_wdata, 64, 64, hi);
    tick();
    top_->desc_we = 0;
  }
  void doorbell(uint32_t tail) override {
    top_->db_we = 1;
    top_->db_tail = tail;
    tick();
    top_->db_we = 0;
  }
  void load_slot(uint32_t slot, uint32_t kind) override {
    top_->slot_we = 1;
    top_->slot_idx = slot;
    top_->slot_kind = kind;
    tick();
    top_->slot_we = 0;
  }
  void set_completion_head(uint32_t head) override {
    top_->cpl_head_we = 1;
    top_->cpl_head = head;
    tick();
    top_->cpl_head_we = 0;
  }
  uint32_t run(uint64_t budget, ExecRequest &req) override {
    uint64_t waited = 0;
    for (;;) {
      top_->eval();
      for (int u = 0; u < 2; u++) {
        if ((top_->exec_valid >> u & 1) && !taken_[u]) {
          req.op = u + 1;
          req.slot = top_->exec_slot >> (8 * u) & 0xff;
          req.batch = top_->exec_batch >> (16 * u) & 0xffff;
          req.in_addr = top_->exec_in_addr >> (32 * u) & 0xffffffffu;
          req.out_addr = top_->exec_out_addr >> (32 * u) & 0xffffffffu;
          taken_[u] = true;
          start_[u] = cycles_;
          return 1;
        }
      }
      // Idle: nothing to fetch (the ring's head at the doorbell's tail), nothing running.
      if (!top_->busy && top_->desc_head == tail_) return 0;
      bool scheduled = false;
      uint32_t done = 0, status = 0;
      uint64_t stalls = 0;
      for (int u = 0; u < 2; u++) {
        if (!scheduled_[u]) continue;
        scheduled = true;
        if (deadline_[u] == cycles_) {
          done |= 1u << u;
          status |= (status_[u] & 0xff) << (8 * u);
          stalls |= uint64_t(stalls_[u]) << (32 * u);
        }
      }
      if (!scheduled && waited++ >= budget) return 2;
      top_->exec_done = done;
      top_->exec_status = status;
      top_->exec_stall_cycles = stalls;
      tick();
      top_->exec_done = 0;
      for (int u = 0; u < 2; u++) {
        if (done >> u & 1) {
          taken_[u] = false;
          scheduled_[u] = false;
        }
      }
    }
  }
  void finish(uint32_t op, uint64_t cycles, uint32_t status, uint32_t stalls) override {
    int u = op == 2 ? 1 : 0;
    if (!taken_[u]) return;
    scheduled_[u] = true;
    deadline_[u] = start_[u] + (cycles ? cycles : 1) - 1;
    status_[u] = status;
    stalls_[u] = stalls;
  }
  uint32_t completion_tail() override {
    top_->eval();
    return top_->cpl_tail;
  }
  void read_completion(uint32_t index, rust::Slice<uint64_t> out) override {
    top_->cpl_raddr = index;
    tick();
    out[0] = ks_detail::get_bits(top_->cpl_rdata, 0, 64);
    out[1] = ks_detail::get_bits(top_->cpl_rdata, 64, 64);
  }
  uint64_t cycles() const override { return cycles_; }

private:
  void idle_inputs() {
    top_->rst = 0;
    top_->desc_we = 0;
    top_->db_we = 0;
    top_->slot_we = 0;
    top_->cpl_head_we = 0;
    top_->exec_done = 0;
    top_->exec_status = 0;
    top_->exec_stall_cycles = 0;
    top_->cpl_raddr = 0;
    for (int u = 0; u < 2; u++) taken_[u] = scheduled_[u] = false;
    tail_ = 0;
  }
  void tick() {
    if (top_->db_we) tail_ = top_->db_tail;
    if (top_->rst) tail_ = 0;
    ks_detail::tick(*top_);
    cycles_++;
  }
  std::unique_ptr<VerilatedContext> ctx_;
  std::unique_ptr<Vcmd_unit> top_;
  uint64_t cycles_ = 0;
  uint32_t tail_ = 0;
  // Per unit: its operation handed over (and when), its finish scheduled (when, and what).
  bool taken_[2] = {false, false};
  bool scheduled_[2] = {false, false};
  uint64_t start_[2] = {0, 0}, deadline_[2] = {0, 0};
  uint32_t status_[2] = {0, 0}, stalls_[2] = {0, 0};
};

} // namespace

std::unique_ptr<CmdSim> new_cmd_sim() { return std::make_unique<CmdModel>(); }

} // namespace glovebox_sim
