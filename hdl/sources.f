// The RTL of hdl/, in compile order (the package first): the one list that hdl/lint.sh,
// hdl/synth.sh and the simulator's build (sim/build.rs) read. One path per line, relative to
// hdl/; lines starting with // are comments. Verilator reads it as is (`-F hdl/sources.f`).
goldilocks_pkg.sv
ntt_pkg.sv
goldilocks_consts.sv
mod_add.sv
mod_sub.sv
mod_mul.sv
mod_shift.sv
butterfly.sv
butterfly_shift.sv
butterfly_gs_shift.sv
sdp_ram.sv
rom_bank.sv
lane_rotator.sv
ntt_stage.sv
ntt_twist.sv
ntt_unit.sv
ntt_pair.sv
mac_unit.sv
ks_pkg.sv
gadget_decompose.sv
ks_unit.sv
mod_switch.sv
br_unit.sv
cmd_unit.sv
