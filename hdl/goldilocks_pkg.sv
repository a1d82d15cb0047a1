// Shared constants of the accelerator: the NTT prime p = 2^64 - 2^32 + 1 ("Goldilocks") and
// the pipeline depths every unit is built from. The software model of each unit is in
// glovebox_engine::commons::modp and glovebox_engine::ntt; the sim crate checks them word for
// word. The depths are stated here only: each unit exports its own on a `latency` port, and
// goldilocks_consts exports SHIFT_STAGES, for the software to read.
package goldilocks_pkg;
  localparam logic [63:0] P   = 64'hFFFF_FFFF_0000_0001;
  // 2^64 - p = 2^32 - 1: 2^64 = EPS and 2^96 = -1 (mod p).
  localparam logic [63:0] EPS = 64'h0000_0000_FFFF_FFFF;
  // mod_mul: operand registers, partial products, four cascaded DSP slices, the 128-bit sum in
  // two carry chains, two reduction stages (hdl/mod_mul.sv).
  localparam int MUL_LATENCY = 10;
  // butterfly: the input (add/sub) register, the multiplier, the output register.
  localparam int BF_LATENCY = MUL_LATENCY + 2;
  // mod_shift (a 2^e): exponent decode, shift, two sum stages, carry fold, canonical step and
  // sign (hdl/mod_shift.sv).
  localparam int SHIFT_LATENCY = 6;
  // butterfly_shift: mod_shift, the output register.
  localparam int SBF_LATENCY = SHIFT_LATENCY + 1;
  // The streaming NTT's stages before its first twist (hdl/ntt_unit.sv): the negacyclic stages
  // S use roots of order 2^(S+2), powers of two up to order 64; after a twist, SHIFT_STAGES + 1
  // cyclic stages (roots of order up to 64 again) before the next.
  localparam int SHIFT_STAGES = 5;
  // gadget_decompose: the rounding's stages before the first level (hdl/gadget_decompose.sv);
  // its latency is these plus one stage per level it can produce.
  localparam int DECOMPOSE_INIT_STAGES = 5;
  // mac_unit: the multiplier plus the adder register.
  localparam int MAC_LATENCY = MUL_LATENCY + 1;
endpackage
