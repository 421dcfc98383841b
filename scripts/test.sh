#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the wasm32-wasip2 target if
# missing, builds the example jobs once, then runs the host's unit and
# end-to-end tests (real binary, real .wasm) and the guest SDK's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

CARILLON_EXAMPLES_DIR="$(./scripts/build-examples.sh)"
export CARILLON_EXAMPLES_DIR

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --profile "${NEXTEST_PROFILE:-default}" -p carillon
else
    cargo test -p carillon
fi
cargo test -p carillon-guest
