// a * 2^e mod p, pipelined (goldilocks_pkg::SHIFT_LATENCY cycles, a new pair every cycle; the
// `latency` port exports it): the multiplication by a power-of-two twiddle as a shift and a few
// additions, no multiplier. `in_valid` travels beside the data and comes out as `out_valid`.
// Every root of unity of order dividing 64 mod p = 2^64 - 2^32 + 1 is a power of two (2 has
// order 192 and 2^96 = -1), so the first NTT stages' twiddles are all of this form
// (hdl/ntt_stage.sv). Inputs may be any 64-bit word and any e < 256 (taken mod 192); the output
// is canonical, equal to glovebox_engine::commons::modp::mul(a, 2^e mod p).
//   1. e = 96 s + r with r < 96: a 2^e = (-1)^s a 2^r; z = a << r < 2^160 splits into
//      lo (64 bits) + mid (32) 2^64 + top (64) 2^96 = lo + mid (2^32 - 1) - top (mod p),
//      summed with 2p added so the 66-bit sum is never negative,
//   2. the two carry bits folded back (2^64 = 2^32 - 1), leaving a 64-bit word,
//   3. one conditional subtraction of p, then the negation when s = 1.
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
  assign latency = 32'(goldilocks_pkg::SHIFT_LATENCY);

  // Valid bits of stages 1-3.
  logic v1, v2, v3;
  always_ff @(posedge clk) begin
    if (rst) {v1, v2, v3} <= '0;
    else {v1, v2, v3} <= {in_valid, v1, v2};
  end
  assign out_valid = v3;

  logic [7:0]   e_mod;
  logic         neg;
  logic [6:0]   r;
  logic [159:0] z;
  assign e_mod = (e >= 8'd192) ? e - 8'd192 : e;
  assign neg   = e_mod >= 8'd96;
  assign r     = neg ? 7'(e_mod - 8'd96) : 7'(e_mod);
  assign z     = {96'b0, a} << r;

  logic [63:0] mid_term;
  assign mid_term = {z[95:64], 32'b0} - {32'b0, z[95:64]};

  logic [65:0] s1;
  logic        neg1;
  always_ff @(posedge clk) begin
    s1   <= {2'b0, z[63:0]} + {2'b0, mid_term} + {1'b0, goldilocks_pkg::P, 1'b0}
        - {2'b0, z[159:96]};
    neg1 <= neg;
  end

  // s1 < 2^66: s1 = lo + hi 2^64 = lo + hi (2^32 - 1) with hi < 4; after a carry the low word
  // is below 3 2^32, so adding EPS cannot wrap.
  logic [64:0] f65;
  assign f65 = {1'b0, s1[63:0]} + {31'b0, s1[65:64], 32'b0} - {63'b0, s1[65:64]};

  logic [63:0] f2;
  logic        neg2;
  always_ff @(posedge clk) begin
    f2   <= f65[64] ? f65[63:0] + goldilocks_pkg::EPS : f65[63:0];
    neg2 <= neg1;
  end

  logic [63:0] c;
  assign c = (f2 >= goldilocks_pkg::P) ? f2 - goldilocks_pkg::P : f2;
  always_ff @(posedge clk) begin
    y <= (neg2 && c != 64'd0) ? goldilocks_pkg::P - c : c;
  end
endmodule
