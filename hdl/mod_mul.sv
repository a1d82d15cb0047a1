// a * b mod p, pipelined (goldilocks_pkg::MUL_LATENCY = 10 cycles, a new pair every cycle; the
// `latency` port exports it). Inputs may be any 64-bit words (unreduced included); the output
// is canonical. `in_valid` travels beside the data, a valid bit in every stage, and comes out
// as `out_valid` with the product. Bit for bit glovebox_engine::commons::modp::mul.
//
// Built for an FPGA's DSP slices (AMD DSP48E2: a 27 x 18 signed multiplier, so 26 x 17
// unsigned, a 48-bit post-adder whose Z input can be the previous slice's P shifted right by 17,
// and input, product and output registers), every stage registered:
//   1.     the operands registered (the slices' A and B registers; slice j of a row takes them
//          j cycles later, which the A1/A2, B1/B2 registers and then fabric flip-flops give);
//   2.     twelve 26 x 17 partial products a_i b_j (a in chunks of 26, 26, 12 bits; b in chunks
//          of 17, 17, 17, 13), in the slices' product registers;
//   3-6.   three rows r_i = a_i b, each a cascade of four slices: s_j = a_i b_j + (s_{j-1} >> 17),
//          17 final bits out of every slice but the last (the post-adder, 48 bits);
//   7.     the low 64 bits of r_0 + r_1 2^26 + r_2 2^52 (a ternary adder: one 3:2 compressor
//          level and one 64-bit carry chain), the high parts registered;
//   8.     the high 64 bits, with the low sum's two carry bits (one carry chain);
//   9.     with x = hi 2^64 + lo, hi = hh 2^32 + hl, 2^64 = 2^32 - 1 and 2^96 = -1:
//          t0 = lo - hh (or lo - hh + p on a borrow) and t1 = hl (2^32 - 1), both candidates
//          of t0 computed side by side and chosen by the borrow;
//   10.    y = t0 + t1 or t0 + t1 - p, both side by side and chosen by the sign of the second:
//          the reduce128_lazy corrections and the canonical step of modp::mul in one stage
//          (t1 <= (2^32 - 1)^2 keeps t0 + t1 - p below p whenever it is not negative).
// No stage has a carry chain longer than 66 bits or more than one chain in series.
// Karatsuba saves no slice at these tile sizes: a 32 x 32 (or 33 x 33) product is four 26 x 17
// tiles either way, so three half-products take the same twelve slices as the schoolbook grid.
module mod_mul
(
    input  logic        clk,
    input  logic        rst,
    input  logic        in_valid,
    input  logic [63:0] a,
    input  logic [63:0] b,
    output logic        out_valid,
    output logic [63:0] y,
    output logic [31:0] latency
);
  localparam int L = goldilocks_pkg::MUL_LATENCY;
  assign latency = 32'(L);

  // Valid bits of stages 1-L.
  logic [L-1:0] v;
  always_ff @(posedge clk) begin
    if (rst) v <= '0;
    else v <= {v[L-2:0], in_valid};
  end
  assign out_valid = v[L-1];

  // Chunk i of a (26 bits from bit 26 i; the last has 12) and chunk j of b (17 bits from bit
  // 17 j; the last has 13), zero-extended.
  function automatic logic [25:0] a_chunk(input logic [63:0] word, input int i);
    a_chunk = 26'(word >> (26 * i));
  endfunction
  function automatic logic [16:0] b_chunk(input logic [63:0] word, input int j);
    b_chunk = 17'(word >> (17 * j));
  endfunction
  // A 3:2 compressor (carry-save adder): x + y + z = sum + carry, one LUT level.
  function automatic logic [131:0] csa(input logic [65:0] p, input logic [65:0] q,
                                       input logic [65:0] r);
    logic [65:0] sum_bits, carry_bits;
    sum_bits   = p ^ q ^ r;
    carry_bits = ((p & q) | (p & r) | (q & r)) << 1;
    csa        = {carry_bits, sum_bits};
  endfunction
  // The same mod 2^64.
  function automatic logic [127:0] csa64(input logic [63:0] p, input logic [63:0] q,
                                         input logic [63:0] r);
    csa64 = {((p & q) | (p & r) | (q & r)) << 1, p ^ q ^ r};
  endfunction

  // The skew of the row cascades: slice j takes the operands j cycles after slice 0 (a delay
  // line in fabric flip-flops; stage d holds the operands of d + 1 cycles ago).
  logic [3*64-1:0] a_skew, b_skew;
  always_ff @(posedge clk) begin
    a_skew <= {a_skew[2*64-1:0], a};
    b_skew <= {b_skew[2*64-1:0], b};
  end

  // The slices as a DSP48E2 runs them, with their own registers: stage 1 the operands (A, B),
  // stage 2 the product (M), stage 3 + j the post-adder of slice j (P = M + (PCIN >> 17)), so
  // p[i][j] holds the operands of 3 + j cycles ago. Row i's slices: bits [48 (4 i + j) +: 48].
  logic [12*48-1:0] p;
  for (genvar i = 0; i < 3; i++) begin : g_row
    for (genvar j = 0; j < 4; j++) begin : g_slice
      logic [63:0] a_src, b_src;
      if (j == 0) begin : g_first
        assign a_src = a;
        assign b_src = b;
      end else begin : g_skewed
        assign a_src = a_skew[(j-1)*64+:64];
        assign b_src = b_skew[(j-1)*64+:64];
      end
      logic [25:0] a_reg;
      logic [16:0] b_reg;
      logic [42:0] m_reg;
      logic [47:0] p_reg;
      always_ff @(posedge clk) begin
        a_reg <= a_chunk(a_src, i);
        b_reg <= b_chunk(b_src, j);
        m_reg <= {17'b0, a_reg} * {26'b0, b_reg};
      end
      if (j == 0) begin : g_head
        always_ff @(posedge clk) p_reg <= {5'b0, m_reg};
      end else begin : g_cascade
        always_ff @(posedge clk) p_reg <= {5'b0, m_reg} + (p[(4*i+j-1)*48+:48] >> 17);
      end
      assign p[(4*i+j)*48+:48] = p_reg;
    end
  end

  // The final 17 bits of slices 0-2 of each row, delayed to meet slice 3's output (slice j's
  // by 3 - j cycles), and the row r_i = a_i b < 2^(26 + 64): 90 bits (76 for the 12-bit chunk).
  logic [89:0] r[0:2];
  for (genvar i = 0; i < 3; i++) begin : g_row_out
    logic [3*17-1:0] f0;  // slice 0: 3 cycles
    logic [2*17-1:0] f1;  // slice 1: 2 cycles
    logic [16:0]     f2;  // slice 2: 1 cycle
    always_ff @(posedge clk) begin
      f0 <= {f0[2*17-1:0], p[(4*i)*48+:17]};
      f1 <= {f1[16:0], p[(4*i+1)*48+:17]};
      f2 <= p[(4*i+2)*48+:17];
    end
    assign r[i] = {p[(4*i+3)*48+:39], f2, f1[2*17-1-:17], f0[3*17-1-:17]};
    logic [8:0] unused_top;  // the last slice's P < 2^39
    assign unused_top = p[(4*i+3)*48+39+:9];
  end

  // Stage 7: the low word of r_0 + r_1 2^26 + r_2 2^52 and its two carry bits; the high parts.
  logic [131:0] lo_cs;
  logic [65:0]  lo_sum;
  assign lo_cs  = csa({2'b0, r[0][63:0]}, {2'b0, r[1][37:0], 26'b0}, {2'b0, r[2][11:0], 52'b0});
  assign lo_sum = lo_cs[65:0] + lo_cs[131:66];
  logic [63:0] lo7, h0, h1, h2;
  logic [1:0]  c7;
  always_ff @(posedge clk) begin
    lo7 <= lo_sum[63:0];
    c7  <= lo_sum[65:64];
    h0  <= {38'b0, r[0][89:64]};
    h1  <= {12'b0, r[1][89:38]};
    h2  <= r[2][75:12];
  end

  // Stage 8: the high word (x < 2^128, so it does not overflow).
  logic [127:0] hi_cs;
  logic [63:0]  hi_sum;
  assign hi_cs  = csa64(h0, h1, h2);
  assign hi_sum = hi_cs[63:0] + hi_cs[127:64] + {62'b0, c7};
  logic [63:0] lo8, hi8;
  always_ff @(posedge clk) begin
    lo8 <= lo7;
    hi8 <= hi_sum;
  end

  // Stage 9: t0 = lo - hh (+ p after a borrow: -EPS = p - 2^64), t1 = hl (2^32 - 1).
  logic [64:0]  d;
  logic [127:0] dp_cs;
  logic [63:0]  dp;
  logic [63:0]  t0, t1, t0_9, t1_9;
  assign d     = {1'b0, lo8} - {33'b0, hi8[63:32]};
  assign dp_cs = csa64(lo8, ~{32'b0, hi8[63:32]}, goldilocks_pkg::P + 64'd1);
  assign dp    = dp_cs[63:0] + dp_cs[127:64];
  assign t0    = d[64] ? dp : d[63:0];
  assign t1    = {hi8[31:0], 32'b0} - {32'b0, hi8[31:0]};
  always_ff @(posedge clk) begin
    t0_9 <= t0;
    t1_9 <= t1;
  end

  // Stage 10: t0 + t1 reduced once: t0 + t1 - p when it is not negative (66-bit signed).
  logic [63:0]  sum;
  logic [131:0] w_cs;
  logic [65:0]  w;
  logic         unused_w64;  // w < 2^64 whenever it is not negative
  assign sum  = t0_9 + t1_9;
  assign w_cs = csa({2'b0, t0_9}, {2'b0, t1_9}, 66'h3_0000_0000_FFFF_FFFF);
  assign w    = w_cs[65:0] + w_cs[131:66];
  assign unused_w64 = w[64];
  always_ff @(posedge clk) y <= w[65] ? sum : w[63:0];
endmodule
