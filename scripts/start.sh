#!/usr/bin/env bash
# Builds the host and the example jobs (installing the wasm32-wasip2 target if
# missing) and runs each example job once with `carillon run`.
set -euo pipefail
cd "$(dirname "$0")/.."

examples="$(./scripts/build-examples.sh)"
cargo build --quiet -p carillon
carillon=target/debug/carillon

run() {
    echo "\$ carillon run $*"
    "$carillon" run "$@" || echo "(exit code $?)"
    echo
}
run "$examples/hello.wasm" --shard 1/4 --param name=Ada
run "$examples/sharded_sum.wasm" --shard 2/3 --param to=1000
run "$examples/pager.wasm" --page 2:50 --checkpoint 120
run "$examples/flaky.wasm" --attempt 3
run "$examples/sleepy.wasm" --timeout 1s
run "$examples/hog.wasm" --memory 32MiB
