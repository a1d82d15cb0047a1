// A simple dual-port RAM: one write port and one registered read port, DEPTH words of W bits
// -- the memory that FPGA block RAM and ASIC SRAM macros offer. `rdata` is the word at `raddr`
// one cycle after `re`, and holds while `re` is low. The read-during-write value is left to the
// memory (the keyswitch unit forwards its previous write around it).
module sdp_ram #(
    parameter int W = 64,
    parameter int DEPTH = 256
) (
    input  logic                     clk,
    input  logic                     we,
    input  logic [$clog2(DEPTH)-1:0] waddr,
    input  logic [W-1:0]             wdata,
    input  logic                     re,
    input  logic [$clog2(DEPTH)-1:0] raddr,
    output logic [W-1:0]             rdata
);
  logic [W-1:0] mem[0:DEPTH-1];
  always_ff @(posedge clk) begin
    if (we) mem[waddr] <= wdata;
  end
  always_ff @(posedge clk) begin
    if (re) rdata <= mem[raddr];
  end
endmodule
