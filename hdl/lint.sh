#!/usr/bin/env bash
# `verilator --lint-only -Wall` on every top module of hdl/ (NTT units at three sizes, keyswitch unit
# in its native-torus and 2^21 configurations, blind-rotation unit at two sizes), sources from
# hdl/sources.f; waivers, each with its reason, are in hdl/waivers.vlt. Fails on any warning.
set -euo pipefail
HDL="$(cd "$(dirname "$0")" && pwd)"
cd "$HDL"
lint() {
    verilator --lint-only -Wall waivers.vlt -F sources.f "$@"
}
for top in goldilocks_consts mod_add mod_sub mod_mul mod_shift butterfly butterfly_shift butterfly_gs_shift mac_unit \
    gadget_decompose cmd_unit; do
    lint --top-module "$top"
done
lint --top-module ntt_pair -GN=256 -GC=2
lint --top-module ntt_pair -GN=2048 -GC=32
lint --top-module ntt_pair -GN=4096 -GC=16
lint --top-module ks_unit -GP=16 -GW=64 -GMAX_BASE_LOG=4
lint --top-module ks_unit -GP=16 -GW=21 -GMAX_BASE_LOG=2
lint --top-module ks_unit -GP=4 -GW=64 -GMAX_BASE_LOG=4 -GMAX_BATCH=2 -GMAX_CHUNKS=2
lint --top-module br_unit -GN=512 -GC=4
lint --top-module br_unit -GN=2048 -GC=32 -GMAX_BATCH=16
echo "hdl: verilator --lint-only -Wall clean"
