// Signed gadget decomposition of one native-torus word into `levels` digits of base
// 2^`base_log` (both run-time inputs), combinational; bit for bit
// glovebox_engine::commons::decomposition::SignedDecomposer (TFHE-rs's): the word is rounded to
// its top base_log * levels bits (round half up, then balanced so that the top digit stays in
// range), and digits come out least significant level first, each in [-B/2, B/2], B =
// 2^base_log. Digit t (t < levels; the level whose key row is the t-th of its block) is bits
// [t DW +: DW] of `digits`, two's complement; digits t >= levels are zero.
//
// Contract (checked by the software before it starts the unit): 1 <= base_log <= MAX_BASE_LOG,
// 1 <= levels <= MAX_LEVELS, base_log * levels < 64.
module gadget_decompose #(
    parameter int MAX_BASE_LOG = 4,
    parameter int MAX_LEVELS   = 8,
    localparam int DW = MAX_BASE_LOG + 1
) (
    input  logic [63:0]              x,
    input  logic [5:0]               base_log,
    input  logic [5:0]               levels,
    output logic [MAX_LEVELS*DW-1:0] digits
);
  // init_decomposer_state: the representable bits, rounded and balanced.
  logic [5:0]  rep;
  logic [63:0] res0, res1, res2, balance, state0;
  assign rep     = 6'(base_log * levels);
  assign res0    = x >> (7'd63 - 7'(rep));
  assign res1    = ((res0 + 64'd1) >> 1) & (64'hFFFF_FFFF_FFFF_FFFF >> (7'd64 - 7'(rep)));
  assign res2    = (res1 - 64'd1) | ({63'b0, res0[0]} << (rep - 6'd1));
  assign balance = (res2 & res1) >> (rep - 6'd1);
  assign state0  = res1 - (balance << rep);

  // next_digit, once per level: pop the low base_log bits, carry when they exceed B/2 (or equal
  // it with the rest of the state rounding up).
  always_comb begin
    logic [63:0] state, r, rest, carry;
    logic [DW-1:0] digit;
    state  = state0;
    digits = '0;
    for (int t = 0; t < MAX_LEVELS; t++) begin
      r     = state & ~(64'hFFFF_FFFF_FFFF_FFFF << base_log);
      rest  = 64'($signed(state) >>> base_log);
      carry = (((r - 64'd1) | rest) & r) >> (base_log - 6'd1);
      state = rest + carry;
      digit = DW'(r) - DW'(carry << base_log);
      if (6'(t) < levels) digits[t*DW+:DW] = digit;
    end
  end
endmodule
