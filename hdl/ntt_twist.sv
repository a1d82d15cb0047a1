// The twist before stage S of the streaming NTT (hdl/ntt_unit.sv): every word multiplied by a
// constant of its position (forward rho^j, inverse rho^-j, with N^-1 at S = 5;
// hdl/gen_twiddles.py), C multipliers: the only multipliers of an NTT up to N = 2048. The
// constants of row k are line k of TW_PREFIX_<f|i>_t<S>_c<C>.hex (64 bits per lane, lane 0
// low), read from a registered ROM addressed by the row index one cycle ahead (`pre_k`).
// goldilocks_pkg::MUL_LATENCY cycles.
module ntt_twist #(
    parameter int N = 2048,
    parameter int C = 8,
    parameter int S = 5,
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
  localparam int LAT = goldilocks_pkg::MUL_LATENCY;
  localparam logic [7:0] S_DIGIT = (S < 10) ? 8'(48 + S) : 8'(87 + S);
  localparam TW_FILE = {TW_PREFIX, INVERSE ? "_i_t" : "_f_t", S_DIGIT, "_c", ntt_pkg::hex4(C),
      ".hex"};

  logic [64*C-1:0] f;
  rom_bank #(.W(64 * C), .DEPTH(W), .FILE(TW_FILE)) rom (
      .clk(clk),
      .addr(pre_k),
      .rdata(f)
  );

  logic [KW-1:0] k_d[LAT], pk_d[LAT];
  always_ff @(posedge clk) begin
    k_d[0]  <= in_k;
    pk_d[0] <= pre_k;
  end
  for (genvar i = 1; i < LAT; i++) begin : g_tag
    always_ff @(posedge clk) begin
      k_d[i]  <= k_d[i-1];
      pk_d[i] <= pk_d[i-1];
    end
  end
  assign out_k     = k_d[LAT-1];
  assign out_pre_k = pk_d[LAT-1];

  logic [C-1:0] valid;
  for (genvar l = 0; l < C; l++) begin : g_lane
    mod_mul mul (
        .clk(clk),
        .rst(rst),
        .in_valid(in_valid),
        .a(in_data[l*64+:64]),
        .b(f[l*64+:64]),
        .out_valid(valid[l]),
        .y(out_data[l*64+:64]),
        .latency()
    );
  end
  // The lanes' valid bits are equal.
  assign out_valid = &valid;
endmodule
