#!/usr/bin/env bash
# Area: Yosys 0.23 generic synthesis (no vendor library) of the modular multiplier, of the
# streaming NTT units (a forward and an inverse, ntt_pair), of the keyswitch unit (native torus,
# and output modulus 2^21 whose digit product is a shift), of the blind-rotation unit and of the
# command interface: the whole processor, unit by unit, with cell counts. Memories (the ROMs, the
# blind-rotation and keyswitch banks) are kept as memory cells and reported in bits; everything
# else is mapped to generic gates and flip-flops (the NTT units' delay lines among them), so the
# 32x32 partial products show up as gates (an FPGA maps them to DSPs).
#
# Usage: hdl/synth.sh [N] [C] [KS_P] [KS_BATCH] [KS_CHUNKS] [BR_N]   (default N = 256, C = 2: a full
# N = 2048 unit synthesizes the same structure, 11 stages instead of 8, and takes Yosys
# correspondingly longer; the keyswitch unit with KS_P = 4 lanes, batches of up to KS_BATCH = 4
# and KS_P x KS_CHUNKS = 32 output words: the simulated units have 16 lanes, 16 and 64, the
# same structure with wider and deeper accumulator banks; the blind-rotation unit at
# BR_N = 64, C = 2, and the command interface)
#
# hdl/synth.sh --fpga [N] [C] ...: the units mapped to AMD UltraScale+ (DSP48E2, LUTs, flip-flops,
# block RAM, UltraRAM) with their deepest paths in LUT levels (hdl/synth_fpga.sh).
#
# hdl/synth.sh --target: the target configuration (sim's `target-config`), too large to
# flatten: a blind-rotation unit N = 2048, C = 128 (the HPU's class), 24 accumulators, two
# levels; a keyswitch unit of 1024 lanes at 2^21 with batches of 24; the command interface.
# Synthesized hierarchically (every distinct module once, then `stat -top` sums instances), so
# a cell count is per instance as in the flattened runs. The former C = 256 target took Yosys
# 0.23 about 80 minutes and 14.3 GB on the 2-core CI-class machine (104.2 M cells, 3.71 M
# flip-flops, 29.6 Mbit, 2,560 modular multipliers); the same flow at a small configuration
# (N=64 C=2 B=2 KS_P=4 KS_B=2) runs in CI.
set -euo pipefail
if [ "${1:-}" = "--target" ]; then
    exec bash "$(cd "$(dirname "$0")" && pwd)/synth_target.sh"
fi
if [ "${1:-}" = "--fpga" ]; then
    shift
    exec bash "$(cd "$(dirname "$0")" && pwd)/synth_fpga.sh" "$@"
fi
N="${1:-256}"
C="${2:-2}"
KS_P="${3:-4}"
KS_BATCH="${4:-4}"
KS_CHUNKS="${5:-8}"
HDL="$(cd "$(dirname "$0")" && pwd)"
if ! command -v yosys >/dev/null; then
    echo "yosys not found: apt-get install yosys (Yosys 0.23 or later)" >&2
    exit 1
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
# The NTT units read their ROMs from twiddles_<f|i>_s<stage>_c<C>.hex and
# twiddles_<f|i>_t<stage>_c<C>.hex (their default TW_PREFIX; hdl/gen_twiddles.py).
python3 "$HDL/gen_twiddles.py" "$N" twiddles "$C"
# Every source of hdl/sources.f (comment lines and blank lines skipped); with -defer only the
# hierarchy under each top is elaborated.
. "$HDL/sources.sh"
FLOW="proc; flatten; opt; memory -nomap; opt -fast; techmap; opt -fast; abc -fast; opt_clean; tee -q -o stat.txt stat"

# Memory bits come from the structure (Yosys's flattened statistics do not sum them): banks of
# one write and one read port, and one-port ROMs (the NTT units' per-stage exponent ROMs and
# twist ROMs, hdl/gen_twiddles.py's rom_bits).
report() {
    local title="$1" bits="$2"
    awk -v title="$title" -v bits="$bits" '
        /Number of cells:/ { cells = $4 }
        /\$_DFF|\$_SDFF|\$_DFFE|\$_SDFFE/ { ff += $2 }
        /\$mem_v2/ { mems += $2 }
        END {
            printf "%-34s %9d cells %7d flip-flops %3d memories (%d bits)\n",
                title, cells - mems, ff, mems, bits
        }' stat.txt
}

echo "Yosys generic synthesis (gates and flip-flops; memories kept as memory cells)"
yosys -q -p "read_verilog -defer -sv $SOURCES; hierarchy -top mod_mul; $FLOW" >yosys.log 2>&1 || { cat yosys.log; exit 1; }
report "mod_mul (64x64 mod p)" 0
yosys -q -p "read_verilog -defer -sv $SOURCES; hierarchy -top mod_shift; $FLOW" >yosys.log 2>&1 || { cat yosys.log; exit 1; }
report "mod_shift (a 2^e mod p)" 0
yosys -q -p "read_verilog -defer -sv $SOURCES; hierarchy -top butterfly; $FLOW" >yosys.log 2>&1 || { cat yosys.log; exit 1; }
report "butterfly (CT/GS)" 0
yosys -q -p "read_verilog -defer -sv $SOURCES; hierarchy -top butterfly_shift; $FLOW" >yosys.log 2>&1 || { cat yosys.log; exit 1; }
report "butterfly_shift (CT by 2^e)" 0
yosys -q -p "read_verilog -defer -sv $SOURCES; hierarchy -top ntt_pair -chparam N $N -chparam C $C; $FLOW; tee -q -o mems.txt dump t:\$mem_v2" >yosys.log 2>&1 || { cat yosys.log; exit 1; }
# Memory bits of both units' ROMs, from the structure (hdl/gen_twiddles.py: rom_bits); their
# delay lines are flip-flops here (delay_bits).
BITS=$(python3 -B -c "
import sys; sys.path.insert(0, '$HDL'); import gen_twiddles as g
print(2 * g.rom_bits($N, $C))")
DELAY=$(python3 -B -c "
import sys; sys.path.insert(0, '$HDL'); import gen_twiddles as g
print(2 * g.delay_bits($N, $C))")
# The memories Yosys kept, summed from their cells: at most the structure's count (Yosys drops
# ROM bits that are zero in every entry, such as the high bits of small exponents), never more.
KEPT=$(awk '/parameter.* .WIDTH / { w = $NF } /parameter.* .SIZE / { s = $NF } /^ *end$/ && w { bits += w * s; w = 0 }
            END { print bits + 0 }' mems.txt)
if [ "$KEPT" -gt "$BITS" ]; then
    echo "ntt_pair: Yosys kept $KEPT memory bits, more than the structure's $BITS" >&2
    exit 1
fi
report "ntt_pair (fwd + inv, N=$N, C=$C)" "$BITS"
echo "  (ROMs; of which Yosys keeps $KEPT: constant ROM bits dropped; $DELAY bits of delay lines in the flip-flops)"

# The keyswitch unit: KS_P accumulator banks of KS_CHUNKS x KS_BATCH words and the body bank of
# KS_BATCH words, W bits each; the digit register file (2 slots x KS_BATCH ciphertexts x 8
# levels x (base log + 1) bits, read combinationally: LUT RAM or flip-flops).
for W in 64 21; do
    MB=$([ "$W" = 64 ] && echo 4 || echo 2)
    yosys -q -p "read_verilog -defer -sv $SOURCES; hierarchy -top ks_unit -chparam P $KS_P \
        -chparam W $W -chparam MAX_BASE_LOG $MB -chparam MAX_BATCH $KS_BATCH \
        -chparam MAX_CHUNKS $KS_CHUNKS; $FLOW" >yosys.log 2>&1 || { cat yosys.log; exit 1; }
    report "ks_unit (P=$KS_P, mod 2^$W, base<=2^$MB)" \
        $(((KS_P * KS_CHUNKS + 1) * KS_BATCH * W + 2 * KS_BATCH * 8 * (MB + 1)))
done

# The blind-rotation unit at BR_N = 64, C = 2, k = 1, up to 2 levels and 2 accumulators (the
# simulated units have N = 2048, C = 32 and 16; the same structure, wider and deeper): two NTT
# units, K1 C = 4 multiply-accumulate lanes, the three accumulator copies, the four-GGSW buffer
# and the four NTT-domain accumulator slots. Its ROMs are generated for BR_N in a folder of
# their own (the NTT units read `twiddles_*` from the working directory).
BR_N="${6:-64}"
mkdir -p br && (
    cd br
    python3 "$HDL/gen_twiddles.py" "$BR_N" twiddles 2
    yosys -q -p "read_verilog -defer -sv $SOURCES; hierarchy -top br_unit -chparam N $BR_N \
        -chparam C 2 -chparam MAX_BATCH 2 -chparam MAX_LEVELS 2; $FLOW" >yosys.log 2>&1 ||
        { cat yosys.log; exit 1; }
    BITS=$(python3 -B -c "
import sys; sys.path.insert(0, '$HDL'); import gen_twiddles as g
n = $BR_N; c = 2; k1 = 2; levels = 2; batch = 2; w = n // c
own = 3 * c * batch * k1 * w * 64 + k1 * c * 4 * levels * k1 * w * 64 + 4 * k1 * c * w * 64
print(2 * g.rom_bits(n, c) + own)")
    # 64-bit modular multipliers: C per twist in each NTT unit, K1 C in the multiply-accumulate.
    MULS=$(python3 -B -c "
import sys; sys.path.insert(0, '$HDL'); import gen_twiddles as g
print(2 * g.multipliers($BR_N, 2) + 2 * 2)")
    report "br_unit (N=$BR_N, C=2, B<=2)" "$BITS"
    echo "  ($MULS 64-bit modular multipliers)"
)
# The command interface: the descriptor and completion rings (16 x 128 bits each).
yosys -q -p "read_verilog -defer -sv $SOURCES; hierarchy -top cmd_unit; $FLOW" >yosys.log 2>&1 ||
    { cat yosys.log; exit 1; }
report "cmd_unit (16 + 16 entries, 16 slots)" $((2 * 16 * 128))
