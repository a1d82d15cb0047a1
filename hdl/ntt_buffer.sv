// A double-buffered polynomial memory between two NTT stages: 2 banks x N words (the bank is
// the address MSB), C write ports and C registered read ports, so a writer fills one bank while
// the reader drains the other. Port l of a bus is bits [l W +: W] (W = 64 for data, AW for
// addresses).
module ntt_buffer #(
    parameter int N = 2048,
    parameter int C = 8
) (
    input  logic                             clk,
    input  logic [C-1:0]                     we,
    input  logic [C*($clog2(N)+1)-1:0]       waddr,
    input  logic [64*C-1:0]                  wdata,
    input  logic [C*($clog2(N)+1)-1:0]       raddr,
    output logic [64*C-1:0]                  rdata
);
  localparam int AW = $clog2(N) + 1;
  logic [63:0] mem[0:2*N-1];
  always_ff @(posedge clk) begin
    for (int l = 0; l < C; l++) begin
      if (we[l]) mem[waddr[l*AW+:AW]] <= wdata[l*64+:64];
    end
    for (int l = 0; l < C; l++) begin
      rdata[l*64+:64] <= mem[raddr[l*AW+:AW]];
    end
  end
endmodule
