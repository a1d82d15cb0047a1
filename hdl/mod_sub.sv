// a - b mod p for canonical a, b (combinational): glovebox_engine::commons::modp::sub.
module mod_sub
(
    input  logic [63:0] a,
    input  logic [63:0] b,
    output logic [63:0] d
);
  logic [63:0] diff;
  assign diff = a - b;
  assign d = (a < b) ? diff + goldilocks_pkg::P : diff;
endmodule
