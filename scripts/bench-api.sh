#!/usr/bin/env bash
# The admin API on a big table: times listings of tasks and runs (curl,
# 20 requests each, one client) on a SQLite database of 100,000 tasks and
# 200,000 runs, written with plain SQL, served by a release build.
# Prints Markdown for BENCHMARKS.md. Needs python3 and curl.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release -q -p carillon --manifest-path "$ROOT/Cargo.toml"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/carillon"
D=$(mktemp -d); cd "$D"
URL="sqlite://$D/c.db"
$BIN token create bench --role admin --database "$URL" > token 2>/dev/null
T=$(cat token)
python3 - "$D/c.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.executemany("INSERT INTO tasks (name, module, schedule, task_group, paused) VALUES (?, 'hello', '0 0 3 * * ?', ?, ?)",
    [(f"t-{i:06d}", f"g{i % 20}", 1 if i % 10 == 0 else 0) for i in range(100000)])
c.executemany("INSERT INTO runs (task, module, shard_index, shard_total, scheduled_at, not_before, state, attempt, params, created_at, finished_at) VALUES (?, 'hello', 0, 1, ?, ?, 'succeeded', 1, '{}', ?, ?)",
    [(f"t-{i % 100000:06d}", 1700000000000 + i * 1000, 1700000000000 + i * 1000, 1700000000000 + i * 1000, 1790000000000) for i in range(200000)])
c.commit()
PY
mkdir -p plugins
$BIN serve --database "$URL" --plugins plugins --listen 127.0.0.1:17979 > host.log 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:17979/healthz >/dev/null && break; sleep 0.1; done
sleep 8  # let the first-time scheduling of 100k rows finish
t() { # name path
  local best=999 all=()
  for _ in $(seq 1 20); do
    s=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $T" "http://127.0.0.1:17979$2")
    all+=("$s")
  done
  printf '| %s | `%s` | %s |\n' "$1" "$2" "$(printf '%s\n' "${all[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f / %.1f ms", a[int(NR/2)+1]*1000, a[NR]*1000}')"
}
echo "| listing | request | median / max of 20 |"
echo "|---|---|---|"
t "first page of 100" "/api/v1/tasks"
t "a page deep in the table" "/api/v1/tasks?after=t-090000"
t "name search" "/api/v1/tasks?name=99"
t "group and state" "/api/v1/tasks?group=g7&state=paused"
t "runs, newest" "/api/v1/runs"
t "runs of one task" "/api/v1/runs?task=t-004242"
t "runs, a page deep" "/api/v1/runs?before=20000"
t "metrics" "/metrics"
kill $PID; wait $PID 2>/dev/null || true
rm -rf "$D"
