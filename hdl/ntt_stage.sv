// Stage `S` of the streaming negacyclic NTT: C / 2 butterflies per cycle over one polynomial
// in N / C cycles. In forward mode it is stage S of Longa-Naehrig Algorithm 1 (distance
// t = N / 2^(S+1), twiddle psi^bitrev(N/(2t) + i)); in inverse mode stage S of Algorithm 2
// (t = 2^S, twiddle psi^-bitrev(N/(2t) + i)). Butterfly b (lane l of read cycle k is
// b = k C/2 + l) pairs words idx0 = 2 i t + j and idx0 + t, with i = b / t, j = b mod t.
//
// Timing: `start` (the cycle the source buffer's last word is written) -> reads in the next
// N/C cycles -> each pair written to the destination buffer 1 + BF_LATENCY cycles after its
// read -> `done` with the last write. So a stage adds N/C + BF_LATENCY + 1 cycles and accepts
// a new polynomial every N/C cycles (`start` may come on its last read cycle).
module ntt_stage #(
    parameter int N = 2048,
    parameter int C = 8,
    parameter int S = 0,
    parameter TW_FILE = "twiddles.hex"
) (
    input  logic                       clk,
    input  logic                       rst,
    input  logic                       start,
    input  logic                       start_bank,
    input  logic                       start_inverse,
    // Source buffer read port (registered read: data one cycle after the address).
    output logic [C*($clog2(N)+1)-1:0] raddr,
    input  logic [64*C-1:0]            rdata,
    // Destination buffer write port.
    output logic [C-1:0]               we,
    output logic [C*($clog2(N)+1)-1:0] waddr,
    output logic [64*C-1:0]            wdata,
    output logic                       done,
    output logic                       done_bank,
    output logic                       done_inverse
);
  localparam int LOG_N = $clog2(N);
  localparam int AW = LOG_N + 1;
  localparam int WORDS = N / C;
  localparam int HALF = C / 2;
  localparam int KW = (WORDS > 1) ? $clog2(WORDS) : 1;
  localparam int DEPTH = 1 + goldilocks_pkg::BF_LATENCY;

  // psi^bitrev(i) at [0, N), psi^-bitrev(i) at [N, 2N): generated at build time.
  logic [63:0] tw_rom[0:2*N-1];
  initial $readmemh(TW_FILE, tw_rom);

  // Read side.
  logic          busy, inverse, rbank;
  logic [KW-1:0] k;
  always_ff @(posedge clk) begin
    if (rst) begin
      busy  <= 1'b0;
      k     <= '0;
      rbank <= 1'b0;
    end else if (start) begin
      busy    <= 1'b1;
      k       <= '0;
      rbank   <= start_bank;
      inverse <= start_inverse;
    end else if (busy) begin
      if (k == KW'(WORDS - 1)) busy <= 1'b0;
      else k <= k + 1'b1;
    end
  end

  logic [LOG_N-1:0] log_t;
  assign log_t = inverse ? LOG_N'(S) : LOG_N'(LOG_N - 1 - S);

  logic [LOG_N-1:0] t;
  assign t = LOG_N'(1) << log_t;
  // Lane l's word and twiddle addresses: bits [l LOG_N +: LOG_N] / [l AW +: AW].
  logic [HALF*LOG_N-1:0] idx0, idx1;
  logic [HALF*AW-1:0]    tw_addr;
  always_comb begin
    for (int l = 0; l < HALF; l++) begin
      logic [LOG_N-1:0] b, i, j;
      b = LOG_N'(k) * LOG_N'(HALF) + LOG_N'(l);
      i = b >> log_t;
      j = b & (t - 1'b1);
      idx0[l*LOG_N+:LOG_N] = (i << (log_t + 1'b1)) | j;
      idx1[l*LOG_N+:LOG_N] = ((i << (log_t + 1'b1)) | j) | t;
      tw_addr[l*AW+:AW] = {inverse, LOG_N'(N >> (log_t + 1'b1)) + i};
      raddr[(2*l)*AW+:AW] = {rbank, idx0[l*LOG_N+:LOG_N]};
      raddr[(2*l+1)*AW+:AW] = {rbank, idx1[l*LOG_N+:LOG_N]};
    end
  end

  // The twiddles, registered to meet the data from the buffer.
  logic [64*HALF-1:0] tw;
  logic               inv1;
  always_ff @(posedge clk) begin
    for (int l = 0; l < HALF; l++) tw[l*64+:64] <= tw_rom[tw_addr[l*AW+:AW]];
    inv1 <= inverse;
  end

  logic [64*HALF-1:0] bx, by;
  for (genvar l = 0; l < HALF; l++) begin : g_bf
    butterfly bf (
        .clk(clk),
        .inverse(inv1),
        .u(rdata[(2*l)*64+:64]),
        .v(rdata[(2*l+1)*64+:64]),
        .w(tw[l*64+:64]),
        .x(bx[l*64+:64]),
        .y(by[l*64+:64])
    );
  end

  // Write side: the addresses, bank and frame end travel beside the data.
  logic [DEPTH-1:0]            v_d, last_d, bank_d, inv_d;
  logic [DEPTH*HALF*LOG_N-1:0] i0_d, i1_d;
  localparam int IW = HALF * LOG_N;
  always_ff @(posedge clk) begin
    if (rst) begin
      v_d <= '0;
    end else begin
      v_d <= {v_d[DEPTH-2:0], busy};
    end
    last_d <= {last_d[DEPTH-2:0], busy && (k == KW'(WORDS - 1))};
    bank_d <= {bank_d[DEPTH-2:0], rbank};
    inv_d  <= {inv_d[DEPTH-2:0], inverse};
    i0_d   <= {i0_d[(DEPTH-1)*IW-1:0], idx0};
    i1_d   <= {i1_d[(DEPTH-1)*IW-1:0], idx1};
  end

  always_comb begin
    for (int l = 0; l < HALF; l++) begin
      we[2*l] = v_d[DEPTH-1];
      we[2*l+1] = v_d[DEPTH-1];
      waddr[(2*l)*AW+:AW] = {bank_d[DEPTH-1], i0_d[(DEPTH-1)*IW+l*LOG_N+:LOG_N]};
      waddr[(2*l+1)*AW+:AW] = {bank_d[DEPTH-1], i1_d[(DEPTH-1)*IW+l*LOG_N+:LOG_N]};
      wdata[(2*l)*64+:64] = bx[l*64+:64];
      wdata[(2*l+1)*64+:64] = by[l*64+:64];
    end
  end
  assign done = v_d[DEPTH-1] && last_d[DEPTH-1];
  assign done_bank = bank_d[DEPTH-1];
  // The destination bank is the source bank: frame f sits in bank f mod 2 in every buffer.
  assign done_inverse = inv_d[DEPTH-1];
endmodule
