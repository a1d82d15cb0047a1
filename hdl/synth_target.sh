#!/usr/bin/env bash
# The target configuration's area (run by `hdl/synth.sh --target`; see there): Yosys 0.23
# generic synthesis, hierarchical, of the blind-rotation unit (N = 2048, C = 128, B <= 24, two
# levels), the keyswitch unit (1024 lanes, 2^21, B <= 24, one chunk) and the command interface.
# Prints cells, flip-flops, memory bits (from the structure, as hdl/synth.sh) and the 64-bit
# modular multipliers of each, and their sum: the processor.
set -euo pipefail
HDL="$(cd "$(dirname "$0")" && pwd)"
command -v yosys >/dev/null || { echo "yosys not found: apt-get install yosys" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
# The target configuration; the environment may shrink it to check this script quickly
# (N=64 C=2 B=2 KS_P=4 KS_B=2 hdl/synth.sh --target).
N="${N:-2048}" C="${C:-128}" B="${B:-24}" LEVELS=2 KS_P="${KS_P:-1024}" KS_B="${KS_B:-24}"
python3 "$HDL/gen_twiddles.py" "$N" twiddles "$C"
. "$HDL/sources.sh"
FLOW="proc; opt; memory -nomap; opt -fast; techmap; opt -fast; abc -fast; opt_clean"
# `stat -top` prints the design hierarchy's totals last: cells, and per cell type.
summary() {
    awk '/=== design hierarchy ===/ { h = 1 }
         h && /Number of cells:/ { cells = $4 }
         h && /\$_DFF|\$_SDFF|\$_DFFE|\$_SDFFE|\$_DFFSR|\$_ALDFF/ { ff += $2 }
         h && /\$mem_v2/ { mems += $2 }
         END { printf "%d %d %d\n", cells - mems, ff, mems }' "$1"
}
# Synthesizes `top` with `params` and leaves "cells flip-flops memories seconds" in $top.sum;
# on failure prints the end of Yosys's log and stops. (`hierarchy -chparam` gives the top a
# derived name; `rename -top` gives it back its own, which `stat -top` needs.)
run() {
    local top="$1" params="$2"
    local t0
    t0=$(date +%s)
    if ! yosys -q -p "read_verilog -defer -sv $SOURCES; hierarchy -top $top $params; \
        rename -top $top; $FLOW; tee -q -o $top.stat stat -top $top" >"$top.log" 2>&1; then
        echo "yosys failed on $top:" >&2
        tail -30 "$top.log" >&2
        exit 1
    fi
    echo "$(summary "$top.stat") $(($(date +%s) - t0))" >"$top.sum"
}
BR_BITS=$(python3 -B -c "
import sys; sys.path.insert(0, '$HDL'); import gen_twiddles as g
n = $N; c = $C; k1 = 2; levels = $LEVELS; batch = $B; w = n // c
own = 3 * c * batch * k1 * w * 64 + k1 * c * 4 * levels * k1 * w * 64 + 4 * k1 * c * w * 64
print(2 * g.rom_bits(n, c) + own)")
BR_MULS=$(python3 -B -c "
import sys; sys.path.insert(0, '$HDL'); import gen_twiddles as g
print(2 * g.multipliers($N, $C) + 2 * $C)")
KS_BITS=$(( (KS_P * 1 + 1) * KS_B * 21 + 2 * KS_B * 8 * 3 ))
CMD_BITS=$(( 2 * 16 * 128 ))
echo "Yosys generic synthesis, hierarchical: the target configuration"
run br_unit "-chparam N $N -chparam C $C -chparam MAX_BATCH $B -chparam MAX_LEVELS $LEVELS"
read -r bc bf bm bt <br_unit.sum
printf "%-44s %11d cells %9d flip-flops %5d memories (%d bits), %d 64-bit modular multipliers (%d s)\n" \
    "br_unit (N=$N, C=$C, B<=$B, levels<=$LEVELS)" "$bc" "$bf" "$bm" "$BR_BITS" "$BR_MULS" "$bt"
run ks_unit "-chparam P $KS_P -chparam W 21 -chparam MAX_BASE_LOG 2 -chparam MAX_BATCH $KS_B -chparam MAX_CHUNKS 1"
read -r kc kf km kt <ks_unit.sum
printf "%-44s %11d cells %9d flip-flops %5d memories (%d bits), no multiplier (%d s)\n" \
    "ks_unit (P=$KS_P, mod 2^21, B<=$KS_B)" "$kc" "$kf" "$km" "$KS_BITS" "$kt"
run cmd_unit "-chparam MAX_BATCH $B -chparam SLOTS 16"
read -r cc cf cm ct <cmd_unit.sum
printf "%-44s %11d cells %9d flip-flops %5d memories (%d bits) (%d s)\n" \
    "cmd_unit (16 + 16 entries, 16 slots)" "$cc" "$cf" "$cm" "$CMD_BITS" "$ct"
printf "%-44s %11d cells %9d flip-flops %5d memories (%d bits = %.1f Mbit), %d 64-bit modular multipliers\n" \
    "processor" $((bc + kc + cc)) $((bf + kf + cf)) $((bm + km + cm)) $((BR_BITS + KS_BITS + CMD_BITS)) \
    "$(python3 -c "print(($BR_BITS + $KS_BITS + $CMD_BITS) / 1e6)")" "$BR_MULS"
