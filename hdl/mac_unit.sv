// The pointwise multiply-accumulate of the GGSW product, C lanes: y = a * b + c mod p
// (glovebox_engine's Plan::mul_accumulate per coefficient; a and b may be unreduced, c
// canonical), MAC_LATENCY = MUL_LATENCY + 1 cycles, C new triples every cycle.
module mac_unit
  import goldilocks_pkg::*;
#(
    parameter int C = 8
) (
    input  logic              clk,
    input  logic              rst,
    input  logic              in_valid,
    input  logic [C-1:0][63:0] a,
    input  logic [C-1:0][63:0] b,
    input  logic [C-1:0][63:0] c,
    output logic              out_valid,
    output logic [C-1:0][63:0] y
);
  logic [C-1:0][63:0] prod, sum;
  logic [MUL_LATENCY-1:0][C-1:0][63:0] c_d;
  logic [MAC_LATENCY-1:0] v_d;
  always_ff @(posedge clk) begin
    c_d <= {c_d[MUL_LATENCY-2:0], c};
    if (rst) v_d <= '0;
    else v_d <= {v_d[MAC_LATENCY-2:0], in_valid};
  end
  for (genvar l = 0; l < C; l++) begin : g_lane
    mod_mul mul (
        .clk(clk),
        .a(a[l]),
        .b(b[l]),
        .y(prod[l])
    );
    mod_add add (
        .a(prod[l]),
        .b(c_d[MUL_LATENCY-1][l]),
        .s(sum[l])
    );
  end
  always_ff @(posedge clk) y <= sum;
  assign out_valid = v_d[MAC_LATENCY-1];
endmodule
