#!/usr/bin/env bash
# Builds the C ABI (release), compiles the C tests of capi/tests/c against the generated header
# with the system's `cc`, links them to libglovebox_capi.so and runs them. Called by
# scripts/test.sh (which has built every target: `--no-build` reuses that build, as a build of
# the crate alone would unify other features and rebuild the workspace); run it alone from the
# repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" != "--no-build" ]; then
  cargo build --release -p glovebox-capi
fi
test -f target/release/libglovebox_capi.so || { echo "target/release/libglovebox_capi.so is missing: build it first" >&2; exit 1; }
out=target/c-tests
mkdir -p "$out"
for test in capi/tests/c/*.c; do
  name=$(basename "$test" .c)
  cc -std=c11 -O2 -Wall -Wextra -Werror -pthread -I capi/include -I capi/tests/c \
    "$test" -o "$out/$name" -L target/release -lglovebox_capi
  echo "== C test $name"
  LD_LIBRARY_PATH=target/release${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$out/$name"
done
