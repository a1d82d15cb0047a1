#!/usr/bin/env bash
# Installs the system packages Glovebox builds and tests with, from Debian's archive, when they
# are missing (apt-get, as root): Verilator (the sim crate compiles the RTL in hdl/ with it, so
# every build of the `glovebox` command needs it), Yosys (hdl/synth.sh), python3 (the twiddle
# ROM generator) and Mesa's Vulkan driver (the GPU backend runs on a real GPU when there is one,
# else on the llvmpipe software device; its tests never skip).
set -euo pipefail
missing=()
ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || missing+=(mesa-vulkan-drivers libvulkan1)
command -v verilator >/dev/null || missing+=(verilator)
command -v yosys >/dev/null || missing+=(yosys)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "missing system packages: run as root, or sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi
