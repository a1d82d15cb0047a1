// The LWE keyswitch unit: a batch of `cfg_batch` ciphertexts of dimension `cfg_n_in` switched
// to dimension `cfg_cols` - 1 under a keyswitch key streamed from key memory, bit for bit
// glovebox_engine::algorithms::keyswitch_lwe_ciphertext (TFHE-rs's keyswitch_lwe_ciphertext):
//   out_b = (0, ..., 0, round_W(body_b)) - sum_i sum_t d_{b,i,t} KSK_{i,t}
// with d_{b,i,.} the signed decomposition of mask word i of ciphertext b (gadget_decompose.sv, base
// 2^cfg_base_log, cfg_levels levels, run-time inputs) and KSK_{i,t} the key's row for input
// word i and level t (n_out + 1 = cfg_cols words, stored in that order: the key's layout).
//
// Output modulus 2^W (W = 64: the native torus; W = 21: the HPU set). Every key word is a
// multiple of 2^(64 - W) (the key's ciphertexts live in the top W bits of a u64), so the
// engine's wrapping u64 sum equals a W-bit sum of the top bits: key words, accumulators and
// outputs are W bits here (the top bits; the software shifts), and the body is rounded to its
// top W bits first (the engine's initial_body). The digit product is |d| times a key word,
// |d| <= 2^(MAX_BASE_LOG - 1): with MAX_BASE_LOG = 2 (the HPU set's base 2^2) it is a shift
// mux, no multiplier; the sign of d picks add or subtract.
//
// Dataflow. The key streams in chunks of P words (row r, chunk c: words c P .. c P + P - 1 of
// the row; the last chunk of a row carries cols - (chunks - 1) P words, its other lanes are
// ignored) with a valid/ready handshake; a chunk is used for every ciphertext of the batch
// (key reuse), one ciphertext per cycle: P lanes add d * key word into the accumulators of
// columns c P .. c P + P - 1. The accumulators are P banks (sdp_ram: one write and one read
// port each) of MAX_CHUNKS x MAX_BATCH words, bank l holding the columns = l mod P, address
// {chunk, ciphertext}: a read-modify-write pipeline (the operation's digit and key chunk
// registered after its issue, the read in that operand stage, add and write the next), with a
// forward of the previous cycle's write (the only one a read can miss). The
// first row starts from 0 (the body column from the rounded body), the last row's sums go to
// the output ports instead of being read back: no clearing pass and no drain pass.
//
// Loop order: for each input word i, level t, chunk c, ciphertext b: one operation per cycle
// when its chunk is there. A chunk is accepted (key_ready) when b = 0, and used at once.
//
// Input stream (in_valid / in_ready): the batch's bodies (ciphertext 0 first), then the mask
// words, input word i of every ciphertext before word i + 1 (i-major, ciphertext-minor). Each
// mask word is decomposed as it arrives (gadget_decompose, a pipeline of D =
// `decompose_latency` cycles) into a double-buffered digit register file, so word i + 1 of the
// batch loads while word i's rows are used. A slot is marked full at its word's last accept and
// usable D cycles later.
//
// Output stream (out_valid; no back-pressure): per cycle P words of one ciphertext, column
// out_chunk P + l in lane l (lanes at or past cfg_cols carry nothing), in the last row's order
// (chunk-major, ciphertext-minor). `latency` (ks_pkg::KS_LATENCY): from an operation's issue
// cycle to its output cycle.
//
// Cycles (the cycle model in glovebox_sim::ks restates this and the tests check it against the
// simulation): `start` in cycle 0, bodies and word 0 of the batch accepted in cycles
// 1 .. 2 cfg_batch, so the first operation can issue in cycle 2 cfg_batch + D + 1; then chunk
// k's operations issue from S_k = max(A_k, S_(k-1) + cfg_batch, I_k), A_k being the first cycle
// its key_valid is high and I_k, for the first chunk of input word i, the first cycle word i's
// digits are all in (word i is accepted from the cycle after word i - 1's last accept or after
// word i - 2's last operation, whichever is later); the last output comes KS_LATENCY cycles
// after the last issue.
//
// Parameters: P, MAX_BATCH >= 2 and MAX_CHUNKS powers of two.
//
// Contract (the software checks it): 1 <= cfg_batch <= MAX_BATCH, 1 <= cfg_cols <=
// P MAX_CHUNKS, cfg_n_in >= 1, and the decomposition's (gadget_decompose.sv). `start` is taken
// only when the unit is idle (busy low).
module ks_unit #(
    parameter int P            = 16,
    parameter int W            = 64,
    parameter int MAX_BASE_LOG = 4,
    parameter int MAX_LEVELS   = 8,
    parameter int MAX_BATCH    = 16,
    parameter int MAX_CHUNKS   = 64
) (
    input  logic            clk,
    input  logic            rst,
    // Configuration, taken with `start`.
    input  logic            start,
    input  logic [31:0]     cfg_n_in,
    input  logic [15:0]     cfg_cols,
    input  logic [15:0]     cfg_batch,
    input  logic [5:0]      cfg_base_log,
    input  logic [5:0]      cfg_levels,
    // Ciphertext words (native torus).
    input  logic            in_valid,
    output logic            in_ready,
    input  logic [63:0]     in_word,
    // Key memory: one chunk of P words (top W bits each), lane l at bits [l W +: W].
    input  logic            key_valid,
    output logic            key_ready,
    input  logic [P*W-1:0]  key_data,
    // Results: the top W bits of each output word, lane l at bits [l W +: W].
    output logic            out_valid,
    output logic [15:0]     out_ct,
    output logic [15:0]     out_chunk,
    output logic [P*W-1:0]  out_data,
    // Status: a batch is in flight; cycles of the batch waiting for a key chunk, and waiting
    // for input words (the digits of the next input word).
    output logic            busy,
    output logic [31:0]     key_stall_cycles,
    output logic [31:0]     in_stall_cycles,
    output logic [31:0]     latency,
    output logic [31:0]     decompose_latency
);
  localparam int BW = $clog2(MAX_BATCH);
  // The chunk counter keeps one bit when a row is one chunk (MAX_CHUNKS = 1); the accumulator
  // address {chunk, ciphertext} then drops it.
  localparam int CW = (MAX_CHUNKS > 1) ? $clog2(MAX_CHUNKS) : 1;
  localparam int PW = $clog2(P);
  localparam int DW = MAX_BASE_LOG + 1;
  localparam int AW = $clog2(MAX_CHUNKS) + BW;
  localparam int DIGITS = MAX_LEVELS * DW;
  localparam int D = goldilocks_pkg::DECOMPOSE_INIT_STAGES + MAX_LEVELS;

  assign latency = 32'(ks_pkg::KS_LATENCY);
  assign decompose_latency = 32'(D);

  // ---------------------------------------------------------------- configuration
  logic [15:0] cols;
  logic [5:0]  base_log, levels;
  // The last index of each loop, registered with the configuration (no subtraction in front of
  // the loop counters' compares).
  logic [31:0] n_in_last;
  logic [CW:0] chunks_last;
  logic [BW:0] batch_last;
  logic [5:0]  levels_last;
  logic        run, in_busy, va, v1;
  assign busy = run | in_busy | va | v1;
  logic unused_cfg;
  assign unused_cfg = ^cfg_batch[15:BW+1];
  logic go;
  assign go = start & ~busy;
  always_ff @(posedge clk) begin
    if (go) begin
      cols     <= cfg_cols;
      base_log <= cfg_base_log;
      levels   <= cfg_levels;
      // ceil(cols / P) - 1 = floor((cols - 1) / P) for cols >= 1.
      n_in_last   <= cfg_n_in - 1;
      chunks_last <= (CW + 1)'((cfg_cols - 16'd1) >> PW);
      batch_last  <= (BW + 1)'(cfg_batch) - 1'b1;
      levels_last <= cfg_levels - 6'd1;
    end
  end

  // ---------------------------------------------------------------- input side
  // Bodies first (in_body), then mask word in_i of ciphertext in_b into digit slot in_i[0].
  logic          in_body;
  logic [BW-1:0] in_b;
  logic [31:0]   in_i;
  logic [1:0]    full;    // digit slot s is taken by an input word of the batch
  logic [1:0]    landed;  // and holds all of its digits
  logic          accept, in_last_b;
  assign in_ready  = in_busy & (in_body | ~full[in_i[0]]);
  assign accept    = in_valid & in_ready;
  assign in_last_b = {1'b0, in_b} == batch_last;

  // The decomposition pipeline; the write of each word's digits (valid, slot, ciphertext, last
  // of its word) travels beside it for D cycles.
  logic [DIGITS-1:0] in_digits;
  gadget_decompose #(.MAX_BASE_LOG(MAX_BASE_LOG), .MAX_LEVELS(MAX_LEVELS)) decompose (
      .clk(clk),
      .x(in_word),
      .base_log(base_log),
      .levels(levels),
      .digits(in_digits),
      .latency()
  );
  logic [D-1:0]  dw_valid, dw_slot, dw_last;
  logic [BW-1:0] dw_b[D];
  always_ff @(posedge clk) begin
    if (rst) dw_valid <= '0;
    else dw_valid <= {dw_valid[D-2:0], accept & ~in_body};
    dw_slot <= {dw_slot[D-2:0], in_i[0]};
    dw_last <= {dw_last[D-2:0], in_last_b};
    dw_b[0] <= in_b;
    for (int k = 1; k < D; k++) dw_b[k] <= dw_b[k-1];
  end
  logic [DIGITS-1:0] digits[2][MAX_BATCH];
  always_ff @(posedge clk) begin
    if (dw_valid[D-1]) digits[dw_slot[D-1]][dw_b[D-1]] <= in_digits;
  end

  // The body rounded to its top W bits (initial_body: round half up at bit 63 - W).
  logic [W-1:0] body_rounded, body_q;
  if (W == 64) begin : g_body_native
    assign body_rounded = in_word;
  end else begin : g_body_round
    logic [W:0] top;
    assign top = in_word[63:63-W] + 1'b1;
    assign body_rounded = top[W:1];
    logic unused_low;
    assign unused_low = ^{in_word[62-W:0], top[0]};
  end

  // ---------------------------------------------------------------- issue stage
  logic [31:0]   i;
  logic [5:0]    t;
  logic [BW-1:0] b_a;  // the operand stage's ciphertext (it addresses the bodies' read)
  logic [CW-1:0] c;
  logic [BW-1:0] b;
  logic          have, issue, last_b, last_c, last_t, last_i;
  assign have      = landed[i[0]];
  assign key_ready = run & have & (b == '0);
  assign issue     = run & have & ((b != '0) | key_valid);
  assign last_b    = {1'b0, b} == batch_last;
  assign last_c    = {1'b0, c} == chunks_last;
  assign last_t    = t == levels_last;
  assign last_i    = i == n_in_last;

  sdp_ram #(.W(W), .DEPTH(MAX_BATCH)) bodies (
      .clk(clk),
      .we(accept & in_body),
      .waddr(in_b),
      .wdata(body_rounded),
      .re(1'b1),
      .raddr(b_a),
      .rdata(body_q)
  );

  always_ff @(posedge clk) begin
    if (rst) begin
      run     <= 1'b0;
      in_busy <= 1'b0;
      full    <= '0;
      landed  <= '0;
    end else if (go) begin
      run              <= 1'b1;
      in_busy          <= 1'b1;
      in_body          <= 1'b1;
      in_b             <= '0;
      in_i             <= '0;
      full             <= '0;
      landed           <= '0;
      i                <= '0;
      t                <= '0;
      c                <= '0;
      b                <= '0;
      key_stall_cycles <= '0;
      in_stall_cycles  <= '0;
    end else begin
      if (accept) begin
        in_b <= in_last_b ? '0 : in_b + 1'b1;
        if (in_last_b) begin
          if (in_body) in_body <= 1'b0;
          else begin
            full[in_i[0]] <= 1'b1;
            in_i          <= in_i + 1;
            if (in_i == n_in_last) in_busy <= 1'b0;
          end
        end
      end
      if (dw_valid[D-1] & dw_last[D-1]) landed[dw_slot[D-1]] <= 1'b1;
      if (run & ~have) in_stall_cycles <= in_stall_cycles + 1;
      if (key_ready & ~key_valid) key_stall_cycles <= key_stall_cycles + 1;
      if (issue) begin
        b <= last_b ? '0 : b + 1'b1;
        if (last_b) begin
          c <= last_c ? '0 : c + 1'b1;
          if (last_c) begin
            t <= last_t ? '0 : t + 1'b1;
            if (last_t) begin
              full[i[0]]   <= 1'b0;
              landed[i[0]] <= 1'b0;
              i          <= i + 1;
              if (last_i) run <= 1'b0;
            end
          end
        end
      end
    end
  end

  // The chunk is used as it arrives (b = 0) and held for the other ciphertexts.
  logic [P*W-1:0] key_q, key_use;
  always_ff @(posedge clk) begin
    if (issue & (b == '0)) key_q <= key_data;
  end
  assign key_use = (b == '0) ? key_data : key_q;

  // ---------------------------------------------------------------- operand stage (A)
  // The operation's digit (slot i mod 2, ciphertext b, level t) and key chunk, registered with
  // its position; the accumulators' and the bodies' reads are issued from here.
  logic [DIGITS-1:0] op_digits;
  assign op_digits = digits[i[0]][b];
  logic                  first_a, last_a;
  logic [CW-1:0]         c_a;
  logic [DW-1:0]         digit;
  logic [P*W-1:0]        key_a;
  always_ff @(posedge clk) begin
    if (rst) va <= 1'b0;
    else va <= issue;
    first_a <= (i == 0) & (t == 0);
    last_a  <= last_i & last_t;
    b_a     <= b;
    c_a     <= c;
    digit   <= op_digits[t*DW+:DW];
    key_a   <= key_use;
  end
  logic [MAX_BASE_LOG-1:0] magnitude;
  assign magnitude = MAX_BASE_LOG'(digit[DW-1] ? -digit : digit);

  // ---------------------------------------------------------------- accumulate stage (1)
  logic          first1, last1;
  logic [BW-1:0] b1;
  logic [CW-1:0] c1;
  logic [AW-1:0] addr1;
  // The previous cycle's write (address; data and valid bits per lane), for the read it raced.
  logic          wq_any;
  logic [AW-1:0] wq_addr;
  logic          wq_hit;
  assign wq_hit = wq_any & (wq_addr == addr1);

  always_ff @(posedge clk) begin
    if (rst) v1 <= 1'b0;
    else v1 <= va;
    first1 <= first_a;
    last1  <= last_a;
    b1     <= b_a;
    c1     <= c_a;
    addr1  <= AW'({c_a, b_a});
    if (rst) wq_any <= 1'b0;
    else if (v1) wq_any <= 1'b1;
    if (v1) wq_addr <= addr1;
  end

  logic [W-1:0] out_q[P];
  for (genvar l = 0; l < P; l++) begin : g_lane
    logic [15:0]  col;
    logic [W-1:0] k, prod, add1, rdata, acc, sum, wq_data;
    logic         en1, body_col1, wq_valid;
    assign col = 16'({c_a, PW'(l)});
    assign k   = key_a[l*W+:W];
    // |d| * k: a shift mux for base 2^2 (|d| <= 2), a MAX_BASE_LOG-bit multiplier otherwise.
    if (MAX_BASE_LOG <= 2) begin : g_shift
      assign prod = magnitude[MAX_BASE_LOG-1] ? (k << (MAX_BASE_LOG - 1)) :
                    (magnitude[0] ? k : '0);
    end else begin : g_mul
      assign prod = W'(k * magnitude);
    end
    always_ff @(posedge clk) begin
      en1       <= col < cols;
      body_col1 <= col == cols - 1'b1;
      // acc - d k: add |d| k for a negative digit, subtract it otherwise.
      add1      <= digit[DW-1] ? prod : -prod;
    end
    sdp_ram #(.W(W), .DEPTH(MAX_CHUNKS * MAX_BATCH)) bank (
        .clk(clk),
        .we(v1 & en1),
        .waddr(addr1),
        .wdata(sum),
        .re(1'b1),
        .raddr(AW'({c_a, b_a})),
        .rdata(rdata)
    );
    assign acc = first1 ? (body_col1 ? body_q : '0) : (wq_hit & wq_valid) ? wq_data : rdata;
    assign sum = acc + add1;
    always_ff @(posedge clk) begin
      if (v1) begin
        wq_valid <= en1;
        wq_data  <= sum;
      end
      out_q[l] <= sum;
    end
  end

  // ---------------------------------------------------------------- output
  always_ff @(posedge clk) begin
    if (rst) out_valid <= 1'b0;
    else out_valid <= v1 & last1;
    out_ct    <= 16'(b1);
    out_chunk <= 16'(c1);
  end
  always_comb begin
    for (int l = 0; l < P; l++) out_data[l*W+:W] = out_q[l];
  end
endmodule
