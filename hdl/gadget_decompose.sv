// Signed gadget decomposition of one native-torus word into `levels` digits of base
// 2^`base_log` (both run-time inputs, held steady while words flow), pipelined: a new word
// every cycle, its digits LATENCY = goldilocks_pkg::DECOMPOSE_INIT_STAGES + MAX_LEVELS cycles
// later (the `latency` port exports it). Bit for bit
// glovebox_engine::commons::decomposition::SignedDecomposer (TFHE-rs's): the word is rounded to
// its top base_log * levels bits (round half up, then balanced so that the top digit stays in
// range), and digits come out least significant level first, each in [-B/2, B/2], B =
// 2^base_log. Digit t (t < levels; the level whose key row is the t-th of its block) is bits
// [t DW +: DW] of `digits`, two's complement; digits t >= levels are zero.
//
// Stages (each holds one carry chain of at most 64 bits, or one barrel shift, in series):
//   1. the word and the configuration registered, rep = base_log levels;
//   2. res0 = x >> (63 - rep) (the representable bits and the rounding bit);
//   3. res1 = (res0 + 1) >> 1, masked to rep bits (round half up);
//   4. (res1 - 1 | rounding bit << (rep - 1)) & res1, whose bit rep - 1 is the balance;
//   5. state = res1 - balance 2^rep;
//   5 + t + 1, t < MAX_LEVELS: level t's digit r - carry 2^base_log and the next state
//      (state >>> base_log) + carry, r = state mod 2^base_log, with carry = r's top bit and
//      (r - 1 or the next state's low bit there): only bit base_log - 1 of
//      ((r - 1) | rest) & r can be set.
//
// Contract (checked by the software before it starts a unit): 1 <= base_log <= MAX_BASE_LOG,
// 1 <= levels <= MAX_LEVELS, base_log * levels < 64.
module gadget_decompose #(
    parameter int MAX_BASE_LOG = 4,
    parameter int MAX_LEVELS   = 8,
    localparam int DW = MAX_BASE_LOG + 1,
    localparam int LATENCY = goldilocks_pkg::DECOMPOSE_INIT_STAGES + MAX_LEVELS
) (
    input  logic                     clk,
    input  logic [63:0]              x,
    input  logic [5:0]               base_log,
    input  logic [5:0]               levels,
    output logic [MAX_LEVELS*DW-1:0] digits,
    output logic [31:0]              latency
);
  localparam int S = goldilocks_pkg::DECOMPOSE_INIT_STAGES;
  // Bits of an index below MAX_BASE_LOG (b - 1); b itself takes BLW + 1.
  localparam int BLW = (MAX_BASE_LOG > 1) ? $clog2(MAX_BASE_LOG) : 1;
  assign latency = 32'(LATENCY);

  // The configuration beside the data, stage by stage (bl[k], lv[k], rep[k]: stage k + 1).
  logic [5:0] bl[LATENCY-1];
  logic [5:0] lv[LATENCY-1];
  logic [5:0] rep[S-1];
  always_ff @(posedge clk) begin
    bl[0]  <= base_log;
    lv[0]  <= levels;
    rep[0] <= 6'(base_log * levels);
    for (int k = 1; k < LATENCY - 1; k++) begin
      bl[k] <= bl[k-1];
      lv[k] <= lv[k-1];
    end
    for (int k = 1; k < S - 1; k++) rep[k] <= rep[k-1];
  end

  // Stages 1-5: init_decomposer_state.
  logic [63:0] x1, res0, res1, res1_4, and4, state0;
  logic        round3, balance;
  assign balance = and4[rep[3]-1];
  always_ff @(posedge clk) begin
    x1     <= x;
    res0   <= x1 >> (7'd63 - 7'(rep[0]));
    res1   <= ((res0 + 64'd1) >> 1) & (64'hFFFF_FFFF_FFFF_FFFF >> (7'd64 - 7'(rep[1])));
    round3 <= res0[0];
    and4   <= ((res1 - 64'd1) | ({63'b0, round3} << (rep[2] - 6'd1))) & res1;
    res1_4 <= res1;
    state0 <= res1_4 - ({63'b0, balance} << rep[3]);
  end

  // Stages 6 .. 5 + MAX_LEVELS: one level each. state[t] enters level t; the digits of levels
  // below t travel beside it (lvl_digits[t]).
  logic [63:0]              state[MAX_LEVELS+1];
  logic [MAX_LEVELS*DW-1:0] lvl_digits[MAX_LEVELS+1];
  assign state[0]      = state0;
  assign lvl_digits[0] = '0;
  for (genvar t = 0; t < MAX_LEVELS; t++) begin : g_level
    // The masks of base 2^b, registered a stage ahead from the configuration (which holds
    // steady while words flow): r = state mod 2^b, r's top bit (b - 1), the bits below it,
    // bit 2b - 1 of the state (the next state's bit b - 1, since rest = state >>> b), and 2^b
    // (the digit's borrow). The level then reads the state directly through them, beside the
    // shift: (r - 1) keeps bit b - 1 unless r is exactly 2^(b - 1).
    logic [5:0]                b_prev;
    logic [MAX_BASE_LOG-1:0]   m_low, m_top, m_below;
    logic [2*MAX_BASE_LOG-1:0] m_next;
    logic [DW-1:0]             m_b;
    assign b_prev = bl[S+t-2];
    always_ff @(posedge clk) begin
      for (int j = 0; j < MAX_BASE_LOG; j++) begin
        m_low[j]   <= 6'(j) < b_prev;
        m_top[j]   <= 6'(j + 1) == b_prev;
        m_below[j] <= 6'(j + 1) < b_prev;
      end
      for (int j = 0; j < 2 * MAX_BASE_LOG; j++) m_next[j] <= 7'(j + 1) == {b_prev, 1'b0};
      for (int j = 0; j < DW; j++) m_b[j] <= 6'(j) == b_prev;
    end
    logic [BLW:0]            b;
    logic [63:0]             rest;
    logic [MAX_BASE_LOG-1:0] r_low;
    logic                    carry;
    logic [DW-1:0]           digit;
    assign b     = (BLW + 1)'(bl[S+t-1]);
    assign r_low = MAX_BASE_LOG'(state[t]) & m_low;
    assign rest  = 64'($signed(state[t]) >>> b);
    assign carry = |(r_low & m_top)
        & (|(r_low & m_below) | |(state[t][2*MAX_BASE_LOG-1:0] & m_next));
    assign digit = {1'b0, r_low} - (carry ? m_b : '0);
    logic [63:0]              state_q;
    logic [MAX_LEVELS*DW-1:0] digits_q;
    always_ff @(posedge clk) begin
      state_q  <= rest + {63'b0, carry};
      digits_q <= lvl_digits[t];
      if (6'(t) < lv[S+t-1]) digits_q[t*DW+:DW] <= digit;
    end
    assign state[t+1]      = state_q;
    assign lvl_digits[t+1] = digits_q;
  end
  assign digits = lvl_digits[MAX_LEVELS];
  logic unused_state;  // the last level's next state
  assign unused_state = ^state[MAX_LEVELS];
endmodule
