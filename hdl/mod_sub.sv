// a - b mod p for canonical a, b (combinational): glovebox_engine::commons::modp::sub.
module mod_sub
  import goldilocks_pkg::*;
(
    input  logic [63:0] a,
    input  logic [63:0] b,
    output logic [63:0] d
);
  logic [63:0] diff;
  assign diff = a - b;
  assign d = (a < b) ? diff + P : diff;
endmodule
