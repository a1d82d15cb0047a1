#!/usr/bin/env bash
# FPGA mapping with open tools: Yosys `synth_xilinx -family xcup` (AMD UltraScale+: DSP48E2,
# CARRY, LUT6, FDRE, RAMB36E2/RAMB18E2, URAM288) of each unit, the hierarchy kept (every distinct
# module mapped once, its resources summed over its instances, as the generic hierarchical flow
# does), and per unit the deepest register-to-register path: the most LUT levels, and the most
# combinational cells (LUTs, carry cells, combinational DSP48E2) on any path (hdl/fpga_report.py;
# Yosys's own `ltp -noff` does not stop at the mapped FDRE and crosses registers).
#
# Usage: [BR_C=2] [BR_B=2] hdl/synth.sh --fpga [N] [C] [KS_P] [KS_BATCH] [KS_CHUNKS] [BR_N]: the
# configuration of the generic flow's small run by default (N = 256, C = 2; keyswitch P = 4;
# blind rotation BR_N = 64, BR_C = 2, batch BR_B = 2), which CI maps. No place and route: LUT
# levels, not a timing report.
set -euo pipefail
N="${1:-256}"
C="${2:-2}"
KS_P="${3:-4}"
KS_BATCH="${4:-4}"
KS_CHUNKS="${5:-8}"
BR_N="${6:-64}"
BR_C="${BR_C:-2}"
BR_B="${BR_B:-2}"
HDL="$(cd "$(dirname "$0")" && pwd)"
command -v yosys >/dev/null || { echo "yosys not found: apt-get install yosys" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
. "$HDL/sources.sh"

# map TITLE DIR TOP [hierarchy -chparam ...]: maps TOP in DIR (where its ROM files are) and
# prints its row.
map() {
    local title="$1" dir="$2" top="$3"
    shift 3
    local start=$SECONDS
    (
        cd "$dir"
        yosys -q -p "read_verilog -defer -sv $SOURCES; hierarchy -top $top $*; \
            synth_xilinx -family xcup -uram -noiopad; rename -top unit_top; write_json net.json" \
            >yosys.log 2>&1 || { cat yosys.log; exit 1; }
        python3 -B "$HDL/fpga_report.py" "$title" net.json unit_top | tr -d '\n'
        echo "   $((SECONDS - start)) s"
    )
}

python3 -B "$HDL/fpga_report.py" --self-test
mkdir -p ntt br
(cd ntt && python3 "$HDL/gen_twiddles.py" "$N" twiddles "$C")
(cd br && python3 "$HDL/gen_twiddles.py" "$BR_N" twiddles "$BR_C")
echo "Yosys synth_xilinx -family xcup -uram (UltraScale+), hierarchical; no place and route"
printf "%-34s %6s %9s %9s %7s %7s %6s %6s %5s %7s %6s\n" unit DSP LUT FF CARRY4 LUTRAM \
    RAMB36 RAMB18 URAM levels cells
map "mod_mul (64x64 mod p)" . mod_mul
map "butterfly (CT/GS)" . butterfly
map "butterfly_shift (CT by 2^e)" . butterfly_shift
map "butterfly_gs_shift (GS by 2^e)" . butterfly_gs_shift
map "ntt_unit fwd (N=$N, C=$C)" ntt ntt_unit -chparam N "$N" -chparam C "$C"
map "ntt_unit inv (N=$N, C=$C)" ntt ntt_unit -chparam N "$N" -chparam C "$C" -chparam INVERSE 1
for W in 64 21; do
    MB=$([ "$W" = 64 ] && echo 4 || echo 2)
    map "ks_unit (P=$KS_P, mod 2^$W)" . ks_unit -chparam P "$KS_P" -chparam W "$W" \
        -chparam MAX_BASE_LOG "$MB" -chparam MAX_BATCH "$KS_BATCH" -chparam MAX_CHUNKS "$KS_CHUNKS"
done
map "br_unit (N=$BR_N, C=$BR_C, B<=$BR_B)" br br_unit -chparam N "$BR_N" -chparam C "$BR_C" \
    -chparam MAX_BATCH "$BR_B" -chparam MAX_LEVELS 2
map "cmd_unit (16 + 16 entries)" . cmd_unit
echo "levels: the most LUT levels on a register-to-register path (MUXF7/8/9 half a level);"
echo "cells: the most LUTs, carry cells (4 bits each) and combinational DSP48E2 on one path"
