// The Cooley-Tukey butterfly (u + v 2^e, u - v 2^e) for a power-of-two twiddle w = 2^e, given
// as its exponent e (8 bits): mod_shift in place of the multiplier. SBF_LATENCY =
// SHIFT_LATENCY + 1 = 4 cycles, a new pair every cycle. Canonical u, v; e < 256 (mod 192).
module butterfly_shift
(
    input  logic        clk,
    input  logic [63:0] u,
    input  logic [63:0] v,
    input  logic [7:0]  e,
    output logic [63:0] x,
    output logic [63:0] y
);
  logic [63:0] prod;
  mod_shift shift (.clk(clk), .a(v), .e(e), .y(prod));

  logic [63:0] u_d [0:goldilocks_pkg::SHIFT_LATENCY-1];
  always_ff @(posedge clk) begin
    u_d[0] <= u;
    for (int i = 1; i < goldilocks_pkg::SHIFT_LATENCY; i++) u_d[i] <= u_d[i-1];
  end

  logic [63:0] sum, diff;
  mod_add add_out (.a(u_d[goldilocks_pkg::SHIFT_LATENCY-1]), .b(prod), .s(sum));
  mod_sub sub_out (.a(u_d[goldilocks_pkg::SHIFT_LATENCY-1]), .b(prod), .d(diff));
  always_ff @(posedge clk) begin
    x <= sum;
    y <= diff;
  end
endmodule
