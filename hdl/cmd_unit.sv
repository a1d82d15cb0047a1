// The accelerator's command interface. The host writes descriptors into a ring of QDEPTH
// entries (desc_*), rings the doorbell with its new tail (db_*), and reads completions from a
// ring of CDEPTH entries (cpl_*), telling the unit how far it has read (cpl_head). Key uploads
// end by marking their slot loaded (slot_*). Tails and heads count entries modulo twice the ring
// size, so a full ring and an empty one differ.
//
// Descriptor (128 bits): [7:0] operation (1: keyswitch, 2: blind rotation), [15:8] key slot,
// [31:16] batch size, [47:32] tag, [79:48] input buffer address, [111:80] output buffer
// address, [127:112] zero.
// Completion (128 bits): [15:0] tag, [23:16] status, [63:32] cycles the operation was busy,
// [95:64] of which stalled (the unit's counters), [127:96] the descriptor's index.
// Status: 0 done; 1 unknown operation; 2 batch size 0 or above MAX_BATCH; 3 key slot out of
// range, not loaded or holding the other kind of key; 4 reserved bits set; 0x80 | s: the unit
// reported fault s. A rejected descriptor completes at once and runs nothing.
//
// One operation runs at a time: the unit fetches the descriptor at its head (one cycle: the
// ring is a one-write-one-read memory), checks it, raises exec_valid with its fields until the
// unit answers exec_done with a status and its stall count, then writes the completion as soon
// as the completion ring has room and moves to the next descriptor. `rst` empties both rings
// and forgets the key slots (the driver reloads them).
module cmd_unit #(
    parameter int QDEPTH    = 16,
    parameter int CDEPTH    = 16,
    parameter int SLOTS     = 8,
    parameter int MAX_BATCH = 16,
    localparam int QW = $clog2(QDEPTH),
    localparam int CW = $clog2(CDEPTH)
) (
    input  logic          clk,
    input  logic          rst,
    // Host: the descriptor ring and the doorbell.
    input  logic          desc_we,
    input  logic [QW-1:0] desc_waddr,
    input  logic [127:0]  desc_wdata,
    input  logic          db_we,
    input  logic [QW:0]   db_tail,
    // Host: key slots (kind 0: empty, 1: bootstrapping key, 2: keyswitch key).
    input  logic          slot_we,
    input  logic [7:0]    slot_idx,
    input  logic [1:0]    slot_kind,
    // Host: the completion ring.
    input  logic [CW-1:0] cpl_raddr,
    output logic [127:0]  cpl_rdata,
    output logic [CW:0]   cpl_tail,
    input  logic          cpl_head_we,
    input  logic [CW:0]   cpl_head,
    // The units.
    output logic          exec_valid,
    output logic [7:0]    exec_op,
    output logic [7:0]    exec_slot,
    output logic [15:0]   exec_batch,
    output logic [31:0]   exec_in_addr,
    output logic [31:0]   exec_out_addr,
    input  logic          exec_done,
    input  logic [7:0]    exec_status,
    input  logic [31:0]   exec_stall_cycles,
    // Status: descriptors consumed (modulo 2 QDEPTH), and an operation in progress.
    output logic [QW:0]   desc_head,
    output logic          busy
);
  typedef enum logic [2:0] {
    IDLE,
    FETCH,
    CHECK,
    EXEC,
    COMPLETE
  } state_t;
  state_t state;

  // Descriptor ring.
  logic [127:0] desc;
  logic         desc_re;
  sdp_ram #(.W(128), .DEPTH(QDEPTH)) ring (
      .clk(clk),
      .we(desc_we),
      .waddr(desc_waddr),
      .wdata(desc_wdata),
      .re(desc_re),
      .raddr(desc_head[QW-1:0]),
      .rdata(desc)
  );
  logic [QW:0] tail;
  assign desc_re = state == IDLE && desc_head != tail;

  // Completion ring.
  logic         cpl_we;
  logic [127:0] cpl_wdata;
  logic [CW:0]  host_head;
  sdp_ram #(.W(128), .DEPTH(CDEPTH)) completions (
      .clk(clk),
      .we(cpl_we),
      .waddr(cpl_tail[CW-1:0]),
      .wdata(cpl_wdata),
      .re(1'b1),
      .raddr(cpl_raddr),
      .rdata(cpl_rdata)
  );
  logic cpl_full;
  assign cpl_full = cpl_tail == {~host_head[CW], host_head[CW-1:0]};

  // Key slots.
  // Slot i's kind at [2 i +: 2].
  logic [2*SLOTS-1:0] kind;

  // The descriptor's fields and its check.
  logic [7:0]  op, slot;
  logic [15:0] batch, tag;
  logic [7:0]  status;
  logic [31:0] cycles, stalls;
  always_comb begin
    op    = desc[7:0];
    slot  = desc[15:8];
    batch = desc[31:16];
    tag   = desc[47:32];
  end
  logic [7:0] check;
  always_comb begin
    if (op != 8'd1 && op != 8'd2) check = 8'd1;
    else if (batch == '0 || batch > 16'(MAX_BATCH)) check = 8'd2;
    else if (slot >= 8'(SLOTS) || kind[slot[$clog2(SLOTS)-1:0]*2+:2] != (op == 8'd2 ? 2'd1 : 2'd2))
      check = 8'd3;
    else if (desc[127:112] != '0) check = 8'd4;
    else check = 8'd0;
  end

  logic [15:0] cur_tag;
  logic [QW:0] cur_index;
  assign busy          = state != IDLE;
  assign exec_valid    = state == EXEC;
  assign cpl_we        = state == COMPLETE && !cpl_full;
  assign cpl_wdata     = {32'(cur_index), stalls, cycles, 8'd0, status, cur_tag};

  always_ff @(posedge clk) begin
    if (rst) begin
      state     <= IDLE;
      tail      <= '0;
      desc_head <= '0;
      cpl_tail  <= '0;
      host_head <= '0;
      kind      <= '0;
    end else begin
      if (db_we) tail <= db_tail;
      if (cpl_head_we) host_head <= cpl_head;
      if (slot_we && slot_idx < 8'(SLOTS)) kind[slot_idx[$clog2(SLOTS)-1:0]*2+:2] <= slot_kind;
      case (state)
        IDLE: if (desc_re) state <= FETCH;
        FETCH: state <= CHECK;
        CHECK: begin
          cur_tag       <= tag;
          cur_index     <= desc_head;
          cycles        <= '0;
          stalls        <= '0;
          exec_op       <= op;
          exec_slot     <= slot;
          exec_batch    <= batch;
          exec_in_addr  <= desc[79:48];
          exec_out_addr <= desc[111:80];
          status        <= check;
          state         <= (check == 8'd0) ? EXEC : COMPLETE;
        end
        EXEC: begin
          cycles <= cycles + 1;
          if (exec_done) begin
            status <= (exec_status == 8'd0) ? 8'd0 : (8'h80 | exec_status);
            stalls <= exec_stall_cycles;
            state  <= COMPLETE;
          end
        end
        COMPLETE: if (!cpl_full) begin
          cpl_tail  <= cpl_tail + 1'b1;
          desc_head <= desc_head + 1'b1;
          state     <= IDLE;
        end
        default: state <= IDLE;
      endcase
    end
  end
endmodule
