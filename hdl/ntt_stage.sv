// Stage S of the streaming NTT (hdl/ntt_unit.sv): radix-2 butterflies at distance
// t = N / 2^(S+1) over a stream of rows (C words a cycle, row k of a polynomial holding
// positions k C .. k C + C - 1, a polynomial's W = N / C rows on consecutive cycles), with
// power-of-two twiddles only (butterfly_shift forward, butterfly_gs_shift inverse: no
// multiplier). Two forms:
// - t < C (the pairs are inside a row): C / 2 butterflies wired to lanes (l, l + t), l with bit
//   log2 t clear. SBF_LATENCY cycles.
// - t >= C (rows k and k + d, d = t / C, are paired): the stream is delayed by d rows, so that
//   row k meets row k + d; C butterflies (busy in the cycles of the rows with bit log2 d set)
//   produce both results at once; the top one leaves at once, the bottom one d cycles later,
//   through a second delay line, where its row's turn is; an output register. d + SBF_LATENCY
//   + 1 cycles. Only these stages hold data (2 d rows: delay lines without reset or enable,
//   shift-register LUTs or block RAM on an FPGA); nothing waits for a whole polynomial.
// The row index k travels beside the data (`in_k`), and so does the index one cycle ahead
// (`pre_k`, the next cycle's row), which addresses the registered exponent ROM in time:
// TW_PREFIX_<f|i>_s<S>_c<C>.hex (hdl/gen_twiddles.py), line k holding the row's exponents,
// 8 bits per butterfly (one for a crossing stage).
module ntt_stage #(
    parameter int N = 2048,
    parameter int C = 8,
    parameter int S = 0,
    parameter bit INVERSE = 1'b0,
    parameter TW_PREFIX = "twiddles"
) (
    input  logic                 clk,
    input  logic                 rst,
    input  logic                 in_valid,
    input  logic [$clog2(N/C)-1:0] in_k,
    input  logic [$clog2(N/C)-1:0] pre_k,
    input  logic [64*C-1:0]      in_data,
    output logic                 out_valid,
    output logic [$clog2(N/C)-1:0] out_k,
    output logic [$clog2(N/C)-1:0] out_pre_k,
    output logic [64*C-1:0]      out_data
);
  localparam int W = N / C;
  localparam int KW = $clog2(W);
  localparam int T = N >> (S + 1);
  localparam bit CROSS = T >= C;
  localparam int D = CROSS ? T / C : 1;
  localparam int DB = $clog2(D);
  localparam int BF = goldilocks_pkg::SBF_LATENCY;
  localparam int LAT = CROSS ? D + BF + 1 : BF;
  localparam int NB = CROSS ? 1 : C / 2;
  localparam logic [7:0] S_DIGIT = (S < 10) ? 8'(48 + S) : 8'(87 + S);
  localparam TW_FILE = {TW_PREFIX, INVERSE ? "_i_s" : "_f_s", S_DIGIT, "_c", ntt_pkg::hex4(C),
      ".hex"};

  logic [8*NB-1:0] e;
  rom_bank #(.W(8 * NB), .DEPTH(W), .FILE(TW_FILE)) rom (
      .clk(clk),
      .addr(pre_k),
      .rdata(e)
  );

  // The row index (and the one ahead) beside the data, LAT cycles.
  logic [LAT-1:0]  v_d;
  logic [KW-1:0]   k_d[LAT], pk_d[LAT];
  always_ff @(posedge clk) begin
    if (rst) v_d <= '0;
    else v_d <= {v_d[LAT-2:0], in_valid};
    k_d[0]  <= in_k;
    pk_d[0] <= pre_k;
  end
  for (genvar i = 1; i < LAT; i++) begin : g_tag
    always_ff @(posedge clk) begin
      k_d[i]  <= k_d[i-1];
      pk_d[i] <= pk_d[i-1];
    end
  end
  assign out_valid = v_d[LAT-1];
  assign out_k     = k_d[LAT-1];
  assign out_pre_k = pk_d[LAT-1];

  // The butterflies' own valid bits: the row index's valid bit travels beside them instead.
  logic [C-1:0] fly_valid;
  logic unused_fly_valid;
  assign unused_fly_valid = ^fly_valid;
  if (!CROSS) begin : g_row
    assign fly_valid[C-1:C/2] = '0;
    for (genvar b = 0; b < C / 2; b++) begin : g_fly
      localparam int LU = (b / T) * 2 * T + (b % T);
      if (INVERSE) begin : g_gs
        butterfly_gs_shift fly (
            .clk(clk), .rst(rst), .in_valid(in_valid),
            .u(in_data[LU*64+:64]), .v(in_data[(LU+T)*64+:64]), .e(e[8*b+:8]),
            .out_valid(fly_valid[b]), .x(out_data[LU*64+:64]), .y(out_data[(LU+T)*64+:64]), .latency()
        );
      end else begin : g_ct
        butterfly_shift fly (
            .clk(clk), .rst(rst), .in_valid(in_valid),
            .u(in_data[LU*64+:64]), .v(in_data[(LU+T)*64+:64]), .e(e[8*b+:8]),
            .out_valid(fly_valid[b]), .x(out_data[LU*64+:64]), .y(out_data[(LU+T)*64+:64]), .latency()
        );
      end
    end
  end else begin : g_cross
    // in_data delayed by D rows: row k - D beside row k.
    logic [D*64*C-1:0] xd;
    if (D > 1) begin : g_xd
      always_ff @(posedge clk) xd <= {xd[(D-1)*64*C-1:0], in_data};
    end else begin : g_xd1
      always_ff @(posedge clk) xd <= in_data;
    end
    logic [64*C-1:0] top, bot;
    for (genvar l = 0; l < C; l++) begin : g_fly
      if (INVERSE) begin : g_gs
        butterfly_gs_shift fly (
            .clk(clk), .rst(rst), .in_valid(in_valid),
            .u(xd[(D-1)*64*C+l*64+:64]), .v(in_data[l*64+:64]), .e(e),
            .out_valid(fly_valid[l]), .x(top[l*64+:64]), .y(bot[l*64+:64]), .latency()
        );
      end else begin : g_ct
        butterfly_shift fly (
            .clk(clk), .rst(rst), .in_valid(in_valid),
            .u(xd[(D-1)*64*C+l*64+:64]), .v(in_data[l*64+:64]), .e(e),
            .out_valid(fly_valid[l]), .x(top[l*64+:64]), .y(bot[l*64+:64]), .latency()
        );
      end
    end
    // The bottom results wait D rows for their turn.
    logic [D*64*C-1:0] bd;
    if (D > 1) begin : g_bd
      always_ff @(posedge clk) bd <= {bd[(D-1)*64*C-1:0], bot};
    end else begin : g_bd1
      always_ff @(posedge clk) bd <= bot;
    end
    // The row leaving (the index D + BF cycles after it came): a top row (bit log2 D clear)
    // takes the butterflies' first result, a bottom row the delayed second one.
    always_ff @(posedge clk) out_data <= k_d[LAT-2][DB] ? bd[(D-1)*64*C+:64*C] : top;
  end
endmodule
