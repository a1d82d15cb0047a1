// A double-buffered polynomial memory between two NTT stages: 2 banks x N words (the bank is
// the address MSB), C write ports and C registered read ports, so a writer fills one bank while
// the reader drains the other.
module ntt_buffer #(
    parameter int N = 2048,
    parameter int C = 8,
    localparam int AW = $clog2(N) + 1
) (
    input  logic                 clk,
    input  logic [C-1:0]         we,
    input  logic [C-1:0][AW-1:0] waddr,
    input  logic [C-1:0][63:0]   wdata,
    input  logic [C-1:0][AW-1:0] raddr,
    output logic [C-1:0][63:0]   rdata
);
  logic [63:0] mem[2*N];
  always_ff @(posedge clk) begin
    for (int l = 0; l < C; l++) begin
      if (we[l]) mem[waddr[l]] <= wdata[l];
    end
    for (int l = 0; l < C; l++) begin
      rdata[l] <= mem[raddr[l]];
    end
  end
endmodule
