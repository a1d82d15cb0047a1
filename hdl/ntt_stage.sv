// Stage `S` of the streaming negacyclic NTT: C / 2 Cooley-Tukey butterflies per cycle over one
// polynomial in N / C cycles. Butterfly b (lane l of read cycle k is b = k C/2 + l) pairs words
// idx0 = 2 i t + j and idx0 + t, with i = b / t, j = b mod t, and computes
// (u + v w, u - v w):
//   forward: stage S of Longa-Naehrig Algorithm 1 (natural order in, bit-reversed out),
//            t = N / 2^(S+1), w = psi^bitrev(2^S + i), a root of order 2^(S+2);
//   inverse: stage S of the decimation-in-time inverse of the cyclic NTT on bit-reversed
//            input, t = 2^S, w = omega^-j N/2^(S+1) = psi^(-j N / 2^S), a root of order
//            2^(S+1) (omega = psi^2); ntt_unit's output multipliers then apply N^-1 psi^-i,
//            which makes it the negacyclic inverse.
// Both directions run the first stages on small-order roots. For S < SHIFT_STAGES every
// twiddle of both directions is a power of two (roots of order <= 64), so those stages have no
// multiplier: butterfly_shift with the exponent from an 8-bit ROM. (Gentleman-Sande's inverse,
// Algorithm 2, would put its power-of-two twiddles in the *last* stages, so in a unit that
// runs both directions no stage could drop its multiplier.)
//
// Twiddle ROM: 2^(S+1) entries (hdl/gen_twiddles.py): the forward twiddles for i < 2^S, then
// the inverse ones for j < 2^S; exponents in shift stages. They are split over
// TB = min(C/2, 2^(S+1)) one-port ROM banks (rom_bank.sv), entry e in bank e mod TB at row
// e / TB, from TW_PREFIX_s<S>_c<C>_b<bank>.hex (S in hex, C and bank in 4 hex digits). The
// lanes of a cycle read one row of all banks (ntt_pkg.sv says why) and each lane takes its
// entry's bank, lane 0's plus a fixed offset: the banks rotated by lane 0's bank, then wiring
// (no crossbar). No entry is stored twice. `conflict` is high in a read cycle in which a
// lane's row differs from lane 0's or its bank from lane 0's plus its offset (a pattern the
// banks cannot serve; the unit counts it).
//
// Timing: `start` (the cycle the source buffer's last word is written) -> reads in the next
// N/C cycles -> each pair written to the destination buffer 1 + the butterfly's latency cycles
// after its read -> `done` with the last write. So a stage adds N/C + DEPTH cycles and accepts
// a new polynomial every N/C cycles (`start` may come on its last read cycle).
module ntt_stage #(
    parameter int N = 2048,
    parameter int C = 8,
    parameter int S = 0,
    parameter TW_PREFIX = "twiddles"
) (
    input  logic                       clk,
    input  logic                       rst,
    input  logic                       start,
    input  logic                       start_bank,
    input  logic                       start_inverse,
    // Source buffer read port (registered read: data one cycle after the address).
    output logic [C-1:0]               re,
    output logic [C*($clog2(N)+1)-1:0] raddr,
    input  logic [64*C-1:0]            rdata,
    // Destination buffer write port.
    output logic [C-1:0]               we,
    output logic [C*($clog2(N)+1)-1:0] waddr,
    output logic [64*C-1:0]            wdata,
    output logic                       done,
    output logic                       done_bank,
    output logic                       done_inverse,
    output logic                       conflict
);
  localparam int LOG_N = $clog2(N);
  localparam int AW = LOG_N + 1;
  localparam int WORDS = N / C;
  localparam int HALF = C / 2;
  localparam int KW = (WORDS > 1) ? $clog2(WORDS) : 1;
  localparam bit SHIFT = S < goldilocks_pkg::SHIFT_STAGES;
  localparam int DEPTH = 1 + (SHIFT ? goldilocks_pkg::SBF_LATENCY : goldilocks_pkg::BF_LATENCY);
  localparam int TW_W = SHIFT ? 8 : 64;
  localparam int TWN = 2 << S;
  localparam int TA = S + 1;
  localparam logic [7:0] S_DIGIT = (S < 10) ? 8'(48 + S) : 8'(87 + S);

  localparam int TB = (HALF < TWN) ? HALF : TWN;
  localparam int LOG_TB = $clog2(TB);
  localparam int TROWS = TWN / TB;
  localparam int TRW = (TROWS > 1) ? $clog2(TROWS) : 1;

  // Lane l's twiddle bank minus lane 0's (mod TB), the same in every read cycle of a direction
  // (0 forward, 1 inverse; ntt_pkg.sv): computed at read cycle 0, where b = l.
  function automatic int tw_offset(input int inverse, input int l);
    int log_t, e, e0;
    log_t = (inverse != 0) ? S : LOG_N - 1 - S;
    if (inverse != 0) begin
      e  = TWN / 2 + (l & ((1 << log_t) - 1));
      e0 = TWN / 2;
    end else begin
      e  = l >> log_t;
      e0 = 0;
    end
    tw_offset = (e - e0) % TB;
  endfunction

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
  // Lane l's word and twiddle addresses: bits [l LOG_N +: LOG_N] / [l TA +: TA].
  logic [HALF*LOG_N-1:0] idx0, idx1;
  logic [HALF*TA-1:0]    tw_addr;
  always_comb begin
    for (int l = 0; l < HALF; l++) begin
      logic [LOG_N-1:0] b, i, j;
      b = LOG_N'(k) * LOG_N'(HALF) + LOG_N'(l);
      i = b >> log_t;
      j = b & (t - 1'b1);
      idx0[l*LOG_N+:LOG_N] = (i << (log_t + 1'b1)) | j;
      idx1[l*LOG_N+:LOG_N] = ((i << (log_t + 1'b1)) | j) | t;
      tw_addr[l*TA+:TA] = inverse ? TA'(TWN / 2) + TA'(j) : TA'(i);
      re[2*l] = busy;
      re[2*l+1] = busy;
      raddr[(2*l)*AW+:AW] = {rbank, idx0[l*LOG_N+:LOG_N]};
      raddr[(2*l+1)*AW+:AW] = {rbank, idx1[l*LOG_N+:LOG_N]};
    end
  end

  // The twiddles: every bank reads lane 0's row, registered to meet the data from the buffer,
  // and each lane takes its entry's bank.
  logic [TRW-1:0]     tw_row;
  logic [TW_W*TB-1:0] tw_bank;
  logic [TW_W*HALF-1:0] tw;
  assign tw_row = TRW'(tw_addr[TA-1:0] >> LOG_TB);
  // A lane whose twiddle row differs from lane 0's, or whose bank is not lane 0's plus its
  // offset: an access the ROM banks cannot serve.
  logic bank_conflict, row_conflict;
  always_comb begin
    row_conflict = 1'b0;
    for (int l = 1; l < HALF; l++) begin
      if (busy && TRW'(tw_addr[l*TA+:TA] >> LOG_TB) != tw_row) row_conflict = 1'b1;
    end
  end
  for (genvar b = 0; b < TB; b++) begin : g_tw
    localparam TW_FILE = {TW_PREFIX, "_s", S_DIGIT, "_c", ntt_pkg::hex4(C), "_b",
        ntt_pkg::hex4(b), ".hex"};
    rom_bank #(.W(TW_W), .DEPTH(TROWS), .FILE(TW_FILE)) rom (
        .clk(clk),
        .addr(tw_row),
        .rdata(tw_bank[b*TW_W+:TW_W])
    );
  end
  assign conflict = row_conflict || bank_conflict;
  if (TB == 1) begin : g_tw_one
    assign tw = {HALF{tw_bank}};
    assign bank_conflict = 1'b0;
  end else begin : g_tw_sel
    // Lane l's bank is lane 0's plus an offset that is fixed in each direction (ntt_pkg.sv):
    // the banks rotated by lane 0's bank (a barrel network, TB log2 TB word multiplexers),
    // then wiring, and the direction's choice.
    logic [LOG_TB-1:0]  base_q;
    logic               inv_q;
    // In the first stages some banks are no lane's (every lane reads one entry there).
    /* verilator lint_off UNUSEDSIGNAL */
    logic [TW_W*TB-1:0] rotated;
    /* verilator lint_on UNUSEDSIGNAL */
    logic [HALF-1:0]    off_bank;
    always_ff @(posedge clk) begin
      base_q <= tw_addr[LOG_TB-1:0];
      inv_q  <= inverse;
    end
    lane_rotator #(.LANES(TB), .W(TW_W)) rotate (
        .in(tw_bank),
        .amount(base_q),
        .out(rotated)
    );
    for (genvar l = 0; l < HALF; l++) begin : g_lane
      localparam int OFF_FWD = tw_offset(0, l);
      localparam int OFF_INV = tw_offset(1, l);
      assign tw[l*TW_W+:TW_W] = inv_q ? rotated[OFF_INV*TW_W+:TW_W]
                                      : rotated[OFF_FWD*TW_W+:TW_W];
      assign off_bank[l] = busy && tw_addr[l*TA+:LOG_TB]
          != LOG_TB'(tw_addr[LOG_TB-1:0] + LOG_TB'(inverse ? OFF_INV : OFF_FWD));
    end
    assign bank_conflict = |off_bank;
  end

  // The read data's valid bit (the data comes the cycle after its address), through the
  // butterflies to the write side.
  logic rvalid;
  always_ff @(posedge clk) begin
    if (rst) rvalid <= 1'b0;
    else rvalid <= busy;
  end

  logic [64*HALF-1:0] bx, by;
  logic [HALF-1:0]    bvalid;
  for (genvar l = 0; l < HALF; l++) begin : g_bf
    if (SHIFT) begin : g_shift
      butterfly_shift bf (
          .clk(clk),
          .rst(rst),
          .in_valid(rvalid),
          .u(rdata[(2*l)*64+:64]),
          .v(rdata[(2*l+1)*64+:64]),
          .e(tw[l*TW_W+:TW_W]),
          .out_valid(bvalid[l]),
          .x(bx[l*64+:64]),
          .y(by[l*64+:64]),
          .latency()
      );
    end else begin : g_mul
      butterfly bf (
          .clk(clk),
          .rst(rst),
          .in_valid(rvalid),
          .inverse(1'b0),
          .u(rdata[(2*l)*64+:64]),
          .v(rdata[(2*l+1)*64+:64]),
          .w(tw[l*TW_W+:TW_W]),
          .out_valid(bvalid[l]),
          .x(bx[l*64+:64]),
          .y(by[l*64+:64]),
          .latency()
      );
    end
  end
  // The lanes' valid bits are equal: all butterflies deliver together.
  logic wvalid;
  assign wvalid = &bvalid;

  // Write side: the addresses, bank and frame end travel beside the data, DEPTH cycles.
  logic [DEPTH-1:0]            last_d, bank_d, inv_d;
  logic [DEPTH*HALF*LOG_N-1:0] i0_d, i1_d;
  localparam int IW = HALF * LOG_N;
  always_ff @(posedge clk) begin
    last_d <= {last_d[DEPTH-2:0], busy && (k == KW'(WORDS - 1))};
    bank_d <= {bank_d[DEPTH-2:0], rbank};
    inv_d  <= {inv_d[DEPTH-2:0], inverse};
    i0_d   <= {i0_d[(DEPTH-1)*IW-1:0], idx0};
    i1_d   <= {i1_d[(DEPTH-1)*IW-1:0], idx1};
  end

  always_comb begin
    for (int l = 0; l < HALF; l++) begin
      we[2*l] = wvalid;
      we[2*l+1] = wvalid;
      waddr[(2*l)*AW+:AW] = {bank_d[DEPTH-1], i0_d[(DEPTH-1)*IW+l*LOG_N+:LOG_N]};
      waddr[(2*l+1)*AW+:AW] = {bank_d[DEPTH-1], i1_d[(DEPTH-1)*IW+l*LOG_N+:LOG_N]};
      wdata[(2*l)*64+:64] = bx[l*64+:64];
      wdata[(2*l+1)*64+:64] = by[l*64+:64];
    end
  end
  assign done = wvalid && last_d[DEPTH-1];
  assign done_bank = bank_d[DEPTH-1];
  // The destination bank is the source bank: frame f sits in bank f mod 2 in every buffer.
  assign done_inverse = inv_d[DEPTH-1];
endmodule
