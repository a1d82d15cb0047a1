// The modulus switch in front of the blind rotation, from the native torus (64-bit words; a
// keyswitch output modulo 2^w sits in the top w bits) to Z/2NZ, bit for bit
// glovebox_engine::algorithms::modulus_switch::lwe_modulus_switch_into (TFHE-rs's
// modulus_switch and, with `centered`, its centered-mean noise reduction,
// centered_binary_ms_body_correction_to_add):
//   mask word a:  round(a 2N / 2^64) = (a + H) >> S,        S = 64 - LOG_2N, H = 2^(S-1)
//   body b:       centered: (b + Σ_i h_i - trunc(Σ_i δ_i / 2)) >> S,  else (b + H) >> S
// where e_i = round(a_i) - a_i is mask word i's rounding error (positive when it rounds up),
// h_i = trunc(e_i / 2) and δ_i = 2 h_i - e_i in {-1, 0, 1} (the engine's sum, less half a step
// H, plus the rounding's own H).
//
// The words stream in the blind rotation's order (every ciphertext's mask word i, i-major,
// then the bodies), so the correction is kept per ciphertext (MAX_BATCH sums) and is complete
// before any body arrives. `switched` is combinational from `word`; a mask word taken (`take`,
// its ciphertext on `index`) updates its sums one cycle later (a body comes many cycles after
// the last mask word: every write-back of the batch is in first).
module mod_switch #(
    parameter int LOG_2N    = 12,
    parameter int MAX_BATCH = 4
) (
    input  logic              clk,
    input  logic              clear,     // a new batch: every sum to zero
    input  logic              centered,
    input  logic [63:0]       word,
    input  logic              body,      // `word` is a body (else a mask word)
    input  logic [BW-1:0]     index,     // its ciphertext
    input  logic              take,      // a mask word is consumed in this cycle
    output logic [LOG_2N-1:0] switched
);
  localparam int BW = (MAX_BATCH > 1) ? $clog2(MAX_BATCH) : 1;
  localparam int S  = 64 - LOG_2N;
  // Σ δ_i over at most 2^(DW-2) mask words.
  localparam int DW = 24;
  localparam logic [63:0] H = 64'd1 << (S - 1);

  logic [63:0]        half_sum[MAX_BATCH];
  logic signed [DW-1:0] dbl_sum[MAX_BATCH];

  // The body's addend: centered, Σ h - trunc(Σ δ / 2) (trunc: toward zero); else H.
  logic signed [DW-1:0] d, d_half;
  logic signed [63:0]   d_half64;
  logic [63:0]          addend, x;
  assign d        = dbl_sum[index];
  assign d_half   = (d >>> 1) + $signed({{(DW - 1) {1'b0}}, d[DW-1] & d[0]});
  assign d_half64 = 64'(d_half);  // sign-extended
  assign addend   = body && centered ? half_sum[index] - d_half64 : H;
  assign x        = word + addend;
  assign switched = x[63:S];
  logic unused;
  assign unused = ^x[S-1:0];

  // The taken mask word's error, from its low S bits: lo >= H rounds up (e = 2^S - lo > 0),
  // else down (e = -lo <= 0); h = trunc(e / 2), δ = 2 h - e (-1 for e odd and positive, +1 for
  // e odd and negative).
  logic          t_take;
  logic [BW-1:0] t_index;
  logic [S-1:0]  t_lo;
  always_ff @(posedge clk) begin
    t_take  <= take & ~clear;
    t_index <= index;
    t_lo    <= word[S-1:0];
  end
  logic [63:0]          e, h;
  logic signed [63:0]   e_half;
  logic signed [DW-1:0] delta;
  assign e      = t_lo[S-1] ? (64'd1 << S) - 64'(t_lo) : 64'd0 - 64'(t_lo);
  assign e_half = $signed(e) >>> 1;
  assign h      = e_half + {63'b0, e[63] & e[0]};
  assign delta = !e[0] ? DW'(0) : e[63] ? DW'(1) : -DW'(1);
  always_ff @(posedge clk) begin
    for (int b = 0; b < MAX_BATCH; b++) begin
      if (clear) begin
        half_sum[b] <= '0;
        dbl_sum[b]  <= '0;
      end else if (t_take && t_index == BW'(b)) begin
        half_sum[b] <= half_sum[b] + h;
        dbl_sum[b]  <= dbl_sum[b] + delta;
      end
    end
  end
endmodule
