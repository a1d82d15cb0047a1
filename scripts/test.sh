#!/usr/bin/env bash
# The test command (README): installs what the tests need, builds every target (benchmarks
# included), then runs the whole workspace's tests in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
    echo "cargo not found: install Rust from https://rustup.rs" >&2
    exit 1
fi
# The GPU backend's tests run on a real GPU when there is one, else on Mesa's software Vulkan
# device (llvmpipe); they never skip.
if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
    else
        echo "Mesa's Vulkan drivers are missing: run as root, or sudo apt-get install mesa-vulkan-drivers libvulkan1" >&2
        exit 1
    fi
fi
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
# Mesa warns on every device open without it.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/glovebox-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
cargo build --release --workspace --all-targets
cargo test --release --workspace
