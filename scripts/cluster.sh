#!/usr/bin/env bash
# A cluster on one machine: builds the host and the example jobs, then runs
# HOSTS (default 3) `carillon serve` processes on one PostgreSQL database
# (default postgres://postgres@127.0.0.1:5432/carillon_cluster, created if
# missing; set CARILLON_DATABASE_URL to use another). Only host-1 has the
# example jobs in its plugins folder: the others load them from the database.
# Logs go to ./cluster/host-N.log; stop everything with Ctrl-C. Meanwhile:
#   target/debug/carillon nodes --database "$URL"   # the hosts, alive, runs held
#   target/debug/carillon runs --database "$URL"    # runs, with the node that ran them
set -euo pipefail
cd "$(dirname "$0")/.."

hosts="${HOSTS:-3}"
url="${CARILLON_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/carillon_cluster}"
examples="$(./scripts/build-examples.sh)"
cargo build --quiet -p carillon
if [[ -z "${CARILLON_DATABASE_URL:-}" ]] && command -v psql >/dev/null; then
    psql -q "${url%/*}/postgres" -c "CREATE DATABASE ${url##*/}" 2>/dev/null || true
fi

mkdir -p cluster
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
for n in $(seq 1 "$hosts"); do
    mkdir -p "cluster/plugins-$n"
    if [[ $n == 1 ]]; then
        for job in hello sharded_sum pager flaky sleepy hog; do
            cp "$examples/$job.wasm" "example-jobs/manifests/$job.toml" cluster/plugins-1/
        done
    fi
    target/debug/carillon serve --database "$url" --plugins "cluster/plugins-$n" \
        --node-id "host-$n" 2>"cluster/host-$n.log" &
    pids+=($!)
    if [[ $n == 1 ]]; then
        # host-1 stores the modules in the database before the others start.
        for _ in $(seq 1 300); do
            grep -q "carillon is serving" cluster/host-1.log && break
            kill -0 "${pids[0]}" 2>/dev/null || { cat cluster/host-1.log; exit 1; }
            sleep 0.2
        done
    fi
done
echo "$hosts hosts serving on $url (logs in ./cluster/); Ctrl-C stops them"
sleep 3
target/debug/carillon nodes --database "$url"
wait
