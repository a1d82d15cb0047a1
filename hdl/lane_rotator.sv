// Rotation of LANES words of W bits by a run-time amount: out[x] = in[(x + amount) mod LANES].
// A barrel network of log2 LANES stages, each a multiplexer per word that rotates by 2^k when
// bit k of the amount is set: LANES log2 LANES word multiplexers, where selecting each output
// from all inputs would take LANES^2. Combinational. LANES is a power of two, at least 2.
module lane_rotator #(
    parameter int LANES = 8,
    parameter int W = 64
) (
    input  logic [LANES*W-1:0]         in,
    input  logic [$clog2(LANES)-1:0]   amount,
    output logic [LANES*W-1:0]         out
);
  localparam int LOG = $clog2(LANES);
  always_comb begin
    logic [LANES*W-1:0] cur, nxt;
    cur = in;
    for (int k = 0; k < LOG; k++) begin
      for (int x = 0; x < LANES; x++) begin
        nxt[x*W+:W] = amount[k] ? cur[((x + (1 << k)) % LANES)*W+:W] : cur[x*W+:W];
      end
      cur = nxt;
    end
    out = cur;
  end
endmodule
