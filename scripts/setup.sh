#!/usr/bin/env bash
# Installs the system packages Glovebox builds with, from Debian's archive, when they are
# missing (apt-get, as root).
#
#   bash scripts/setup.sh          what the `glovebox` command needs (the main job): a C
#                                  compiler for the bundled SQLite and the cxx glue
#   bash scripts/setup.sh --test   also what the tests need: Verilator (the simulated
#                                  accelerator, feature `sim`, compiles the RTL of hdl/ with it),
#                                  Yosys (hdl/synth.sh), python3 (the twiddle ROM generator) and
#                                  Mesa's Vulkan driver (the GPU backend runs on a real GPU when
#                                  there is one, else on the llvmpipe software device; its tests
#                                  never skip) and PostgreSQL's server (the scaled-out store's
#                                  tests run on a throwaway cluster, scripts/postgres.sh) and
#                                  Chromium with its WebDriver (the clinic dashboard's browser
#                                  test drives the page in headless Chromium)
set -euo pipefail
missing=()
command -v cc >/dev/null || missing+=(gcc g++)
if [ "${1:-}" = "--test" ]; then
    ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || missing+=(mesa-vulkan-drivers libvulkan1)
    command -v verilator >/dev/null || missing+=(verilator)
    command -v yosys >/dev/null || missing+=(yosys)
    command -v python3 >/dev/null || missing+=(python3)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
elif [ -n "${1:-}" ]; then
    echo "usage: bash scripts/setup.sh [--test]" >&2
    exit 2
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "missing system packages: run as root, or sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi
