// The streaming negacyclic NTT (INVERSE = 0) or inverse NTT (INVERSE = 1), one direction per
// unit: C coefficients per cycle in and out, a new polynomial every W = N / C cycles, nothing
// in it waiting for a whole polynomial. The plan (hdl/gen_twiddles.py, restated by
// glovebox_sim::ntt_order): log2 N radix-2 stages whose twiddles are all powers of two
// (ntt_stage.sv: shifts, no multiplier), and before stage 5 (and 11, 17, ...) a twist that
// multiplies every coefficient by a constant (ntt_twist.sv). Forward: natural order in, the
// plan's in-place order out (a(psi^E) at position pos, E = points[pos], psi the engine's
// 2N-th root of unity: the same values as glovebox_engine::ntt::Plan::fwd, in another order).
// Inverse: the stages backwards with Gentleman-Sande butterflies and the untwists; the plan's
// order in, natural order out, scaled by N^-1 (Plan::inv after the reordering). Word l of
// cycle k is position k C + l, in and out.
//
// Stream contract: a polynomial's W rows on W consecutive cycles (in_valid high); polynomials
// back to back or with any gap between them. No back-pressure: outputs come as they come.
// Contract: N >= 64 (the inverse's N^-1 rides on the twist before stage 5), N and C powers of
// two, 2 <= C <= N / 2.
//
// Cycles from a polynomial's first input row to its first output row (`LATENCY`, on the
// `latency` port): the input register (1), each stage whose pairs are inside a row
// (t = N / 2^(S+1) < C) SBF_LATENCY, each stage that pairs rows d = t / C apart
// d + SBF_LATENCY + 1, each twist MUL_LATENCY. At N = 2048, C = 128: 1 + (15 + 4 x 8) + 7 x 7
// + 10 = 107 (the buffered design this replaces took 321).
module ntt_unit #(
    parameter int N = 2048,
    parameter int C = 8,
    parameter bit INVERSE = 1'b0,
    parameter TW_PREFIX = "twiddles"
) (
    input  logic            clk,
    input  logic            rst,
    input  logic            in_valid,
    // Word l of the cycle: bits [64 l +: 64].
    input  logic [64*C-1:0] in_data,
    output logic            out_valid,
    output logic [64*C-1:0] out_data,
    output logic [31:0]     latency
);
  localparam int LOG_N = $clog2(N);
  localparam int W = N / C;
  localparam int KW = $clog2(W);
  localparam int LOG_C = $clog2(C);

  // Twists at or before stage s: before stage F = SHIFT_STAGES (5) and every F + 1 stages after.
  localparam int F = goldilocks_pkg::SHIFT_STAGES;
  function automatic int twists_upto(input int s);
    twists_upto = (s < F) ? 0 : (s - F) / (F + 1) + 1;
  endfunction
  function automatic bit is_twist(input int s);
    is_twist = s >= F && (s - F) % (F + 1) == 0;
  endfunction
  localparam int NT = twists_upto(LOG_N - 1);
  localparam int NP = LOG_N + NT;
  // Chain positions of stage s's butterflies and of its twist.
  function automatic int fly_pos(input int s);
    fly_pos = INVERSE ? (LOG_N - 1 - s) + NT - twists_upto(s) : s + twists_upto(s);
  endfunction
  function automatic int twist_pos(input int s);
    twist_pos = INVERSE ? fly_pos(s) + 1 : fly_pos(s) - 1;
  endfunction
  function automatic int unit_latency();
    int lat, t;
    lat = 1 + NT * goldilocks_pkg::MUL_LATENCY;
    for (int s = 0; s < LOG_N; s++) begin
      t = N >> (s + 1);
      lat += (t >= C) ? t / C + goldilocks_pkg::SBF_LATENCY + 1 : goldilocks_pkg::SBF_LATENCY;
    end
    unit_latency = lat;
  endfunction
  localparam int LATENCY = unit_latency();
  assign latency = 32'(LATENCY);

  if (N < (2 << F) || C < 2 || C > N / 2 || (1 << LOG_N) != N || (1 << LOG_C) != C) begin : g_contract
    $error("ntt_unit: N = %0d, C = %0d outside the contract (N >= 64, 2 <= C <= N / 2)", N, C);
  end

  // The stream between chain positions, position p's input at index p: valid bits, row
  // indices (bits [p KW +: KW]), the indices one cycle ahead, and the rows (bits
  // [p 64 C +: 64 C]). Flat vectors: Yosys 0.23 does not take unpacked arrays driven from
  // several generate scopes.
  logic [NP:0]              v;
  logic [(NP+1)*KW-1:0]     k, pk;
  logic [(NP+1)*64*C-1:0]   d;

  // Input register and row counter.
  logic            v0;
  logic [KW-1:0]   kin, k0;
  logic [64*C-1:0] d0;
  always_ff @(posedge clk) begin
    if (rst) begin
      kin <= '0;
      v0  <= 1'b0;
    end else begin
      v0 <= in_valid;
      if (in_valid) kin <= kin + 1'b1;
    end
    k0 <= kin;
    d0 <= in_data;
  end
  assign v[0]           = v0;
  assign k[KW-1:0]      = k0;
  assign d[64*C-1:0]    = d0;
  // The next cycle's row index: the counter as it stands now.
  assign pk[KW-1:0] = kin;

  for (genvar s = 0; s < LOG_N; s++) begin : g_stage
    localparam int FP = fly_pos(s);
    ntt_stage #(.N(N), .C(C), .S(s), .INVERSE(INVERSE), .TW_PREFIX(TW_PREFIX)) stage (
        .clk(clk),
        .rst(rst),
        .in_valid(v[FP]),
        .in_k(k[FP*KW+:KW]),
        .pre_k(pk[FP*KW+:KW]),
        .in_data(d[FP*64*C+:64*C]),
        .out_valid(v[FP+1]),
        .out_k(k[(FP+1)*KW+:KW]),
        .out_pre_k(pk[(FP+1)*KW+:KW]),
        .out_data(d[(FP+1)*64*C+:64*C])
    );
    if (is_twist(s)) begin : g_twist
      localparam int TP = twist_pos(s);
      ntt_twist #(.N(N), .C(C), .S(s), .INVERSE(INVERSE), .TW_PREFIX(TW_PREFIX)) twist (
          .clk(clk),
          .rst(rst),
          .in_valid(v[TP]),
          .in_k(k[TP*KW+:KW]),
          .pre_k(pk[TP*KW+:KW]),
          .in_data(d[TP*64*C+:64*C]),
          .out_valid(v[TP+1]),
          .out_k(k[(TP+1)*KW+:KW]),
          .out_pre_k(pk[(TP+1)*KW+:KW]),
          .out_data(d[(TP+1)*64*C+:64*C])
      );
    end
  end

  assign out_valid = v[NP];
  assign out_data  = d[NP*64*C+:64*C];
  logic unused_k;
  assign unused_k = ^{k[NP*KW+:KW], pk[NP*KW+:KW]};
endmodule
