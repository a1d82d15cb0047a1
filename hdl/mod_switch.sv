// The modulus switch in front of the blind rotation, from the native torus (64-bit words; a
// keyswitch output modulo 2^w sits in the top w bits) to Z/2NZ, bit for bit
// glovebox_engine::algorithms::modulus_switch::lwe_modulus_switch_into (TFHE-rs's
// modulus_switch and, with `centered`, its centered-mean noise reduction,
// centered_binary_ms_body_correction_to_add):
//   mask word a:  s = round(a 2N / 2^64) = (a + H) >> S,      S = 64 - LOG_2N, H = 2^(S-1)
//   body b:       s = (b + c) >> S,  c = Σ_i h_i - trunc(Σ_i δ_i / 2) centered, else H
// where e_i = round(a_i) - a_i is mask word i's rounding error (positive when it rounds up),
// h_i = trunc(e_i / 2) and δ_i = 2 h_i - e_i in {-1, 0, 1} (the engine's sum, less half a step
// H, plus the rounding's own H).
//
// The words stream in the blind rotation's order (every ciphertext's mask word i, i-major,
// then the bodies), so the correction is kept per ciphertext (MAX_BATCH sums) and is complete,
// with its addends registered, five cycles after the last mask word: a body comes
// many cycles later (every write-back of the batch is in first). The outputs are combinational
// from `word`, one 64-bit addition each with a registered addend: `mask_switched` (s of a mask
// word) and `body_rotation` (of the body of ciphertext `body_index`: the output rotation
// X^(-s), -s mod 2N, or extracting X^(N - 1 - s)). With a the body's addend (s = (b + a) >> S),
// -s comes from its own addition, (~b + 2^S - a) >> S (-floor(y / 2^S) =
// floor((2^S - 1 - y) / 2^S) and 2^S - 1 - y = ~b + 2^S - a), so no subtraction follows the
// switch; N - 1 - s is ~s with its top bit flipped.
module mod_switch #(
    parameter int LOG_2N    = 12,
    parameter int MAX_BATCH = 4
) (
    input  logic              clk,
    input  logic              clear,       // a new batch: every sum to zero
    input  logic              centered,
    input  logic              extract,
    input  logic [63:0]       word,
    input  logic              take_mask,   // `word` is a mask word, consumed in this cycle
    input  logic [BW-1:0]     mask_index,  // its ciphertext
    input  logic [BW-1:0]     body_index,  // the ciphertext whose body `word` is (if it is one)
    output logic [LOG_2N-1:0] mask_switched,
    output logic [LOG_2N-1:0] body_rotation
);
  localparam int BW = (MAX_BATCH > 1) ? $clog2(MAX_BATCH) : 1;
  localparam int S  = 64 - LOG_2N;
  // Σ δ_i over fewer than 2^(DW-1) mask words.
  localparam int DW = 24;
  localparam logic [63:0] H = 64'd1 << (S - 1);

  // Mask words: one addition.
  logic [63:0] xm;
  assign xm            = word + H;
  assign mask_switched = xm[63:S];

  // Bodies: the registered addends of ciphertext body_index.
  logic [63:0] add_pos[MAX_BATCH], add_neg[MAX_BATCH];
  logic [63:0] xp, xn;
  logic [LOG_2N-1:0] s;
  assign xp = word + add_pos[body_index];
  assign xn = ~word + add_neg[body_index];
  assign s  = xp[63:S];
  assign body_rotation = extract ? ~s ^ (LOG_2N'(1) << (LOG_2N - 1)) : xn[63:S];
  logic unused;
  assign unused = ^{xm[S-1:0], xp[S-1:0], xn[S-1:0]};

  // The taken mask word's error, from its low S bits: lo >= H rounds up (e = 2^S - lo > 0),
  // else down (e = -lo <= 0); h = trunc(e / 2), δ = 2 h - e (-1 for e odd and positive, +1 for
  // e odd and negative).
  logic          t_take;
  logic [BW-1:0] t_index;
  logic [S-1:0]  t_lo;
  always_ff @(posedge clk) begin
    t_take  <= take_mask & ~clear;
    t_index <= mask_index;
    t_lo    <= word[S-1:0];
  end
  logic [63:0]          e, h;
  logic signed [63:0]   e_half;
  logic signed [DW-1:0] delta;
  assign e      = t_lo[S-1] ? (64'd1 << S) - 64'(t_lo) : 64'd0 - 64'(t_lo);
  assign e_half = $signed(e) >>> 1;
  assign h      = e_half + {63'b0, e[63] & e[0]};
  assign delta  = !e[0] ? DW'(0) : e[63] ? DW'(1) : -DW'(1);

  // Per ciphertext: the sums, then trunc(Σ δ / 2), then c, then the two addends, a stage each.
  logic [63:0]          half_sum[MAX_BATCH], corr[MAX_BATCH];
  logic signed [DW-1:0] dbl_sum[MAX_BATCH], dbl_half[MAX_BATCH];
  for (genvar b = 0; b < MAX_BATCH; b++) begin : g_ct
    logic signed [63:0] dbl_half64;
    assign dbl_half64 = 64'(dbl_half[b]);  // sign-extended
    always_ff @(posedge clk) begin
      if (clear) begin
        half_sum[b] <= '0;
        dbl_sum[b]  <= '0;
      end else if (t_take && t_index == BW'(b)) begin
        half_sum[b] <= half_sum[b] + h;
        dbl_sum[b]  <= dbl_sum[b] + delta;
      end
      dbl_half[b] <= (dbl_sum[b] >>> 1) + $signed({{(DW - 1) {1'b0}}, dbl_sum[b][DW-1] & dbl_sum[b][0]});
      corr[b]     <= centered ? half_sum[b] - dbl_half64 : H;
      add_pos[b]  <= corr[b];
      add_neg[b]  <= (64'd1 << S) - corr[b];
    end
  end
endmodule
