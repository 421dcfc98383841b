#!/usr/bin/env bash
# Carillon's main job: builds the host and the example jobs (installing the
# wasm32-wasip2 target if missing), puts them with their task manifests in
# ./plugins, and serves them on the embedded SQLite database ./carillon.db.
# The first tasks fire within seconds; stop with Ctrl-C. In another terminal:
#   target/debug/carillon runs          # the runs, newest first
#   target/debug/carillon logs RUN_ID   # one run's log
set -euo pipefail
cd "$(dirname "$0")/.."

examples="$(./scripts/build-examples.sh)"
cargo build --quiet -p carillon
mkdir -p plugins
for job in hello sharded_sum pager flaky sleepy hog python_hello js_hello; do
    cp "$examples/$job.wasm" plugins/
    cp "example-jobs/manifests/$job.toml" plugins/
done
cp example-jobs/manifests/*.workflow.toml plugins/
exec target/debug/carillon serve --database sqlite://carillon.db --plugins plugins "$@"
