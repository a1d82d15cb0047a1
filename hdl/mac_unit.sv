// The pointwise multiply-accumulate of the GGSW product, C lanes: y = a * b + c mod p
// (glovebox_engine's Plan::mul_accumulate per coefficient; a and b may be unreduced, c
// canonical), MAC_LATENCY = MUL_LATENCY + 1 cycles, C new triples every cycle.
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
    output logic [64*C-1:0] y
);
  localparam int L = goldilocks_pkg::MUL_LATENCY;
  logic [64*C-1:0]   prod, sum;
  // c delayed by the multiplier's latency: stage d at bits [d 64 C +: 64 C].
  logic [L*64*C-1:0] c_d;
  logic [goldilocks_pkg::MAC_LATENCY-1:0] v_d;
  always_ff @(posedge clk) begin
    c_d <= {c_d[(L-1)*64*C-1:0], c};
    if (rst) v_d <= '0;
    else v_d <= {v_d[goldilocks_pkg::MAC_LATENCY-2:0], in_valid};
  end
  for (genvar l = 0; l < C; l++) begin : g_lane
    mod_mul mul (
        .clk(clk),
        .a(a[l*64+:64]),
        .b(b[l*64+:64]),
        .y(prod[l*64+:64])
    );
    mod_add add (
        .a(prod[l*64+:64]),
        .b(c_d[(L-1)*64*C+l*64+:64]),
        .s(sum[l*64+:64])
    );
  end
  always_ff @(posedge clk) y <= sum;
  assign out_valid = v_d[goldilocks_pkg::MAC_LATENCY-1];
endmodule
