// The pointwise multiply-accumulate of the GGSW product, C lanes: y = a * b + c mod p
// (glovebox_engine's Plan::mul_accumulate per coefficient; a and b may be unreduced, c
// canonical), goldilocks_pkg::MAC_LATENCY cycles (mod_mul, the adder register; the `latency`
// port exports it), C new triples every cycle. `in_valid` travels beside the data through the
// multipliers and comes out as `out_valid`.
module mac_unit #(
    parameter int C = 8
) (
    input  logic            clk,
    input  logic            rst,
    input  logic            in_valid,
    // Lane l: bits [64 l +: 64].
    input  logic [64*C-1:0] a,
    input  logic [64*C-1:0] b,
    input  logic [64*C-1:0] c,
    output logic            out_valid,
    output logic [64*C-1:0] y,
    output logic [31:0]     latency
);
  assign latency = 32'(goldilocks_pkg::MAC_LATENCY);

  localparam int L = goldilocks_pkg::MUL_LATENCY;
  logic [64*C-1:0]   prod, sum;
  logic [C-1:0]      prod_valid;
  // c delayed by the multiplier's latency: stage d at bits [d 64 C +: 64 C].
  logic [L*64*C-1:0] c_d;
  always_ff @(posedge clk) c_d <= {c_d[(L-1)*64*C-1:0], c};
  for (genvar l = 0; l < C; l++) begin : g_lane
    mod_mul mul (
        .clk(clk),
        .rst(rst),
        .in_valid(in_valid),
        .a(a[l*64+:64]),
        .b(b[l*64+:64]),
        .out_valid(prod_valid[l]),
        .y(prod[l*64+:64]),
        .latency()
    );
    mod_add add (
        .a(prod[l*64+:64]),
        .b(c_d[(L-1)*64*C+l*64+:64]),
        .s(sum[l*64+:64])
    );
  end
  always_ff @(posedge clk) begin
    // The lanes' valid bits are equal: all lanes deliver together.
    if (rst) out_valid <= 1'b0;
    else out_valid <= &prod_valid;
    y <= sum;
  end
endmodule
