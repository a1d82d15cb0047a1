// The streaming negacyclic NTT / inverse NTT unit: C coefficients per cycle in, C out, a new
// polynomial every N/C cycles once the pipeline is full. Forward: natural order in,
// glovebox_engine::ntt::Plan::fwd's (bit-reversed) order out. Inverse (`in_inverse` with a
// polynomial's first word): Plan::inv's input order in, its output out, word for word. Word l
// of input cycle k is coefficient k C + l, and likewise at the output. The stream may switch
// direction between polynomials. No back-pressure: outputs must be taken as they come.
//
// Structure: an input writer fills buffer 0 (two banks: one fills while the next stage reads
// the other), log2 N stages of C/2 Cooley-Tukey butterflies each read buffer s and write
// buffer s + 1 (ntt_stage.sv: the first SHIFT_STAGES stages multiply by shifts), an output
// reader drains buffer log2 N through C multipliers: by 1 going forward; going inverse by
// N^-1 psi^-i for coefficient i (the scaling and the negacyclic untwisting in one product),
// from a ROM of N words in C banks (coefficient k C + l in bank l, row k: one row of every
// bank per cycle), TW_PREFIX_twist_c<C>_b<bank>.hex (C and bank in 4 hex digits).
//
// Memories: every buffer is C banks of one write and one read port and every ROM is banks of
// one read port, under a mapping in which no access pattern of the unit puts two lanes on one
// bank (ntt_pkg.sv). `conflicts` counts the cycles in which one did anyway (the simulation
// requires zero); synthesis ties it to zero and drops the checks.
//
// Cycles from a polynomial's first input word to its first output word (`LATENCY`):
//   N/C (filling buffer 0) + sum over stages of (N/C + 1 + butterfly latency) + 1 + MUL_LATENCY,
// the butterfly latency being SBF_LATENCY in the shift stages and BF_LATENCY in the others.
module ntt_unit #(
    parameter int N = 2048,
    parameter int C = 8,
    parameter TW_PREFIX = "twiddles"
) (
    input  logic            clk,
    input  logic            rst,
    input  logic            in_valid,
    input  logic            in_inverse,
    // Word l of the cycle: bits [64 l +: 64].
    input  logic [64*C-1:0] in_data,
    output logic            out_valid,
    output logic            out_inverse,
    output logic [64*C-1:0] out_data,
    output logic [31:0]     latency,
    output logic [31:0]     conflicts
);
  localparam int LOG_N = $clog2(N);
  localparam int WORDS = N / C;
  localparam int SHIFT_STAGES = (LOG_N < goldilocks_pkg::SHIFT_STAGES) ? LOG_N
      : goldilocks_pkg::SHIFT_STAGES;
  localparam int LATENCY = WORDS + LOG_N * (WORDS + 1) + SHIFT_STAGES * goldilocks_pkg::SBF_LATENCY
      + (LOG_N - SHIFT_STAGES) * goldilocks_pkg::BF_LATENCY + 1 + goldilocks_pkg::MUL_LATENCY;
  localparam int AW = LOG_N + 1;
  localparam int KW = (WORDS > 1) ? $clog2(WORDS) : 1;

  assign latency = 32'(LATENCY);

  // Buffer s's ports: bits [s C +: C], [s C AW +: C AW], [s 64 C +: 64 C] of these buses.
  logic [(LOG_N+1)*C-1:0]    we, re;
  logic [(LOG_N+1)*C*AW-1:0] waddr, raddr;
  logic [(LOG_N+1)*64*C-1:0] wdata, rdata;
  logic [LOG_N:0]            done, done_bank, done_inverse;
  // Bank conflicts of buffer s (bit s) and of stage s's twiddle ROM (bit LOG_N + 1 + s).
  logic [2*LOG_N:0]          conflict;

  for (genvar s = 0; s <= LOG_N; s++) begin : g_buf
    // Written by stage s - 1 (the input writer for s = 0), read by stage s (the output reader
    // for s = log2 N): the patterns the buffer's networks are built for.
    ntt_buffer #(.N(N), .C(C), .W_STAGE(s - 1), .R_STAGE(s == LOG_N ? -1 : s)) buffer (
        .clk(clk),
        .we(we[s*C+:C]),
        .waddr(waddr[s*C*AW+:C*AW]),
        .wdata(wdata[s*64*C+:64*C]),
        .re(re[s*C+:C]),
        .raddr(raddr[s*C*AW+:C*AW]),
        .rdata(rdata[s*64*C+:64*C]),
        .conflict(conflict[s])
    );
  end

  // Input writer: word l of cycle k to address k C + l of the current bank.
  logic          in_bank, in_mode;
  logic [KW-1:0] kin;
  always_ff @(posedge clk) begin
    if (rst) begin
      kin     <= '0;
      in_bank <= 1'b0;
      in_mode <= 1'b0;
    end else if (in_valid) begin
      if (kin == '0) in_mode <= in_inverse;
      if (kin == KW'(WORDS - 1)) begin
        kin     <= '0;
        in_bank <= ~in_bank;
      end else begin
        kin <= kin + 1'b1;
      end
    end
  end
  always_comb begin
    for (int l = 0; l < C; l++) begin
      we[l] = in_valid;
      waddr[l*AW+:AW] = {in_bank, LOG_N'(kin) * LOG_N'(C) + LOG_N'(l)};
    end
  end
  assign wdata[64*C-1:0] = in_data;
  assign done[0] = in_valid && (kin == KW'(WORDS - 1));
  assign done_bank[0] = in_bank;
  assign done_inverse[0] = (kin == '0) ? in_inverse : in_mode;

  for (genvar s = 0; s < LOG_N; s++) begin : g_stage
    ntt_stage #(.N(N), .C(C), .S(s), .TW_PREFIX(TW_PREFIX)) stage (
        .clk(clk),
        .rst(rst),
        .start(done[s]),
        .start_bank(done_bank[s]),
        .start_inverse(done_inverse[s]),
        .re(re[s*C+:C]),
        .raddr(raddr[s*C*AW+:C*AW]),
        .rdata(rdata[s*64*C+:64*C]),
        .we(we[(s+1)*C+:C]),
        .waddr(waddr[(s+1)*C*AW+:C*AW]),
        .wdata(wdata[(s+1)*64*C+:64*C]),
        .done(done[s+1]),
        .done_bank(done_bank[s+1]),
        .done_inverse(done_inverse[s+1]),
        .conflict(conflict[LOG_N+1+s])
    );
  end

  // Output reader: address k C + l, then the scaling multipliers.
  logic          out_busy, out_bank, out_mode;
  logic [KW-1:0] kout;
  always_ff @(posedge clk) begin
    if (rst) begin
      out_busy <= 1'b0;
      kout     <= '0;
      out_bank <= 1'b0;
      out_mode <= 1'b0;
    end else if (done[LOG_N]) begin
      out_busy <= 1'b1;
      kout     <= '0;
      out_bank <= done_bank[LOG_N];
      out_mode <= done_inverse[LOG_N];
    end else if (out_busy) begin
      if (kout == KW'(WORDS - 1)) out_busy <= 1'b0;
      else kout <= kout + 1'b1;
    end
  end
  always_comb begin
    for (int l = 0; l < C; l++) begin
      re[LOG_N*C+l] = out_busy;
      raddr[LOG_N*C*AW+l*AW+:AW] = {out_bank, LOG_N'(kout) * LOG_N'(C) + LOG_N'(l)};
    end
  end

  // N^-1 psi^-i for coefficient k C + l from bank l, row k, registered to meet the data read
  // from the buffer; 1 going forward.
  logic [64*C-1:0] twist, scale;
  for (genvar l = 0; l < C; l++) begin : g_twist
    localparam TWIST_FILE = {TW_PREFIX, "_twist_c", ntt_pkg::hex4(C), "_b", ntt_pkg::hex4(l),
        ".hex"};
    rom_bank #(.W(64), .DEPTH(WORDS), .FILE(TWIST_FILE)) rom (
        .clk(clk),
        .addr(kout),
        .rdata(twist[l*64+:64])
    );
    assign scale[l*64+:64] = m_d[0] ? twist[l*64+:64] : 64'd1;
  end
  logic            rvalid;
  // The direction, beside the read (m_d[0]) and then through the multipliers.
  logic [goldilocks_pkg::MUL_LATENCY:0] m_d;
  always_ff @(posedge clk) begin
    // The read data's valid bit (the data comes the cycle after its address).
    if (rst) rvalid <= 1'b0;
    else rvalid <= out_busy;
    m_d <= {m_d[goldilocks_pkg::MUL_LATENCY-1:0], out_mode};
  end
  logic [C-1:0] mul_valid;
  for (genvar l = 0; l < C; l++) begin : g_scale
    mod_mul mul (
        .clk(clk),
        .rst(rst),
        .in_valid(rvalid),
        .a(rdata[LOG_N*64*C+l*64+:64]),
        .b(scale[l*64+:64]),
        .out_valid(mul_valid[l]),
        .y(out_data[l*64+:64]),
        .latency()
    );
  end
  // The lanes' valid bits are equal: all multipliers deliver together.
  assign out_valid = &mul_valid;
  assign out_inverse = m_d[goldilocks_pkg::MUL_LATENCY];

`ifdef SYNTHESIS
  assign conflicts = '0;
  logic unused_conflict;
  assign unused_conflict = ^conflict;
`else
  // Cycles with a bank conflict anywhere, saturating; cleared by reset.
  always_ff @(posedge clk) begin
    if (rst) conflicts <= '0;
    else if (|conflict && conflicts != '1) conflicts <= conflicts + 1'b1;
  end
`endif
endmodule
