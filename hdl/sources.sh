# Sourced by the hdl/ scripts: SOURCES, the absolute paths of every source in hdl/sources.f
# (comment lines and blank lines skipped), for Yosys's read_verilog. HDL must name hdl/.
SOURCES=""
while read -r f; do
    case "$f" in "" | //*) continue ;; esac
    SOURCES="$SOURCES $HDL/$f"
done <"$HDL/sources.f"
