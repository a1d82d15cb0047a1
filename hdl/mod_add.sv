// a + b mod p for canonical a, b (combinational): glovebox_engine::commons::modp::add.
module mod_add
(
    input  logic [63:0] a,
    input  logic [63:0] b,
    output logic [63:0] s
);
  logic [64:0] t;
  assign t = {1'b0, a} + {1'b0, b};
  // t < 2p, so one conditional subtraction is canonical.
  assign s = (t >= {1'b0, goldilocks_pkg::P}) ? 64'(t - {1'b0, goldilocks_pkg::P}) : t[63:0];
endmodule
