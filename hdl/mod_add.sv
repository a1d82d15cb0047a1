// a + b mod p for canonical a, b (combinational): glovebox_engine::commons::modp::add.
// a + b and a + b - p side by side (two carry chains in parallel, not in series), the second
// chosen when it is not negative: a + b < 2p, so one subtraction is canonical.
module mod_add
(
    input  logic [63:0] a,
    input  logic [63:0] b,
    output logic [63:0] s
);
  logic [63:0] t;
  logic [65:0] u;
  assign t = a + b;
  // a + b + (2^66 - p) mod 2^66: a + b - p as a 66-bit signed value.
  assign u = {2'b0, a} + {2'b0, b} + 66'h3_0000_0000_FFFF_FFFF;
  assign s = u[65] ? t : u[63:0];
  logic unused_u64;  // a + b - p < 2^64 whenever it is not negative
  assign unused_u64 = u[64];
endmodule
