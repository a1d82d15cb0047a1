// The Gentleman-Sande butterfly (u + v, (u - v) 2^e) for a power-of-two twiddle w^-1 = 2^e,
// given as its exponent e (8 bits): the inverse NTT's butterfly (hdl/ntt_unit.sv), the inverse
// of butterfly_shift's (u + v w, u - v w) up to a factor 2. goldilocks_pkg::SBF_LATENCY cycles,
// as butterfly_shift (the sum and difference register, then mod_shift on the difference while
// the sum waits beside it), a new pair every cycle; `in_valid` travels beside the data. e is
// taken with u and v. Canonical u, v; e < 256 (mod 192).
module butterfly_gs_shift
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
  localparam int L = goldilocks_pkg::SHIFT_LATENCY;
  assign latency = 32'(goldilocks_pkg::SBF_LATENCY);  // L + 1

  logic [63:0] sum, diff, sum_r, diff_r;
  logic [7:0]  e_r;
  logic        valid_r;
  mod_add add_in (.a(u), .b(v), .s(sum));
  mod_sub sub_in (.a(u), .b(v), .d(diff));
  always_ff @(posedge clk) begin
    if (rst) valid_r <= 1'b0;
    else valid_r <= in_valid;
    sum_r  <= sum;
    diff_r <= diff;
    e_r    <= e;
  end

  mod_shift shift (
      .clk(clk),
      .rst(rst),
      .in_valid(valid_r),
      .a(diff_r),
      .e(e_r),
      .out_valid(out_valid),
      .y(y),
      .latency()
  );
  logic [63:0] sum_d[0:L-1];
  always_ff @(posedge clk) begin
    sum_d[0] <= sum_r;
    for (int i = 1; i < L; i++) sum_d[i] <= sum_d[i-1];
  end
  assign x = sum_d[L-1];
endmodule
