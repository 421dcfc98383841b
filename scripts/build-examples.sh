#!/usr/bin/env bash
# Builds the example jobs (and the test fixtures) for wasm32-wasip2, installing
# the target first if it is missing. Prints the directory holding the .wasm files.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2 >&2
fi
packages=(hello sharded-sum pager flaky sleepy hog hostile fetch notify not-a-job future-job)
args=()
for p in "${packages[@]}"; do args+=(-p "$p"); done
cargo build --quiet --release --target wasm32-wasip2 "${args[@]}" >&2
echo "${CARGO_TARGET_DIR:-$PWD/target}/wasm32-wasip2/release"
