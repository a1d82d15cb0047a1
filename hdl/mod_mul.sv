// a * b mod p, pipelined (goldilocks_pkg::MUL_LATENCY cycles, a new pair every cycle; the
// `latency` port exports it). Inputs may be any 64-bit words (unreduced included); the output
// is canonical. `in_valid` travels beside the data, a valid bit in every stage, and comes out
// as `out_valid` with the product. Bit for bit glovebox_engine::commons::modp::mul:
//   1. four 32 x 32 -> 64 partial products (what a DSP slice computes),
//   2. their 128-bit sum x = hi * 2^64 + lo,
//   3. x = lo - hi[63:32] + hi[31:0] * (2^32 - 1) (mod p), using 2^64 = 2^32 - 1 and
//      2^96 = -1, with the borrow and carry corrections of reduce128_lazy,
//   4. one conditional subtraction of p.
module mod_mul
(
    input  logic        clk,
    input  logic        rst,
    input  logic        in_valid,
    input  logic [63:0] a,
    input  logic [63:0] b,
    output logic        out_valid,
    output logic [63:0] y,
    output logic [31:0] latency
);
  assign latency = 32'(goldilocks_pkg::MUL_LATENCY);

  // Valid bits of stages 1-4.
  logic v1, v2, v3, v4;
  always_ff @(posedge clk) begin
    if (rst) {v1, v2, v3, v4} <= '0;
    else {v1, v2, v3, v4} <= {in_valid, v1, v2, v3};
  end
  assign out_valid = v4;

  logic [63:0] p00, p01, p10, p11;
  always_ff @(posedge clk) begin
    p00 <= {32'b0, a[31:0]} * {32'b0, b[31:0]};
    p01 <= {32'b0, a[31:0]} * {32'b0, b[63:32]};
    p10 <= {32'b0, a[63:32]} * {32'b0, b[31:0]};
    p11 <= {32'b0, a[63:32]} * {32'b0, b[63:32]};
  end

  logic [127:0] prod;
  always_ff @(posedge clk) begin
    prod <= {p11, p00} + {32'b0, p01, 32'b0} + {32'b0, p10, 32'b0};
  end

  logic [63:0] lo, hi_hi, hi_lo, t0, t1, r;
  logic [64:0] t2;
  assign lo    = prod[63:0];
  assign hi_hi = {32'b0, prod[127:96]};
  assign hi_lo = {32'b0, prod[95:64]};
  // lo - hi_hi; on a borrow the wrapped value is >= 2^64 - 2^32, so subtracting EPS is exact.
  assign t0    = (lo < hi_hi) ? (lo - hi_hi) - goldilocks_pkg::EPS : lo - hi_hi;
  assign t1    = {hi_lo[31:0], 32'b0} - hi_lo;
  assign t2    = {1'b0, t0} + {1'b0, t1};
  // After a carry t2 < 2^64 - 2^33, so adding EPS cannot wrap.
  assign r     = t2[64] ? t2[63:0] + goldilocks_pkg::EPS : t2[63:0];

  logic [63:0] r3;
  always_ff @(posedge clk) begin
    r3 <= r;
    y  <= (r3 >= goldilocks_pkg::P) ? r3 - goldilocks_pkg::P : r3;
  end
endmodule
