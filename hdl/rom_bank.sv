// A ROM bank: DEPTH words of W bits from FILE ($readmemh), one registered read port (`rdata` is
// the word at `addr` one cycle later) -- a block RAM or ROM macro with a single address.
module rom_bank #(
    parameter int W = 64,
    parameter int DEPTH = 256,
    parameter FILE = "rom.hex"
) (
    input  logic                                     clk,
    input  logic [(DEPTH > 1 ? $clog2(DEPTH) : 1)-1:0] addr,
    output logic [W-1:0]                             rdata
);
  logic [W-1:0] mem[0:DEPTH-1];
  initial $readmemh(FILE, mem);
  if (DEPTH > 1) begin : g_rows
    always_ff @(posedge clk) rdata <= mem[addr];
  end else begin : g_word
    // One word: the address selects nothing.
    logic unused_addr;
    assign unused_addr = ^addr;
    always_ff @(posedge clk) rdata <= mem[0];
  end
endmodule
