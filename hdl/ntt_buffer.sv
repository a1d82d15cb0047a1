// A double-buffered polynomial memory between two NTT stages, built from C banks of one write
// port and one registered read port (sdp_ram.sv, 2 N / C words each: the frame's half of the
// double buffer is the row MSB, so a writer fills one half while the reader drains the other).
// It offers C write ports and C registered read ports at coefficient addresses, for the unit's
// access patterns only: coefficient idx is in bank bank_of(idx), row idx >> log2 C (the
// mapping and why it is conflict-free: ntt_pkg.sv).
//
// The networks between lanes and banks are linear in C, not crossbars (a crossbar is C^2 64-bit
// multiplexers: 44 M gates per buffer at C = 256). Each side serves the accesses of one writer
// and one reader whose patterns are known at elaboration: W_STAGE / R_STAGE is the NTT stage
// that writes / reads the buffer (its butterflies' pairs idx0, idx0 + t, lanes 2l and 2l + 1),
// or -1 for the unit's input writer and output reader (k C + l, lane l). For a stage, t is one
// of two values (forward N / 2^(S+1), inverse 2^S). Lane m's bank in cycle k is then
// P(m) xor (pi << (log2 C - 1)): P the bank of lane m's address in cycle 0 (a fixed
// permutation, computed here at elaboration: wiring), pi the parity of the address bits that k
// sets (one bit per cycle, the same for every lane: ntt_pkg.sv's parity is linear). So a side
// is the fixed permutation of each candidate pattern, a multiplexer between the two candidates
// and a conditional swap of the banks' halves: 2 C multiplexers of a word. Each cycle the side
// takes the candidate whose P, with lane 0's pi, gives every enabled lane's bank; `conflict` is
// high in a cycle in which neither does (an access this buffer cannot serve; the unit counts it
// for the simulation, which requires zero). Port l of a bus is bits [l W +: W] (W = 64 for
// data, AW for addresses: the half bit, then log2 N coefficient bits).
module ntt_buffer #(
    parameter int N = 2048,
    parameter int C = 8,
    parameter int W_STAGE = -1,
    parameter int R_STAGE = -1
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
  localparam int TOP = LOG_C - 1;

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

  // P(m): the bank of lane m's address in cycle 0 of `stage`'s pattern (-1: lane m reads or
  // writes coefficient m; a stage: lane 2l + j takes idx0 + j t of butterfly l, as
  // ntt_stage.sv computes it), with log2 t = `inverse` ? stage : log2 N - 1 - stage.
  function automatic int lane_bank(input int stage, input int inverse, input int m);
    int idx, log_t, t, l, i, jj, parity, bank;
    if (stage < 0) begin
      idx = m;
    end else begin
      log_t = (inverse != 0) ? stage : LOG_N - 1 - stage;
      t = 1 << log_t;
      l = m / 2;
      i = l >> log_t;
      jj = l & (t - 1);
      idx = (i << (log_t + 1)) | jj | ((m % 2 == 1) ? t : 0);
    end
    parity = 0;
    for (int b = LOG_C - 1; b < LOG_N; b++) parity = parity ^ ((idx >> b) & 1);
    bank = (idx & ((1 << (LOG_C - 1)) - 1)) | (parity << (LOG_C - 1));
    lane_bank = bank;
  endfunction

  // Each lane's bank as its address names it (checked against the candidates).
  logic [C*LOG_C-1:0] wb, rb;
  for (genvar l = 0; l < C; l++) begin : g_bank_of
    assign wb[l*LOG_C+:LOG_C] = bank_of(waddr[l*AW+:LOG_N]);
    assign rb[l*LOG_C+:LOG_C] = bank_of(raddr[l*AW+:LOG_N]);
  end

  // Candidate c (0 forward, 1 inverse) serves a side when every enabled lane's bank is
  // P_c(l) xor (pi_c << TOP), pi_c from lane 0.
  logic [1:0] wmatch, rmatch;
  logic [1:0] wpi, rpi;
  for (genvar c = 0; c < 2; c++) begin : g_match
    logic [C-1:0] wok, rok;
    assign wpi[c] = wb[TOP] ^ 1'(lane_bank(W_STAGE, c, 0) >> TOP);
    assign rpi[c] = rb[TOP] ^ 1'(lane_bank(R_STAGE, c, 0) >> TOP);
    for (genvar l = 0; l < C; l++) begin : g_lane
      localparam logic [LOG_C-1:0] PW = LOG_C'(lane_bank(W_STAGE, c, l));
      localparam logic [LOG_C-1:0] PR = LOG_C'(lane_bank(R_STAGE, c, l));
      assign wok[l] = !we[l] || wb[l*LOG_C+:LOG_C] == (PW ^ (LOG_C'(wpi[c]) << TOP));
      assign rok[l] = !re[l] || rb[l*LOG_C+:LOG_C] == (PR ^ (LOG_C'(rpi[c]) << TOP));
    end
    assign wmatch[c] = &wok;
    assign rmatch[c] = &rok;
  end
  // The candidate used: forward unless only the inverse fits.
  logic wsel, rsel, wswap, rswap;
  assign wsel  = !wmatch[0];
  assign rsel  = !rmatch[0];
  assign wswap = wpi[wsel];
  assign rswap = rpi[rsel];
  assign conflict = (|we && !(|wmatch)) || (|re && !(|rmatch));

  // Write network: lane l's enable, row and word to bank P_c(l) (wiring), the candidate chosen,
  // then the banks' halves swapped when pi is 1.
  localparam int WW = 1 + RW + 64;
  logic [C*WW-1:0] wlane, wperm0, wperm1, wsel_v, wbank;
  logic [C*RW-1:0] braddr;
  for (genvar l = 0; l < C; l++) begin : g_wlane
    assign wlane[l*WW+:WW] = {we[l], row_of(waddr[l*AW+:AW]), wdata[l*64+:64]};
    localparam int B0 = lane_bank(W_STAGE, 0, l);
    localparam int B1 = lane_bank(W_STAGE, 1, l);
    assign wperm0[B0*WW+:WW] = wlane[l*WW+:WW];
    assign wperm1[B1*WW+:WW] = wlane[l*WW+:WW];
  end
  assign wsel_v = wsel ? wperm1 : wperm0;
  for (genvar b = 0; b < C; b++) begin : g_wbank
    localparam int OTHER = b ^ (1 << TOP);
    assign wbank[b*WW+:WW] = wswap ? wsel_v[OTHER*WW+:WW] : wsel_v[b*WW+:WW];
  end

  // Read network: each lane's row to its bank the same way; the bank's word comes back to the
  // lane the next cycle through the inverse wiring, with the candidate and swap registered
  // beside the read (so the read latency stays one cycle).
  localparam int RLW = 1 + RW;
  logic [C*RLW-1:0] rlane, rperm0, rperm1, rsel_v, rbank;
  for (genvar l = 0; l < C; l++) begin : g_rlane
    assign rlane[l*RLW+:RLW] = {re[l], row_of(raddr[l*AW+:AW])};
    localparam int B0 = lane_bank(R_STAGE, 0, l);
    localparam int B1 = lane_bank(R_STAGE, 1, l);
    assign rperm0[B0*RLW+:RLW] = rlane[l*RLW+:RLW];
    assign rperm1[B1*RLW+:RLW] = rlane[l*RLW+:RLW];
  end
  assign rsel_v = rsel ? rperm1 : rperm0;
  for (genvar b = 0; b < C; b++) begin : g_rbank
    localparam int OTHER = b ^ (1 << TOP);
    assign rbank[b*RLW+:RLW] = rswap ? rsel_v[OTHER*RLW+:RLW] : rsel_v[b*RLW+:RLW];
    assign braddr[b*RW+:RW]  = rbank[b*RLW+:RW];
  end
  logic            rsel_q, rswap_q;
  logic [64*C-1:0] brdata, rswapped;
  always_ff @(posedge clk) begin
    rsel_q  <= rsel;
    rswap_q <= rswap;
  end
  for (genvar b = 0; b < C; b++) begin : g_rswap
    localparam int OTHER = b ^ (1 << TOP);
    assign rswapped[b*64+:64] = rswap_q ? brdata[OTHER*64+:64] : brdata[b*64+:64];
  end
  for (genvar l = 0; l < C; l++) begin : g_rdata
    localparam int B0 = lane_bank(R_STAGE, 0, l);
    localparam int B1 = lane_bank(R_STAGE, 1, l);
    assign rdata[l*64+:64] = rsel_q ? rswapped[B1*64+:64] : rswapped[B0*64+:64];
  end

  for (genvar b = 0; b < C; b++) begin : g_bank
    sdp_ram #(.W(64), .DEPTH(2 * N / C)) bank (
        .clk(clk),
        .we(wbank[b*WW+WW-1]),
        .waddr(wbank[b*WW+64+:RW]),
        .wdata(wbank[b*WW+:64]),
        .re(rbank[b*RLW+RLW-1]),
        .raddr(braddr[b*RW+:RW]),
        .rdata(brdata[b*64+:64])
    );
  end
endmodule
