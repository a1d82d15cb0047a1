// One radix-2 butterfly of the negacyclic NTT, goldilocks_pkg::BF_LATENCY cycles (the input
// register, mod_mul, the output register; the `latency` port exports it), a new pair every
// cycle. `in_valid` travels beside the data (through the multiplier) and comes out as
// `out_valid` with x and y.
// inverse = 0: Cooley-Tukey (Longa-Naehrig Algorithm 1): (u + v w, u - v w).
// inverse = 1: Gentleman-Sande (Algorithm 2):          (u + v, (u - v) w).
// Both modes have the same latency, so a stream may switch mode between words.
module butterfly
(
    input  logic        clk,
    input  logic        rst,
    input  logic        in_valid,
    input  logic        inverse,
    input  logic [63:0] u,
    input  logic [63:0] v,
    input  logic [63:0] w,
    output logic        out_valid,
    output logic [63:0] x,
    output logic [63:0] y,
    output logic [31:0] latency
);
  assign latency = 32'(goldilocks_pkg::BF_LATENCY);

  // Cycle 1: register the inputs (CT) or the sum and difference (GS).
  logic [63:0] sum, diff;
  mod_add add_in (.a(u), .b(v), .s(sum));
  mod_sub sub_in (.a(u), .b(v), .d(diff));

  logic        val1, inv1;
  logic [63:0] u1, m1, w1, s1;
  always_ff @(posedge clk) begin
    if (rst) val1 <= 1'b0;
    else val1 <= in_valid;
    inv1 <= inverse;
    u1   <= u;
    s1   <= sum;
    m1   <= inverse ? diff : v;
    w1   <= w;
  end

  // Cycles 2-5: the product (v w for CT, (u - v) w for GS), the other operand delayed alongside.
  logic        prod_valid;
  logic [63:0] prod;
  mod_mul mul (
      .clk(clk),
      .rst(rst),
      .in_valid(val1),
      .a(m1),
      .b(w1),
      .out_valid(prod_valid),
      .y(prod),
      .latency()
  );

  logic [63:0] u_d [0:goldilocks_pkg::MUL_LATENCY-1];
  logic [63:0] s_d [0:goldilocks_pkg::MUL_LATENCY-1];
  logic        inv_d [0:goldilocks_pkg::MUL_LATENCY-1];
  always_ff @(posedge clk) begin
    u_d[0]   <= u1;
    s_d[0]   <= s1;
    inv_d[0] <= inv1;
    for (int i = 1; i < goldilocks_pkg::MUL_LATENCY; i++) begin
      u_d[i]   <= u_d[i-1];
      s_d[i]   <= s_d[i-1];
      inv_d[i] <= inv_d[i-1];
    end
  end

  // Cycle 6: the CT sum and difference of the product, or the GS outputs, registered.
  logic [63:0] ct_x, ct_y;
  mod_add add_out (.a(u_d[goldilocks_pkg::MUL_LATENCY-1]), .b(prod), .s(ct_x));
  mod_sub sub_out (.a(u_d[goldilocks_pkg::MUL_LATENCY-1]), .b(prod), .d(ct_y));

  always_ff @(posedge clk) begin
    if (rst) out_valid <= 1'b0;
    else out_valid <= prod_valid;
    x <= inv_d[goldilocks_pkg::MUL_LATENCY-1] ? s_d[goldilocks_pkg::MUL_LATENCY-1] : ct_x;
    y <= inv_d[goldilocks_pkg::MUL_LATENCY-1] ? prod : ct_y;
  end
endmodule
