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
    for (uint64_t i = 0; i < budget; i++) {
      top_->eval();
      if (top_->exec_valid && !taken_) {
        req.op = top_->exec_op;
        req.slot = top_->exec_slot;
        req.batch = top_->exec_batch;
        req.in_addr = top_->exec_in_addr;
        req.out_addr = top_->exec_out_addr;
        taken_ = true;
        return 1;
      }
      // Idle: nothing to fetch (the ring's head at the doorbell's tail).
      if (!top_->busy && top_->desc_head == tail_) return 0;
      tick();
    }
    return 2;
  }
  void finish(uint64_t cycles, uint32_t status, uint32_t stalls) override {
    for (uint64_t i = 1; i < cycles; i++) tick();
    top_->exec_done = 1;
    top_->exec_status = status;
    top_->exec_stall_cycles = stalls;
    tick();
    top_->exec_done = 0;
    taken_ = false;
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
    taken_ = false;
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
  bool taken_ = false;
};

} // namespace

std::unique_ptr<CmdSim> new_cmd_sim() { return std::make_unique<CmdModel>(); }

} // namespace glovebox_sim
