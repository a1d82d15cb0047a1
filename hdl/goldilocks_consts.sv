// The goldilocks_pkg constants that the software needs and no unit's own ports carry, as ports:
// the simulator (glovebox-sim) reads them from this module's model instead of restating them.
// The units export their own latencies (each unit's `latency` port).
module goldilocks_consts
(
    // The streaming NTT's stages before its first twist multiply (hdl/ntt_unit.sv).
    output logic [31:0] shift_stages
);
  assign shift_stages = 32'(goldilocks_pkg::SHIFT_STAGES);
endmodule
