#!/usr/bin/env bash
# The test command (README): installs what the tests need, builds every target (benchmarks
# included), then runs the whole workspace's tests in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
    echo "cargo not found: install Rust from https://rustup.rs" >&2
    exit 1
fi
# System packages the tests need, from Debian's archive: Mesa's Vulkan driver (the GPU
# backend's tests run on a real GPU when there is one, else on the llvmpipe software device;
# they never skip), Verilator (the sim crate compiles the RTL in hdl/ with it) and Yosys
# (hdl/synth.sh).
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
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
# Mesa warns on every device open without it.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/glovebox-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
cargo build --release --workspace --all-targets
cargo test --release --workspace
# The RTL: lint clean under Verilator -Wall (waivers, with reasons, in hdl/waivers.vlt), and
# synthesizable by Yosys (cell counts of the multiplier, the butterfly and a small NTT unit).
bash hdl/lint.sh
bash hdl/synth.sh 256 2
