// a - b mod p for canonical a, b (combinational): glovebox_engine::commons::modp::sub.
// a - b (with its borrow) and a - b + p side by side (two carry chains in parallel), the second
// chosen on a borrow.
module mod_sub
(
    input  logic [63:0] a,
    input  logic [63:0] b,
    output logic [63:0] d
);
  logic [64:0] diff;
  logic [63:0] wrapped;
  assign diff    = {1'b0, a} - {1'b0, b};
  assign wrapped = a - b + goldilocks_pkg::P;
  assign d       = diff[64] ? wrapped : diff[63:0];
endmodule
