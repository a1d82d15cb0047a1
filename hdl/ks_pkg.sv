// Shared constants of the keyswitch unit (ks_unit.sv). The software model of the unit is
// glovebox_engine::algorithms::keyswitch_lwe_ciphertext; the sim crate checks it word for word
// and reads the unit's latency from its `latency` port, so the depth is stated here only.
package ks_pkg;
  // Cycles from an operation's issue (one key chunk times one ciphertext's digit) to its result
  // on the output ports: the operand stage's register (digit, key chunk), the accumulate
  // stage's register (products, accumulator read), the output register.
  localparam int KS_LATENCY = 3;
endpackage
