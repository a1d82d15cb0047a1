// One bank of on-chip memory: DEPTH words of WIDTH bits, one write port and one registered read
// port (what FPGA block RAM and ASIC SRAM macros offer). A read and a write of the same address
// in one cycle read the old word (read-first); ks_unit forwards around that.
module ks_bank #(
    parameter int WIDTH = 64,
    parameter int DEPTH = 1024,
    localparam int AW = $clog2(DEPTH)
) (
    input  logic             clk,
    input  logic             we,
    input  logic [AW-1:0]    waddr,
    input  logic [WIDTH-1:0] wdata,
    input  logic [AW-1:0]    raddr,
    output logic [WIDTH-1:0] rdata
);
  logic [WIDTH-1:0] mem[DEPTH];
  always_ff @(posedge clk) begin
    if (we) mem[waddr] <= wdata;
    rdata <= mem[raddr];
  end
endmodule
