#!/usr/bin/env bash
# The test command (README): installs what the tests need, builds every target (benchmarks
# included), then runs the whole workspace's tests in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
    echo "cargo not found: install Rust from https://rustup.rs" >&2
    exit 1
fi
# (No system packages are needed yet; the GPU and RTL crates will add theirs here.)
cargo build --release --workspace --all-targets
cargo test --release --workspace
