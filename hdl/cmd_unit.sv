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
// Two units, one port each (index u = operation - 1: 0 the keyswitch unit, 1 the
// blind-rotation unit), run at the same time: descriptors issue in ring order, each as soon as
// its unit is free, so a keyswitch runs while the blind rotation of an earlier batch does.
// The unit fetches the descriptor at its head (one cycle: the ring is a one-write-one-read
// memory), checks it, and either issues it (exec_valid[u] with its fields, until the unit
// answers exec_done[u] with a status and its stall count) or completes it with an error. The
// head moves on at issue. Completions are written one per cycle as the completion ring has
// room: a rejection first, then the keyswitch unit's, then the blind-rotation unit's. Ordering
// between operations is the host's: it submits an operation that reads another's output after
// that one's completion. `rst` empties both rings and forgets the key slots (the driver reloads
// them).
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
    // The units, unit u's fields at [u * width +: width].
    output logic [1:0]    exec_valid,
    output logic [15:0]   exec_slot,
    output logic [31:0]   exec_batch,
    output logic [63:0]   exec_in_addr,
    output logic [63:0]   exec_out_addr,
    input  logic [1:0]    exec_done,
    input  logic [15:0]   exec_status,
    input  logic [63:0]   exec_stall_cycles,
    // Status: descriptors consumed (modulo 2 QDEPTH), and work in progress (a descriptor
    // being checked or waiting for its unit, an operation running, a completion not written).
    output logic [QW:0]   desc_head,
    output logic          busy
);
  typedef enum logic [2:0] {
    IDLE,
    FETCH,
    CHECK,
    ISSUE,
    REJECT
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

  // The descriptor between fetch and issue (or rejection).
  logic [15:0] cur_tag;
  logic [QW:0] cur_index;
  logic [7:0]  cur_status;
  logic        cur_unit;
  logic [7:0]  cur_slot;
  logic [15:0] cur_batch;
  logic [31:0] cur_in, cur_out;

  // Per unit: running (exec_valid), or finished with its completion not yet written.
  logic [1:0]  pending;
  // Unit u's fields at [u * width +: width] (flat buses, as Yosys reads them).
  logic [31:0] u_tag;
  logic [2*QW+1:0] u_index;
  logic [63:0] u_cycles;
  logic [63:0] u_stalls;
  logic [15:0] u_status;
  logic        unit_free;
  assign unit_free = !exec_valid[cur_unit] && !pending[cur_unit];

  // The completion written this cycle: a rejection, else unit 0's, else unit 1's.
  logic       wr_reject;
  logic [1:0] wr_unit;
  always_comb begin
    wr_reject = state == REJECT && !cpl_full;
    wr_unit   = 2'b00;
    if (!cpl_full && !wr_reject) begin
      if (pending[0]) wr_unit = 2'b01;
      else if (pending[1]) wr_unit = 2'b10;
    end
    cpl_we = wr_reject || wr_unit != 2'b00;
    if (wr_reject)
      cpl_wdata = {32'(cur_index), 32'd0, 32'd0, 8'd0, cur_status, cur_tag};
    else if (wr_unit[0])
      cpl_wdata = {32'(u_index[QW:0]), u_stalls[31:0], u_cycles[31:0], 8'd0, u_status[7:0],
                   u_tag[15:0]};
    else
      cpl_wdata = {32'(u_index[2*QW+1:QW+1]), u_stalls[63:32], u_cycles[63:32], 8'd0,
                   u_status[15:8], u_tag[31:16]};
  end

  assign busy = state != IDLE || exec_valid != '0 || pending != '0;

  always_ff @(posedge clk) begin
    if (rst) begin
      state      <= IDLE;
      tail       <= '0;
      desc_head  <= '0;
      cpl_tail   <= '0;
      host_head  <= '0;
      kind       <= '0;
      exec_valid <= '0;
      pending    <= '0;
    end else begin
      if (db_we) tail <= db_tail;
      if (cpl_head_we) host_head <= cpl_head;
      if (slot_we && slot_idx < 8'(SLOTS)) kind[slot_idx[$clog2(SLOTS)-1:0]*2+:2] <= slot_kind;
      if (cpl_we) cpl_tail <= cpl_tail + 1'b1;
      for (int u = 0; u < 2; u++) begin
        if (exec_valid[u]) begin
          u_cycles[u*32+:32] <= u_cycles[u*32+:32] + 1;
          if (exec_done[u]) begin
            u_status[u*8+:8] <= (exec_status[u*8+:8] == 8'd0) ? 8'd0
                                                               : (8'h80 | exec_status[u*8+:8]);
            u_stalls[u*32+:32] <= exec_stall_cycles[u*32+:32];
            exec_valid[u] <= 1'b0;
            pending[u]    <= 1'b1;
          end
        end
        if (wr_unit[u]) pending[u] <= 1'b0;
      end
      case (state)
        IDLE: if (desc_re) state <= FETCH;
        FETCH: state <= CHECK;
        CHECK: begin
          cur_tag    <= tag;
          cur_index  <= desc_head;
          cur_status <= check;
          cur_unit   <= op[1];
          cur_slot   <= slot;
          cur_batch  <= batch;
          cur_in     <= desc[79:48];
          cur_out    <= desc[111:80];
          state      <= (check == 8'd0) ? ISSUE : REJECT;
        end
        ISSUE: if (unit_free) begin
          // Unit u's fields at constant positions (an index by cur_unit would be a shifter
          // across each bus in front of its registers).
          for (int u = 0; u < 2; u++) begin
            if (cur_unit == 1'(u)) begin
              exec_valid[u]              <= 1'b1;
              exec_slot[u*8+:8]          <= cur_slot;
              exec_batch[u*16+:16]       <= cur_batch;
              exec_in_addr[u*32+:32]     <= cur_in;
              exec_out_addr[u*32+:32]    <= cur_out;
              u_tag[u*16+:16]            <= cur_tag;
              u_index[u*(QW+1)+:QW+1]    <= cur_index;
              u_cycles[u*32+:32]         <= '0;
            end
          end
          desc_head <= desc_head + 1'b1;
          state     <= IDLE;
        end
        REJECT: if (wr_reject) begin
          desc_head <= desc_head + 1'b1;
          state     <= IDLE;
        end
        default: state <= IDLE;
      endcase
    end
  end
endmodule
