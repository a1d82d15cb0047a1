// The Cooley-Tukey butterfly (u + v 2^e, u - v 2^e) for a power-of-two twiddle w = 2^e, given
// as its exponent e (8 bits): mod_shift in place of the multiplier. goldilocks_pkg::SBF_LATENCY
// cycles (mod_shift, the output register; the `latency` port exports it), a new pair every
// cycle; `in_valid` travels beside the data and comes out as `out_valid`. Canonical u, v;
// e < 256 (mod 192).
module butterfly_shift
(
    input  logic        clk,
    input  logic        rst,
    input  logic        in_valid,
    input  logic [63:0] u,
    input  logic [63:0] v,
    input  logic [7:0]  e,
    output logic        out_valid,
    output logic [63:0] x,
    output logic [63:0] y,
    output logic [31:0] latency
);
  assign latency = 32'(goldilocks_pkg::SBF_LATENCY);

  logic        prod_valid;
  logic [63:0] prod;
  mod_shift shift (
      .clk(clk),
      .rst(rst),
      .in_valid(in_valid),
      .a(v),
      .e(e),
      .out_valid(prod_valid),
      .y(prod),
      .latency()
  );

  logic [63:0] u_d [0:goldilocks_pkg::SHIFT_LATENCY-1];
  always_ff @(posedge clk) begin
    u_d[0] <= u;
    for (int i = 1; i < goldilocks_pkg::SHIFT_LATENCY; i++) u_d[i] <= u_d[i-1];
  end

  logic [63:0] sum, diff;
  mod_add add_out (.a(u_d[goldilocks_pkg::SHIFT_LATENCY-1]), .b(prod), .s(sum));
  mod_sub sub_out (.a(u_d[goldilocks_pkg::SHIFT_LATENCY-1]), .b(prod), .d(diff));
  always_ff @(posedge clk) begin
    if (rst) out_valid <= 1'b0;
    else out_valid <= prod_valid;
    x <= sum;
    y <= diff;
  end
endmodule
