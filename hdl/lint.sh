#!/usr/bin/env bash
# `verilator --lint-only -Wall` on every top module of hdl/ (NTT unit at two sizes); waivers,
# each with its reason, are in hdl/waivers.vlt. Fails on any warning.
set -euo pipefail
HDL="$(cd "$(dirname "$0")" && pwd)"
cd "$HDL"
SOURCES=(goldilocks_pkg.sv mod_add.sv mod_sub.sv mod_mul.sv mod_shift.sv butterfly.sv butterfly_shift.sv ntt_buffer.sv ntt_stage.sv ntt_unit.sv mac_unit.sv)
lint() {
    verilator --lint-only -Wall waivers.vlt "${SOURCES[@]}" "$@"
}
for top in mod_add mod_sub mod_mul mod_shift butterfly butterfly_shift mac_unit; do
    lint --top-module "$top"
done
lint --top-module ntt_unit -GN=256 -GC=2
lint --top-module ntt_unit -GN=2048 -GC=32
echo "hdl: verilator --lint-only -Wall clean"
