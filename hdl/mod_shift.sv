// a * 2^e mod p, pipelined (goldilocks_pkg::SHIFT_LATENCY = 6 cycles, a new pair every cycle; the
// `latency` port exports it): the multiplication by a power-of-two twiddle as a shift and a few
// additions, no multiplier. `in_valid` travels beside the data and comes out as `out_valid`.
// Every root of unity of order dividing 64 mod p = 2^64 - 2^32 + 1 is a power of two (2 has
// order 192 and 2^96 = -1), so the first NTT stages' twiddles are all of this form
// (hdl/ntt_stage.sv). Inputs may be any 64-bit word and any e < 256 (taken mod 192); the output
// is canonical, equal to glovebox_engine::commons::modp::mul(a, 2^e mod p).
//   1. e = 96 s + r with r < 96 (a 2^e = (-1)^s a 2^r), decoded and registered with a,
//   2. z = a << r < 2^160 (the barrel shifter alone),
//   3. z splits into lo (64 bits) + mid (32) 2^64 + top (64) 2^96 = lo + mid (2^32 - 1) - top
//      (mod p): mid (2^32 - 1) and lo - top + 2p side by side (2p keeps it non-negative),
//   4. their 66-bit sum,
//   5. its two carry bits folded back (2^64 = 2^32 - 1), with and without the fold's own
//      carry correction, side by side,
//   6. one conditional subtraction of p and the negation when s = 1: the four outcomes side
//      by side, chosen by the borrow and by a zero test.
// Every stage holds at most one carry chain (of 66 bits or fewer) in series.
module mod_shift
(
    input  logic        clk,
    input  logic        rst,
    input  logic        in_valid,
    input  logic [63:0] a,
    input  logic [7:0]  e,
    output logic        out_valid,
    output logic [63:0] y,
    output logic [31:0] latency
);
  localparam int L = goldilocks_pkg::SHIFT_LATENCY;
  assign latency = 32'(L);

  // Valid bits of stages 1-L; the sign s travels beside the data through stages 1-5.
  logic [L-1:0] v;
  logic [L-2:0] neg;
  always_ff @(posedge clk) begin
    if (rst) v <= '0;
    else v <= {v[L-2:0], in_valid};
  end
  assign out_valid = v[L-1];

  // Stage 1: e mod 192 = 96 s + r.
  logic [7:0]  e_mod;
  logic [63:0] a1;
  logic [6:0]  r1;
  assign e_mod = (e >= 8'd192) ? e - 8'd192 : e;
  always_ff @(posedge clk) begin
    a1 <= a;
    r1 <= (e_mod >= 8'd96) ? 7'(e_mod - 8'd96) : 7'(e_mod);
    neg <= {neg[L-3:0], e_mod >= 8'd96};
  end

  // Stage 2: the shift.
  logic [159:0] z;
  always_ff @(posedge clk) z <= {96'b0, a1} << r1;

  // Stage 3: mid (2^32 - 1) and lo - top + 2p.
  logic [63:0] mid3;
  logic [65:0] low3;
  always_ff @(posedge clk) begin
    mid3 <= {z[95:64], 32'b0} - {32'b0, z[95:64]};
    low3 <= {2'b0, z[63:0]} + {1'b0, goldilocks_pkg::P, 1'b0} - {2'b0, z[159:96]};
  end

  // Stage 4: s4 = lo + mid (2^32 - 1) - top + 2p < 2^66.
  logic [65:0] s4;
  always_ff @(posedge clk) s4 <= low3 + {2'b0, mid3};

  // Stage 5: s4 = lo + hi 2^64 = lo + hi (2^32 - 1) with hi < 4. When that overflows 64 bits
  // the wrapped word is below 3 2^32, and adding EPS (2^64 = EPS) cannot wrap again, so the
  // result is the low word of lo + hi (2^32 - 1), plus EPS on a carry: both side by side.
  logic [63:0] fold;
  logic [64:0] plain, corrected;
  assign fold      = {30'b0, s4[65:64], 32'b0} - {62'b0, s4[65:64]};
  assign plain     = {1'b0, s4[63:0]} + {1'b0, fold};
  assign corrected = {1'b0, s4[63:0]} + {1'b0, fold} + {1'b0, goldilocks_pkg::EPS};
  logic [63:0] f5;
  logic        unused_corrected64;  // its carry is plain's
  assign unused_corrected64 = corrected[64];
  always_ff @(posedge clk) f5 <= plain[64] ? corrected[63:0] : plain[63:0];

  // Stage 6: c = f5 mod p (one subtraction), then p - c when s = 1 and c != 0, as
  // f5 (c = f5, s = 0), f5 - p (c = f5 - p, s = 0), p - f5 (s = 1, f5 < p) and 2p - f5
  // (s = 1, f5 >= p), side by side; c = 0 exactly when f5 is 0 or p.
  logic [64:0] minus_p;
  logic [63:0] p_minus, two_p_minus;
  logic        ge, zero;
  assign minus_p     = {1'b0, f5} - {1'b0, goldilocks_pkg::P};
  assign p_minus     = goldilocks_pkg::P - f5;
  assign two_p_minus = goldilocks_pkg::P + goldilocks_pkg::P - f5;
  assign ge          = !minus_p[64];
  assign zero        = f5 == 64'd0 || f5 == goldilocks_pkg::P;
  always_ff @(posedge clk) begin
    if (!neg[L-2]) y <= ge ? minus_p[63:0] : f5;
    else if (zero) y <= 64'd0;
    else y <= ge ? two_p_minus : p_minus;
  end
endmodule
