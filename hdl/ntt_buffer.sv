// A double-buffered polynomial memory between two NTT stages, built from C banks of one write
// port and one registered read port (sdp_ram.sv, 2 N / C words each: the frame's half of the
// double buffer is the row MSB, so a writer fills one half while the reader drains the other).
// It offers C write ports and C registered read ports at coefficient addresses, for the unit's
// access patterns only: coefficient idx is in bank bank_of(idx), row idx >> log2 C (the
// mapping and why it is conflict-free: ntt_pkg.sv). A write crossbar steers each lane to its
// bank, a read crossbar returns each bank's word to its lane (the lane's bank registered beside
// the read, so the read latency stays one cycle). `conflict` is high in a cycle in which two
// enabled lanes of one side want the same bank (a pattern the banks cannot serve); the unit
// counts it for the simulation, which requires zero. Port l of a bus is bits [l W +: W]
// (W = 64 for data, AW for addresses: the half bit, then log2 N coefficient bits).
module ntt_buffer #(
    parameter int N = 2048,
    parameter int C = 8
) (
    input  logic                             clk,
    input  logic [C-1:0]                     we,
    input  logic [C*($clog2(N)+1)-1:0]       waddr,
    input  logic [64*C-1:0]                  wdata,
    input  logic [C-1:0]                     re,
    input  logic [C*($clog2(N)+1)-1:0]       raddr,
    output logic [64*C-1:0]                  rdata,
    output logic                             conflict
);
  localparam int LOG_N = $clog2(N);
  localparam int LOG_C = $clog2(C);
  localparam int AW = LOG_N + 1;
  // Bank row: the half bit and idx >> log2 C.
  localparam int RW = AW - LOG_C;

  function automatic logic [LOG_C-1:0] bank_of(input logic [LOG_N-1:0] idx);
    logic [LOG_C-1:0] bank;
    logic             parity;
    parity = 1'b0;
    for (int b = LOG_C - 1; b < LOG_N; b++) parity = parity ^ idx[b];
    bank = LOG_C'(idx);
    bank[LOG_C-1] = parity;
    bank_of = bank;
  endfunction

  function automatic logic [RW-1:0] row_of(input logic [AW-1:0] addr);
    row_of = {addr[AW-1], addr[LOG_N-1:LOG_C]};
  endfunction

  // Write crossbar: each enabled lane's word to its bank.
  logic [C-1:0]    bwe;
  logic [C*RW-1:0] bwaddr;
  logic [64*C-1:0] bwdata;
  logic            wconflict;
  always_comb begin
    bwe       = '0;
    bwaddr    = '0;
    bwdata    = '0;
    wconflict = 1'b0;
    for (int l = 0; l < C; l++) begin
      logic [LOG_C-1:0] b;
      b = bank_of(waddr[l*AW+:LOG_N]);
      if (we[l]) begin
        if (bwe[b]) wconflict = 1'b1;
        bwe[b] = 1'b1;
        bwaddr[32'(b)*RW+:RW] = row_of(waddr[l*AW+:AW]);
        bwdata[32'(b)*64+:64] = wdata[l*64+:64];
      end
    end
  end

  // Read crossbar: each enabled lane's row to its bank, and the bank's word back to the lane
  // the next cycle.
  logic [C-1:0]       bre;
  logic [C*RW-1:0]    braddr;
  logic [64*C-1:0]    brdata;
  logic [C*LOG_C-1:0] rbank, rbank_q;
  logic               rconflict;
  always_comb begin
    bre       = '0;
    braddr    = '0;
    rconflict = 1'b0;
    for (int l = 0; l < C; l++) begin
      logic [LOG_C-1:0] b;
      b = bank_of(raddr[l*AW+:LOG_N]);
      rbank[l*LOG_C+:LOG_C] = b;
      if (re[l]) begin
        if (bre[b]) rconflict = 1'b1;
        bre[b] = 1'b1;
        braddr[32'(b)*RW+:RW] = row_of(raddr[l*AW+:AW]);
      end
    end
  end
  always_ff @(posedge clk) rbank_q <= rbank;
  always_comb begin
    for (int l = 0; l < C; l++) begin
      rdata[l*64+:64] = brdata[32'(rbank_q[l*LOG_C+:LOG_C])*64+:64];
    end
  end
  assign conflict = wconflict || rconflict;

  for (genvar b = 0; b < C; b++) begin : g_bank
    sdp_ram #(.W(64), .DEPTH(2 * N / C)) bank (
        .clk(clk),
        .we(bwe[b]),
        .waddr(bwaddr[b*RW+:RW]),
        .wdata(bwdata[b*64+:64]),
        .re(bre[b]),
        .raddr(braddr[b*RW+:RW]),
        .rdata(brdata[b*64+:64])
    );
  end
endmodule
