// The blind-rotation unit: a batch of `cfg_batch` GLWE accumulators (K1 = k + 1 polynomials of
// N coefficients each, native torus) blind-rotated by the modulus-switched LWE ciphertexts'
// words, bit for bit glovebox_engine::algorithms::blind_rotate_assign (TFHE-rs's
// blind_rotate_ntt64_bnf_assign): for i = 0 .. n - 1 and each ciphertext b,
//   acc_b <- acc_b + GGSW_i [x] (acc_b X^(a_b,i) - acc_b)
// the external product with the digits of the difference lifted to Z/pZ, p = 2^64 - 2^32 + 1,
// transformed by a forward NTT unit, multiplied-accumulated with the GGSW's words (NTT domain),
// transformed back by an inverse NTT unit and switched to the native torus (round(x 2^64 / p));
// then acc_b <- acc_b X^(-body_b). A rotation by 0 runs like any other (its difference is 0, so
// it adds exactly 0): the unit's time does not depend on the data.
//
// The GGSW words the host streams are the engine's NTT-domain key times N (mod p), in the NTT
// units' order (hdl/ntt_unit.sv: the same evaluations as the engine's, in the streaming
// network's in-place order): the engine's key carries N^-1 for its unnormalized inverse
// transform, the inverse NTT unit scales by N^-1 itself (glovebox_sim's upload does the product
// and the reordering once per key, glovebox_sim::ntt_order).
//
// Dataflow, C coefficients per cycle everywhere (W = N / C rows per polynomial):
// - Accumulator memory: three copies (one per reader: the rotated read, the straight read and
//   the write-back's read) of C banks (sdp_ram: one write and one read port), coefficient
//   q C + l of polynomial r of ciphertext b in bank l, row (b K1 + r) W + q. Every write goes to
//   all three copies. The rotated read of row q fetches coefficients q C + l - a (mod 2N): C
//   consecutive coefficients, one per bank, rotated across lanes by a mod C and negated where
//   they wrap past N.
// - Issue (a "job" is one ciphertext's CMux with one GGSW): levels K1 W cycles, row q of
//   polynomial r for level t (t-major, then r, then q: the engine's digit order). Stage 1 reads,
//   stage R routes the rotated read across lanes, stage 2 forms the difference, then the
//   digit of level t (gadget_decompose's pipeline of DL stages) is lifted to Z/pZ into the
//   forward NTT unit.
// - Multiply-accumulate: each forward-NTT output row is multiplied by the K1 key rows of its
//   digit polynomial (K1 mac_units of C lanes) and accumulated into an NTT-domain accumulator of
//   K1 polynomials; four such accumulators (slots, each K1 x C banks of W words) take jobs in
//   turn, so a job's inverse transforms read one slot while later jobs accumulate in others.
// - The GGSW buffer holds four GGSWs (KEY_SLOTS; K1 groups of C banks, 4 MAX_LEVELS K1 W
//   rows): every GGSW is applied to the whole batch (key reuse) while the next three load
//   (prefetch, so the memory's latency is hidden over three GGSWs' time).
// - Write-back: each job's K1 NTT-domain polynomials stream through the inverse NTT unit; each
//   output row is switched to the native torus and added to the accumulator (read, add,
//   write).
// - Output: after the last job, each accumulator streams out rotated by X^(-body); with
//   cfg_extract, as the LWE ciphertext sample-extracted from its constant coefficient
//   (glovebox_engine's sample_extract: mask word j of polynomial r is acc'_r[0] for j = 0 and
//   -acc'_r[N - j] after, acc' = acc X^(-body), and the body acc'_k[0]). Word j is
//   acc_r[body - j] in the negacyclic extension (acc[x + N] = -acc[x]), so output row q is read
//   as row W - 1 - q rotated by X^(N - 1 - body), its lanes reversed: the rotated read as it
//   is. k W rows of mask words, then one row with the body in lane 0 (the other lanes zero).
// - Modulus switch (cfg_switch, hdl/mod_switch.sv): each rotation word is switched from the
//   native torus to Z/2NZ as it is taken, so a batch enters as keyswitched LWE ciphertexts.
//
// Ports. `start` (with cfg_*) while idle. The accumulators come in on in_* (cfg_batch K1 W
// rows: ciphertext, polynomial, row), before any job. The rotations come in on rot_* in the
// order they are used: a_b,i for i-major, b-minor, then the bodies, b = 0 first (in [0, 2N),
// or native-torus words with cfg_switch). The key:
// `key_req` is high while the unit can take the next GGSW (its slot is free); the memory answers
// `key_start` in a cycle where it begins sending that GGSW, then its levels K1 K1 W rows in the
// engine's order (level, row of the level matrix, output polynomial, row) on key_valid /
// key_data, which the unit always takes. The results leave on out_* (no back-pressure), in the
// input's order.
//
// Cycles (glovebox_sim::br::BrCycleModel restates this; the tests check it against the
// simulation): `start` in cycle 0; the accumulators are taken in cycles 1 .. B K1 W and the
// first job may issue in cycle B K1 W + 1. Job j = i B + b issues at
//   S_j = max(S_(j-1) + T, G_i, V_(j-B)),   T = levels K1 W,
// G_i being the first cycle with GGSW i loaded and V_j the first cycle after job j's
// write-back: V_j = S_j + T + K1 W + Lf + Li + Lm + PIPE, with Lf, Li, Lm the forward NTT's,
// the inverse NTT's and the mac_unit's `latency` ports and PIPE (the unit's own registers) on
// the `pipe_latency` port. GGSW g's slot frees when the batch's last job with GGSW g - KEY_SLOTS
// has accumulated (S + T + Lf + Lm + RELEASE). The output phase starts when every write-back is in
// and its last row leaves OUT_DELAY cycles after it is read (K1 W rows a ciphertext, or
// (K1 - 1) W + 1 extracting).
//
// Contract (the software checks it): N, C, MAX_BATCH, MAX_LEVELS powers of two, W >= 2 and
// W >= goldilocks_pkg::MAC_LATENCY + 2 (an accumulator row is read again after its previous
// sum is written); 1 <= cfg_batch <= MAX_BATCH, cfg_n >= 1, 1 <= cfg_levels <= MAX_LEVELS,
// 1 <= cfg_base_log <= MAX_BASE_LOG, cfg_base_log cfg_levels < 64; rotations in [0, 2N)
// without cfg_switch; cfg_n < 2^22 with cfg_centered (mod_switch's sums).
module br_unit #(
    parameter int N            = 512,
    parameter int C            = 4,
    parameter int K1           = 2,
    parameter int MAX_LEVELS   = 2,
    parameter int MAX_BASE_LOG = 24,
    parameter int MAX_BATCH    = 4,
    parameter TW_PREFIX = "twiddles"
) (
    input  logic            clk,
    input  logic            rst,
    input  logic            start,
    input  logic [31:0]     cfg_n,
    input  logic [15:0]     cfg_batch,
    input  logic [5:0]      cfg_base_log,
    input  logic [5:0]      cfg_levels,
    // The rotations are LWE words on the native torus, switched to Z/2NZ here (mod_switch.sv;
    // centered: TFHE-rs's centered-mean noise reduction on the body); else already in [0, 2N).
    input  logic            cfg_switch,
    input  logic            cfg_centered,
    // Sample extraction: each result leaves as an LWE ciphertext (see Output) instead of its
    // GLWE accumulator.
    input  logic            cfg_extract,
    input  logic            in_valid,
    output logic            in_ready,
    input  logic [64*C-1:0] in_data,
    input  logic            rot_valid,
    output logic            rot_ready,
    input  logic [63:0]     rot_data,
    output logic            key_req,
    input  logic            key_start,
    input  logic            key_valid,
    input  logic [64*C-1:0] key_data,
    output logic            out_valid,
    output logic [64*C-1:0] out_data,
    output logic            busy,
    // Cycles the issue stage waited for a GGSW, and for a write-back (the loop).
    output logic [31:0]     key_stall_cycles,
    output logic [31:0]     loop_stall_cycles,
    output logic [31:0]     fwd_latency,
    output logic [31:0]     inv_latency,
    output logic [31:0]     mac_latency,
    output logic [31:0]     pipe_latency,
    output logic [31:0]     release_latency,
    output logic [31:0]     out_delay,
    output logic [31:0]     key_slots,
    // Cycles with two accesses on one bank port (the simulation requires zero).
    output logic [31:0]     conflicts
);
  localparam int W      = N / C;
  localparam int LOG_N  = $clog2(N);
  localparam int LW     = (C > 1) ? $clog2(C) : 1;
  localparam int QW     = $clog2(W);
  localparam int BW     = (MAX_BATCH > 1) ? $clog2(MAX_BATCH) : 1;
  localparam int ADEPTH = MAX_BATCH * K1 * W;
  localparam int AAW    = $clog2(ADEPTH);
  // GGSW buffer slots: a GGSW loads while up to KEY_SLOTS - 1 earlier ones are in use.
  localparam int KEY_SLOTS = 4;
  localparam int GDEPTH = KEY_SLOTS * MAX_LEVELS * K1 * W;
  localparam int GAW    = $clog2(GDEPTH);
  localparam int UW     = $clog2(MAX_LEVELS * K1) + 1;
  localparam int DW     = MAX_BASE_LOG + 1;
  localparam int LM     = goldilocks_pkg::MAC_LATENCY;
  localparam logic [63:0] P = goldilocks_pkg::P;
  // The unit's own registers on the loop, V_j - S_j - T - K1 W - Lf - Li - Lm: the issue cycle,
  // the read, the routed read, the difference, the decomposition's DL stages and the lifted
  // digit (5 + DL, so the NTT takes row 0 at S + 5 + DL), the accumulation's key read and its
  // count (1 + 2 after the mac_unit), the INTT reader's start and read (1 + 1), the write-back's
  // read, write and count (2 after the inverse NTT's last row, the start shared): 9 + DL.
  // RELEASE = D_j - S_j - T - Lf - Lm with D_j the first cycle job j's accumulation is counted
  // done (and its GGSW freed when b = B - 1): 6 + DL. OUT_DELAY: an output row leaves 4 cycles
  // after its read.
  localparam int DL = goldilocks_pkg::DECOMPOSE_INIT_STAGES + MAX_LEVELS;
  localparam int PIPE = 9 + DL;
  localparam int RELEASE = 6 + DL;
  localparam int OUT_DELAY = 4;
  if (W < LM + 2) begin : g_contract
    $error("br_unit: W = N / C = %0d rows per polynomial, fewer than MAC_LATENCY + 2 = %0d",
           W, LM + 2);
  end
  assign mac_latency     = 32'(LM);
  assign pipe_latency    = 32'(PIPE);
  assign release_latency = 32'(RELEASE);
  assign out_delay       = 32'(OUT_DELAY);
  assign key_slots       = 32'(KEY_SLOTS);

  // ---------------------------------------------------------------- configuration, state
  typedef enum logic [1:0] {
    IDLE,
    LOAD,
    RUN
  } state_t;
  state_t      state;
  logic [31:0] n;
  logic [BW:0] batch;
  logic [BW:0] batch_last;  // batch - 1, registered with it
  logic [BW:0] inflight;    // jobs issued and not yet written back
  logic [31:0] jobs_last;   // jobs - 1, registered from jobs
  logic        issued_all;  // issued == jobs, kept as a flag
  logic        wb_all;      // wb_done == jobs, likewise
  logic [5:0]  base_log, levels;
  logic        switch_r, centered_r, extract_r;
  logic        go;
  assign busy = state != IDLE;
  assign go   = start & (state == IDLE);
  // Bits no configuration uses: the batch beyond MAX_BATCH, rotations beyond 2N, the other
  // mac_units' valid bits (all equal), and the wrap bit of the rotated read's index (its row is
  // the index mod N over C).
  logic unused;
  assign unused = ^{cfg_batch[15:BW+1], mac_valid[K1-1:1], rot_wrap};

  // Accumulator memory address of (ciphertext, polynomial, row).
  function automatic logic [AAW-1:0] acc_addr(input logic [BW-1:0] b, input logic [UW-1:0] r,
                                              input logic [QW-1:0] q);
    acc_addr = AAW'(b) * AAW'(K1 * W) + AAW'(r) * AAW'(W) + AAW'(q);
  endfunction

  // round(x 2^64 / p): glovebox_engine::commons::modp::to_native_torus.
  function automatic logic [63:0] to_native_torus(input logic [63:0] x);
    logic [63:0] a, b, b_eps, r;
    logic        carry;
    a            = x >> 32;
    b            = x & 64'h0000_0000_FFFF_FFFF;
    b_eps        = (b << 32) - b;
    {carry, r}   = {1'b0, b_eps} + {1'b0, 64'h7FFF_FFFF_8000_0000 - a};
    to_native_torus = x + a + {63'b0, carry | (r >= P)};
  endfunction

  // ---------------------------------------------------------------- memories
  // Accumulator copies 0 (rotated read), 1 (straight read), 2 (write-back read).
  // Flat buses (copy x, bank l at index x C + l), for Yosys 0.23, which reads one packed
  // dimension only; likewise below.
  logic [3*C-1:0]               acc_re;
  logic [3*C*AAW-1:0]           acc_raddr;
  logic [3*C*64-1:0]            acc_rdata;
  logic                         acc_we;
  logic [AAW-1:0]               acc_waddr;
  logic [C*64-1:0]              acc_wdata;
  for (genvar x = 0; x < 3; x++) begin : g_copy
    for (genvar l = 0; l < C; l++) begin : g_bank
      sdp_ram #(.W(64), .DEPTH(ADEPTH)) bank (
          .clk(clk),
          .we(acc_we),
          .waddr(acc_waddr),
          .wdata(acc_wdata[l*64+:64]),
          .re(acc_re[x*C+l]),
          .raddr(acc_raddr[(x*C+l)*AAW+:AAW]),
          .rdata(acc_rdata[(x*C+l)*64+:64])
      );
    end
  end

  // GGSW buffer: group j (output polynomial), bank l.
  logic                         g_we;
  logic [UW-1:0]                g_wj;
  logic [GAW-1:0]               g_waddr;
  logic                         g_re;
  logic [GAW-1:0]               g_raddr;
  logic [K1*C*64-1:0]           g_rdata;  // group j, bank l: index j C + l
  for (genvar j = 0; j < K1; j++) begin : g_ggsw
    for (genvar l = 0; l < C; l++) begin : g_bank
      sdp_ram #(.W(64), .DEPTH(GDEPTH)) bank (
          .clk(clk),
          .we(g_we && g_wj == UW'(j)),
          .waddr(g_waddr),
          .wdata(key_data[l*64+:64]),
          .re(g_re),
          .raddr(g_raddr),
          .rdata(g_rdata[(j*C+l)*64+:64])
      );
    end
  end

  // NTT-domain accumulators: slot s, group j, bank l, W rows.
  logic [3:0]                       na_we;
  logic [QW-1:0]                    na_waddr;
  logic [K1*C*64-1:0]               na_wdata;   // group j, bank l: index j C + l
  logic [3:0]                       na_re;
  logic [4*QW-1:0]                  na_raddr;
  logic [4*K1*C*64-1:0]             na_rdata;   // slot s, group j, bank l: (s K1 + j) C + l
  for (genvar s = 0; s < 4; s++) begin : g_slot
    for (genvar j = 0; j < K1; j++) begin : g_poly
      for (genvar l = 0; l < C; l++) begin : g_bank
        sdp_ram #(.W(64), .DEPTH(W)) bank (
            .clk(clk),
            .we(na_we[s]),
            .waddr(na_waddr),
            .wdata(na_wdata[(j*C+l)*64+:64]),
            .re(na_re[s]),
            .raddr(na_raddr[s*QW+:QW]),
            .rdata(na_rdata[((s*K1+j)*C+l)*64+:64])
        );
      end
    end
  end

  // ---------------------------------------------------------------- counters shared by stages
  logic [31:0] jobs;          // n B
  logic [31:0] issued;        // jobs issued
  logic [31:0] mac_done;      // jobs accumulated
  logic [31:0] wb_done;       // jobs written back
  logic [31:0] requested;     // GGSWs the memory started sending
  logic [31:0] loaded;        // GGSWs in the buffer
  logic [31:0] released;      // GGSWs every job of the batch has used
  logic [31:0] iss_i;         // GGSW of the next job
  logic [BW-1:0] iss_b;       // its ciphertext
  logic [BW:0]   out_jobs;    // output jobs issued

  // ---------------------------------------------------------------- load
  logic [BW-1:0] ld_b;
  logic [UW-1:0] ld_r;
  logic [QW-1:0] ld_q;
  logic          ld_last;
  assign in_ready = state == LOAD;
  assign ld_last  = {1'b0, ld_b} == batch_last && ld_r == UW'(K1 - 1) && ld_q == QW'(W - 1);

  // ---------------------------------------------------------------- issue
  logic          rd_busy, rd_out;
  logic [BW-1:0] rd_b;
  logic [UW-1:0] rd_r, rd_t;
  logic [QW-1:0] rd_q;
  logic [LOG_N:0] rd_rot;
  logic          rd_last;
  logic          rd_free, all_issued, wb_ready, can_job, can_out;
  // A job may issue in its predecessor's last row: rows stream back to back.
  assign rd_free    = !rd_busy || rd_last;
  assign all_issued = issued_all;
  // issued - wb_done < batch (a counter of its own: no 32-bit sum in front of the issue).
  assign wb_ready   = inflight < batch;
  assign can_job    = state == RUN && rd_free && !all_issued && rot_valid && loaded > iss_i
      && wb_ready;
  assign can_out    = state == RUN && rd_free && all_issued && wb_all && out_jobs < batch
      && rot_valid;
  assign rot_ready  = can_job | can_out;
  // An extracting output job reads the body polynomial's first row only.
  assign rd_last    = rd_r == UW'(K1 - 1) && (rd_out
      ? rd_q == (extract_r ? QW'(0) : QW'(W - 1))
      : rd_q == QW'(W - 1) && rd_t == UW'(levels - 1'b1));

  // The rotation of the next job (mask word a_b,i) or output (body_b): switched to Z/2NZ here
  // (mod_switch, its body path giving the output rotation itself) or taken as switched.
  logic [LOG_N:0] ms_mask, ms_body, rot_job, rot_out;
  mod_switch #(.LOG_2N(LOG_N + 1), .MAX_BATCH(MAX_BATCH)) ms (
      .clk(clk),
      .clear(go),
      .centered(centered_r),
      .extract(extract_r),
      .word(rot_data),
      .take_mask(can_job & switch_r),
      .mask_index(iss_b),
      .body_index(BW'(out_jobs)),
      .mask_switched(ms_mask),
      .body_rotation(ms_body)
  );
  // X^(-body); extracting, X^(N - 1 - body) read in reverse (Output).
  assign rot_job = switch_r ? ms_mask : rot_data[LOG_N:0];
  assign rot_out = switch_r ? ms_body
      : (extract_r ? (LOG_N + 1)'(N - 1) : (LOG_N + 1)'(0)) - rot_data[LOG_N:0];
  // An extracting output job reads rows in reverse order (row W - 1 - q for output row q).
  logic [QW-1:0] rd_qa;
  assign rd_qa = rd_out && extract_r ? ~rd_q : rd_q;

  // Per bank m of the rotated copy: the lane that reads it and that lane's row.
  logic [LW-1:0] rot_lo;
  logic [C-1:0]  rot_wrap;
  assign rot_lo = LW'(rd_rot);
  for (genvar m = 0; m < C; m++) begin : g_rot_addr
    logic [LOG_N:0] e;
    logic [LW-1:0]  lane;
    assign lane = LW'(m) + rot_lo;
    assign e    = (LOG_N + 1)'(rd_qa) * (LOG_N + 1)'(C) + (LOG_N + 1)'(lane) - rd_rot;
    assign rot_wrap[m]     = e[LOG_N];
    assign acc_re[m]                   = rd_busy;
    assign acc_raddr[m*AAW+:AAW]       = acc_addr(rd_b, rd_r, QW'(e[LOG_N-1:0] >> LW));
    assign acc_re[C+m]                 = rd_busy;
    assign acc_raddr[(C+m)*AAW+:AAW]   = acc_addr(rd_b, rd_r, rd_q);
  end

  // Stage 1: the words read; lane l takes bank (l - a) mod C, negated where q C + l - a wraps.
  logic          s1_valid, s1_out, s1_body;
  logic [UW-1:0] s1_t;
  logic [LW-1:0] s1_rot_lo;
  logic [C-1:0]  s1_neg;
  logic          s2_valid, s2_out, s2_body;
  logic [UW-1:0] s2_t;
  logic [C*64-1:0] s2_data;
  for (genvar l = 0; l < C; l++) begin : g_neg
    logic [LOG_N:0] e;
    assign e = (LOG_N + 1)'(rd_qa) * (LOG_N + 1)'(C) + (LOG_N + 1)'(l) - rd_rot;
    always_ff @(posedge clk) s1_neg[l] <= e[LOG_N];
  end
  always_ff @(posedge clk) begin
    if (rst) s1_valid <= 1'b0;
    else s1_valid <= rd_busy;
    s1_out    <= rd_out;
    s1_body   <= rd_out && rd_r == UW'(K1 - 1);
    s1_t      <= rd_t;
    s1_rot_lo <= rot_lo;
  end
  // Lane l takes bank (l - a) mod C: the banks rotated by -a (a barrel network, C log2 C word
  // multiplexers instead of a C-to-1 multiplexer per lane), registered with the straight read
  // (stage R).
  logic [LW-1:0]   s1_back;
  logic [C*64-1:0] routed;
  assign s1_back = LW'(0) - s1_rot_lo;
  lane_rotator #(.LANES(C), .W(64)) route (
      .in(acc_rdata[C*64-1:0]),
      .amount(s1_back),
      .out(routed)
  );
  logic            sr_valid, sr_out, sr_body;
  logic [UW-1:0]   sr_t;
  logic [C-1:0]    sr_neg;
  logic [C*64-1:0] sr_routed, sr_straight;
  always_ff @(posedge clk) begin
    if (rst) sr_valid <= 1'b0;
    else sr_valid <= s1_valid;
    sr_out      <= s1_out;
    sr_body     <= s1_body;
    sr_t        <= s1_t;
    sr_neg      <= s1_neg;
    sr_routed   <= routed;
    sr_straight <= acc_rdata[C*64+:C*64];
  end
  // Stage 2: the rotated word (negated where it wrapped), less the straight word for a job:
  // w - s and -w - s side by side (one carry chain each), chosen by the wrap.
  for (genvar l = 0; l < C; l++) begin : g_diff
    logic [63:0] w, x;
    assign w = sr_routed[l*64+:64];
    assign x = sr_straight[l*64+:64];
    always_ff @(posedge clk) begin
      if (sr_out) s2_data[l*64+:64] <= sr_neg[l] ? -w : w;
      else s2_data[l*64+:64] <= sr_neg[l] ? 64'd0 - w - x : w - x;
    end
  end
  always_ff @(posedge clk) begin
    if (rst) s2_valid <= 1'b0;
    else s2_valid <= sr_valid;
    s2_out  <= sr_out;
    s2_body <= sr_body;
    s2_t    <= sr_t;
  end

  // Stages 3 .. 2 + DL: the digits (gadget_decompose's pipeline), the level t and the valid bit
  // beside them; then the digit of level t, lifted to Z/pZ, into the forward NTT.
  logic [DL-1:0] dg_valid;
  logic [UW-1:0] dg_t[DL];
  always_ff @(posedge clk) begin
    if (rst) dg_valid <= '0;
    else dg_valid <= {dg_valid[DL-2:0], s2_valid & ~s2_out};
    dg_t[0] <= s2_t;
    for (int k = 1; k < DL; k++) dg_t[k] <= dg_t[k-1];
  end
  logic               fwd_in_valid;
  logic [64*C-1:0]    fwd_in_data;
  for (genvar l = 0; l < C; l++) begin : g_digit
    logic [MAX_LEVELS*DW-1:0] digits;
    logic [DW-1:0]            d;
    logic [63:0]              sx;
    gadget_decompose #(.MAX_BASE_LOG(MAX_BASE_LOG), .MAX_LEVELS(MAX_LEVELS)) decompose (
        .clk(clk),
        .x(s2_data[l*64+:64]),
        .base_log(base_log),
        .levels(levels),
        .digits(digits),
        .latency()
    );
    assign d  = digits[dg_t[DL-1]*DW+:DW];
    assign sx = 64'($signed(d));
    always_ff @(posedge clk) begin
      fwd_in_data[l*64+:64] <= sx + (sx[63] ? P : 64'd0);
      // Extracting: lanes reversed (Output); the body row carries the body in lane 0 only.
      if (!extract_r) out_data[l*64+:64] <= s2_data[l*64+:64];
      else if (s2_body && l != 0) out_data[l*64+:64] <= '0;
      else out_data[l*64+:64] <= s2_data[(C-1-l)*64+:64];
    end
  end
  always_ff @(posedge clk) begin
    if (rst) begin
      fwd_in_valid <= 1'b0;
      out_valid    <= 1'b0;
    end else begin
      fwd_in_valid <= dg_valid[DL-1];
      out_valid    <= s2_valid & s2_out;
    end
  end

  // ---------------------------------------------------------------- forward NTT
  logic            fwd_out_valid;
  logic [64*C-1:0] fwd_out_data;
  ntt_unit #(.N(N), .C(C), .INVERSE(1'b0), .TW_PREFIX(TW_PREFIX)) fwd (
      .clk(clk),
      .rst(rst),
      .in_valid(fwd_in_valid),
      .in_data(fwd_in_data),
      .out_valid(fwd_out_valid),
      .out_data(fwd_out_data),
      .latency(fwd_latency)
  );

  // ---------------------------------------------------------------- multiply-accumulate
  // M0 (forward output row q of digit polynomial u of job m_job): read the key rows and the
  // slot's accumulators; M1: the mac_units; their output row is written at the same position.
  logic [31:0]   m_job;
  logic [UW-1:0] m_u;
  logic [QW-1:0] m_q;
  logic [BW-1:0] m_b;
  logic [31:0]   m_i;
  logic          m_last_u;
  assign m_last_u = m_u == UW'(levels * 6'(K1) - 1'b1);
  assign g_re     = fwd_out_valid;
  assign g_raddr  = GAW'(m_i[1:0]) * GAW'(MAX_LEVELS * K1 * W) + GAW'(m_u) * GAW'(W) + GAW'(m_q);
  logic            m1_valid, m1_first;
  logic [1:0]      m1_slot;
  logic [64*C-1:0] m1_a;
  always_ff @(posedge clk) begin
    if (rst) m1_valid <= 1'b0;
    else m1_valid <= fwd_out_valid;
    m1_first <= m_u == '0;
    m1_slot  <= m_job[1:0];
    m1_a     <= fwd_out_data;
  end
  logic [K1-1:0]         mac_valid;
  logic [K1*64*C-1:0]    mac_y;  // group j at [j 64 C +: 64 C]
  for (genvar j = 0; j < K1; j++) begin : g_mac
    logic [64*C-1:0] acc_in;
    // Slot m1_slot's word: a 4-to-1 multiplexer per lane, every index a constant (indexing the
    // flat bus by the slot would be a shifter across all 4 K1 C words, which Yosys expands
    // before it simplifies: gigabytes at C = 256).
    for (genvar l = 0; l < C; l++) begin : g_lane
      logic [63:0] prev;
      always_comb begin
        prev = na_rdata[(j*C+l)*64+:64];
        for (int s = 1; s < 4; s++)
          if (m1_slot == 2'(s)) prev = na_rdata[((s*K1+j)*C+l)*64+:64];
      end
      assign acc_in[l*64+:64] = m1_first ? 64'd0 : prev;
    end
    mac_unit #(.C(C)) mac (
        .clk(clk),
        .rst(rst),
        .in_valid(m1_valid),
        .a(m1_a),
        .b(g_rdata[j*64*C+:64*C]),
        .c(acc_in),
        .out_valid(mac_valid[j]),
        .y(mac_y[j*64*C+:64*C]),
        .latency()
    );
  end
  // The write side counts the rows as they come out of the mac_units.
  logic [31:0]   w_job;
  logic [UW-1:0] w_u;
  logic [QW-1:0] w_q;
  logic [BW-1:0] w_b;
  logic          w_last;
  assign w_last = w_q == QW'(W - 1) && w_u == UW'(levels * 6'(K1) - 1'b1);
  always_comb begin
    for (int s = 0; s < 4; s++) na_we[s] = mac_valid[0] && w_job[1:0] == 2'(s);
    na_waddr = w_q;
    for (int j = 0; j < K1; j++)
      for (int l = 0; l < C; l++) na_wdata[(j*C+l)*64+:64] = mac_y[(j*C+l)*64+:64];
  end

  // ---------------------------------------------------------------- inverse NTT
  logic          ir_busy, ir_free;
  logic [31:0]   ir_started;
  logic [1:0]    ir_slot;
  logic [UW-1:0] ir_j;
  logic [QW-1:0] ir_q;
  logic          ir_last;
  logic [UW-1:0] ir1_j;
  logic [1:0]    ir1_slot;
  logic          inv_in_valid;
  assign ir_last = ir_j == UW'(K1 - 1) && ir_q == QW'(W - 1);
  assign ir_free = !ir_busy || ir_last;
  for (genvar s = 0; s < 4; s++) begin : g_slot_read
    logic mac_here, ir_here;
    assign mac_here             = fwd_out_valid && m_job[1:0] == 2'(s);
    assign ir_here              = ir_busy && ir_slot == 2'(s);
    assign na_re[s]             = mac_here | ir_here;
    assign na_raddr[s*QW+:QW]   = ir_here ? ir_q : m_q;
  end
  logic [64*C-1:0] inv_in_data;
  // Slot ir1_slot, group ir1_j: a 4 K1-to-1 multiplexer per lane on constant indices (as the
  // accumulation's read above).
  always_comb begin
    for (int l = 0; l < C; l++) begin
      inv_in_data[l*64+:64] = na_rdata[l*64+:64];
      for (int s = 0; s < 4; s++)
        for (int j = 0; j < K1; j++)
          if (ir1_slot == 2'(s) && ir1_j == UW'(j))
            inv_in_data[l*64+:64] = na_rdata[((s*K1+j)*C+l)*64+:64];
    end
  end
  logic            inv_out_valid;
  logic [64*C-1:0] inv_out_data;
  ntt_unit #(.N(N), .C(C), .INVERSE(1'b1), .TW_PREFIX(TW_PREFIX)) inv (
      .clk(clk),
      .rst(rst),
      .in_valid(inv_in_valid),
      .in_data(inv_in_data),
      .out_valid(inv_out_valid),
      .out_data(inv_out_data),
      .latency(inv_latency)
  );

  // ---------------------------------------------------------------- write-back
  // W0 (inverse output row q of polynomial j of job wb_job): read the accumulator, switch the
  // row to the torus; W1: add and write all three copies.
  logic [BW-1:0] wb_b;
  logic [UW-1:0] wb_j;
  logic [QW-1:0] wb_q;
  logic          wb_last;
  assign wb_last = wb_j == UW'(K1 - 1) && wb_q == QW'(W - 1);
  for (genvar l = 0; l < C; l++) begin : g_wb_read
    assign acc_re[2*C+l]                = inv_out_valid;
    assign acc_raddr[(2*C+l)*AAW+:AAW]  = acc_addr(wb_b, wb_j, wb_q);
  end
  logic                 wb1_valid, wb1_last;
  logic [AAW-1:0]       wb1_addr;
  logic [C*64-1:0]      wb1_switched;
  always_ff @(posedge clk) begin
    if (rst) wb1_valid <= 1'b0;
    else wb1_valid <= inv_out_valid;
    wb1_last <= wb_last;
    wb1_addr <= acc_addr(wb_b, wb_j, wb_q);
    for (int l = 0; l < C; l++)
      wb1_switched[l*64+:64] <= to_native_torus(inv_out_data[l*64+:64]);
  end
  always_comb begin
    if (state == LOAD) begin
      acc_we    = in_valid;
      acc_waddr = acc_addr(ld_b, ld_r, ld_q);
      acc_wdata = in_data;
    end else begin
      acc_we    = wb1_valid;
      acc_waddr = wb1_addr;
      for (int l = 0; l < C; l++)
        acc_wdata[l*64+:64] = acc_rdata[(2*C+l)*64+:64] + wb1_switched[l*64+:64];
    end
  end

  // ---------------------------------------------------------------- key loader
  logic [UW-1:0] k_u, k_j;
  logic [QW-1:0] k_q;
  logic          k_last;
  assign key_req = state != IDLE && requested < n && (requested < KEY_SLOTS || released + (KEY_SLOTS - 1) >= requested);
  assign k_last  = k_q == QW'(W - 1) && k_j == UW'(K1 - 1)
      && k_u == UW'(levels * 6'(K1) - 1'b1);
  assign g_we    = key_valid;
  assign g_wj    = k_j;
  assign g_waddr = GAW'(loaded[1:0]) * GAW'(MAX_LEVELS * K1 * W) + GAW'(k_u) * GAW'(W) + GAW'(k_q);

  // ---------------------------------------------------------------- sequencing
  always_ff @(posedge clk) begin
    if (rst) begin
      state   <= IDLE;
      rd_busy <= 1'b0;
      ir_busy <= 1'b0;
      inv_in_valid <= 1'b0;
    end else begin
      inv_in_valid <= ir_busy;
      ir1_j        <= ir_j;
      ir1_slot     <= ir_slot;
      if (go) begin
        state             <= LOAD;
        n                 <= cfg_n;
        batch             <= (BW + 1)'(cfg_batch);
        batch_last        <= (BW + 1)'(cfg_batch) - 1'b1;
        inflight          <= '0;
        issued_all        <= 1'b0;
        wb_all            <= 1'b0;
        base_log          <= cfg_base_log;
        switch_r          <= cfg_switch;
        centered_r        <= cfg_centered;
        extract_r         <= cfg_extract;
        levels            <= cfg_levels;
        jobs              <= cfg_n * 32'(cfg_batch);
        {ld_b, ld_r, ld_q} <= '0;
        issued            <= '0;
        mac_done          <= '0;
        wb_done           <= '0;
        requested         <= '0;
        loaded            <= '0;
        released          <= '0;
        iss_i             <= '0;
        iss_b             <= '0;
        out_jobs          <= '0;
        {m_job, m_u, m_q, m_b, m_i} <= '0;
        {w_job, w_u, w_q, w_b}      <= '0;
        {ir_started, ir_j, ir_q}    <= '0;
        {wb_b, wb_j, wb_q}          <= '0;
        {k_u, k_j, k_q}             <= '0;
        key_stall_cycles  <= '0;
        loop_stall_cycles <= '0;
      end
      // Load.
      if (state == LOAD && in_valid) begin
        if (ld_last) state <= RUN;
        ld_q <= ld_q + 1'b1;
        if (ld_q == QW'(W - 1)) begin
          ld_r <= (ld_r == UW'(K1 - 1)) ? '0 : ld_r + 1'b1;
          if (ld_r == UW'(K1 - 1)) ld_b <= ld_b + 1'b1;
        end
      end
      // Issue.
      if (state == RUN && rd_free && !all_issued) begin
        if (loaded <= iss_i) key_stall_cycles <= key_stall_cycles + 1;
        else if (!wb_ready) loop_stall_cycles <= loop_stall_cycles + 1;
      end
      if (can_job | can_out) begin
        rd_busy <= 1'b1;
        rd_out  <= can_out;
        {rd_r, rd_t, rd_q} <= '0;
        if (can_job) begin
          rd_b   <= iss_b;
          rd_rot <= rot_job;
          issued <= issued + 1;
          if ({1'b0, iss_b} == batch_last) begin
            iss_b <= '0;
            iss_i <= iss_i + 1;
          end else iss_b <= iss_b + 1'b1;
        end else begin
          rd_b     <= BW'(out_jobs);
          rd_rot   <= rot_out;
          out_jobs <= out_jobs + 1'b1;
        end
      end else if (rd_busy) begin
        if (rd_last) rd_busy <= 1'b0;
        rd_q <= rd_q + 1'b1;
        if (rd_q == QW'(W - 1)) begin
          rd_r <= (rd_r == UW'(K1 - 1)) ? '0 : rd_r + 1'b1;
          if (rd_r == UW'(K1 - 1)) rd_t <= rd_t + 1'b1;
        end
      end
      if (state == RUN && out_jobs == batch && !rd_busy && !(can_job | can_out)) state <= IDLE;
      // Multiply-accumulate, read side.
      if (fwd_out_valid) begin
        m_q <= m_q + 1'b1;
        if (m_q == QW'(W - 1)) begin
          m_u <= m_last_u ? '0 : m_u + 1'b1;
          if (m_last_u) begin
            m_job <= m_job + 1;
            if ({1'b0, m_b} == batch_last) begin
              m_b <= '0;
              m_i <= m_i + 1;
            end else m_b <= m_b + 1'b1;
          end
        end
      end
      // Write side: a job is done when its last row is written; its GGSW is released with the
      // batch's last ciphertext.
      if (mac_valid[0]) begin
        w_q <= w_q + 1'b1;
        if (w_q == QW'(W - 1)) w_u <= (w_u == UW'(levels * 6'(K1) - 1'b1)) ? '0 : w_u + 1'b1;
        if (w_last) begin
          w_job    <= w_job + 1;
          mac_done <= mac_done + 1;
          if ({1'b0, w_b} == batch_last) begin
            w_b      <= '0;
            released <= released + 1;
          end else w_b <= w_b + 1'b1;
        end
      end
      // Inverse NTT reader.
      if (ir_free && mac_done > ir_started) begin
        ir_busy    <= 1'b1;
        ir_slot    <= ir_started[1:0];
        ir_started <= ir_started + 1;
        ir_j       <= '0;
        ir_q       <= '0;
      end else if (ir_busy) begin
        ir_q <= ir_q + 1'b1;
        if (ir_q == QW'(W - 1)) ir_j <= ir_j + 1'b1;
        if (ir_last) ir_busy <= 1'b0;
      end
      // Write-back.
      if (inv_out_valid) begin
        wb_q <= wb_q + 1'b1;
        if (wb_q == QW'(W - 1)) wb_j <= (wb_j == UW'(K1 - 1)) ? '0 : wb_j + 1'b1;
        if (wb_last) wb_b <= ({1'b0, wb_b} == batch_last) ? '0 : wb_b + 1'b1;
      end
      if (wb1_valid && wb1_last) wb_done <= wb_done + 1;
      // The comparisons against the job count as flags, set by the last job's event (jobs - 1
      // is ready long before: the accumulators load first).
      jobs_last <= jobs - 1;
      if (!go && can_job && issued == jobs_last) issued_all <= 1'b1;
      if (!go && wb1_valid && wb1_last && wb_done == jobs_last) wb_all <= 1'b1;
      if (!go) inflight <= inflight + (BW + 1)'(can_job) - (BW + 1)'(wb1_valid && wb1_last);
      // Key loader.
      if (key_start) requested <= requested + 1;
      if (key_valid) begin
        k_q <= k_q + 1'b1;
        if (k_q == QW'(W - 1)) begin
          k_j <= (k_j == UW'(K1 - 1)) ? '0 : k_j + 1'b1;
          if (k_j == UW'(K1 - 1)) k_u <= (k_u == UW'(levels * 6'(K1) - 1'b1)) ? '0 : k_u + 1'b1;
        end
        if (k_last) loaded <= loaded + 1;
      end
    end
  end

  // ---------------------------------------------------------------- conflicts
`ifdef SYNTHESIS
  assign conflicts = '0;
`else
  // A job's inverse transforms and a later job's accumulation on one slot.
  logic [31:0] slot_conflicts;
  always_ff @(posedge clk) begin
    if (rst || go) slot_conflicts <= '0;
    else if (fwd_out_valid && ir_busy && m_job[1:0] == ir_slot)
      slot_conflicts <= slot_conflicts + 1;
  end
  assign conflicts = slot_conflicts;
`endif
endmodule
