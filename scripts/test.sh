#!/usr/bin/env bash
# The test command (README): installs what the tests need, builds every target (benchmarks
# included) with the simulated accelerator (feature `sim`), then runs the whole workspace's
# tests in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
    echo "cargo not found: install Rust from https://rustup.rs" >&2
    exit 1
fi
bash scripts/setup.sh --test
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
# Mesa warns on every device open without it.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/glovebox-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
cargo build --release --workspace --all-targets --features glovebox/sim
# A throwaway PostgreSQL cluster for the scaled-out store's tests (stopped and deleted on exit);
# the tests create a database each in it.
pg_dir="$(mktemp -d)"
trap 'bash scripts/postgres.sh stop "$pg_dir"' EXIT
GLOVEBOX_TEST_POSTGRES="$(bash scripts/postgres.sh start "$pg_dir")"
export GLOVEBOX_TEST_POSTGRES GLOVEBOX_TEST_POSTGRES_DIR="$pg_dir"
cargo test --release --workspace --features glovebox/sim
# The C ABI: the C tests compiled by cc against the generated header (capi/include), linked to
# libglovebox_capi.so and run.
# Both reuse the build above (a `cargo build -p`/`cargo run` of one crate would unify other
# features and rebuild the workspace: 10 minutes of CI).
bash capi/tests/run_c_tests.sh --no-build
# A TFHE-rs integer program (FheUint8 vitals thresholds) whose bootstraps run on Glovebox,
# checked against the clear rules and TFHE-rs's own comparisons.
target/release/examples/tfhe_rs_vitals
# The RTL: lint clean under Verilator -Wall (waivers, with reasons, in hdl/waivers.vlt), and
# synthesizable by Yosys (cell counts of the multiplier, the butterfly and a small NTT unit,
# unit by unit; then the whole processor, blind rotation, keyswitch and command interface, in
# the target's hierarchical flow at a small configuration: the target itself is
# `hdl/synth.sh --target`, which needs more than the 24 GiB of this project's machines).
bash hdl/lint.sh
bash hdl/synth.sh 256 2
N=64 C=2 B=2 KS_P=4 KS_B=2 bash hdl/synth.sh --target
# The units mapped to AMD UltraScale+ by Yosys (DSP48E2, LUTs, flip-flops, block RAM, UltraRAM)
# with their deepest register-to-register paths, at the same small configuration.
bash hdl/synth.sh --fpga
