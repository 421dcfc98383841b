#!/usr/bin/env bash
# Builds the example jobs (and the test fixtures): the Rust ones for
# wasm32-wasip2, installing the target first if it is missing, and the Python
# and JavaScript ones with componentize-py (PyPI) and ComponentizeJS (npm),
# installed under target/tools/ the first time. A Python or JavaScript job is
# rebuilt only when its sources or the contract changed. Prints the directory
# holding the .wasm files.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
out="$target/wasm32-wasip2/release"
tools="$target/tools"

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2 >&2
fi
packages=(hello sharded-sum pager flaky sleepy hog hostile fetch notify report order-tally not-a-job future-job contract-0-1-job contract-0-2-job)
args=()
for p in "${packages[@]}"; do args+=(-p "$p"); done
cargo build --quiet --release --target wasm32-wasip2 "${args[@]}" >&2

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "$@" >/dev/null
}

# Whether $1 is missing or older than any file under the other arguments.
stale() {
    local output="$1"
    shift
    [[ ! -f "$output" ]] || [[ -n "$(find "$@" -newer "$output" -type f -print -quit)" ]]
}

# Python jobs: componentize-py in a venv of its own.
py_version=0.25.1
componentize_py="$tools/componentize-py-$py_version/bin/componentize-py"
if [[ ! -x "$componentize_py" ]]; then
    venv="$tools/componentize-py-$py_version"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        apt_install python3-venv python3-pip
        rm -rf "$venv"
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q "componentize-py==$py_version" >&2
fi
for job in example-jobs/python/*/; do
    name="python_$(basename "$job")"
    if stale "$out/$name.wasm" "$job" guest-sdk/python wit/job.wit; then
        (cd "$job" && "$componentize_py" -d ../../../wit/job.wit -w job componentize \
            -p . -p ../../../guest-sdk/python app -o "$out/$name.wasm.tmp" >/dev/null)
        mv "$out/$name.wasm.tmp" "$out/$name.wasm"
    fi
done

# JavaScript jobs: ComponentizeJS from npm, at the versions of guest-sdk/js's lock file.
js_tools="$tools/componentize-js-0.23.0"
if [[ ! -x "$js_tools/node_modules/.bin/componentize-js" ]]; then
    command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    mkdir -p "$js_tools"
    cp guest-sdk/js/package.json guest-sdk/js/package-lock.json "$js_tools/"
    npm ci --prefix "$js_tools" --no-audit --no-fund --loglevel=error >&2
fi
for job in example-jobs/js/*/; do
    name="js_$(basename "$job")"
    if stale "$out/$name.wasm" "$job" guest-sdk/js/carillon.js wit/job.wit; then
        # The job and the helper module side by side, as a job author keeps them.
        stage="$(mktemp -d)"
        cp "$job"/*.js guest-sdk/js/carillon.js "$stage/"
        # `fetch-event` off: a job exports `run`, not an HTTP handler.
        node "$js_tools/node_modules/@bytecodealliance/componentize-js/src/cli.js" "$stage/app.js" \
            --wit wit/job.wit --world-name job --disable fetch-event -o "$out/$name.wasm.tmp" >&2
        mv "$out/$name.wasm.tmp" "$out/$name.wasm"
        rm -rf "$stage"
    fi
done
echo "$out"
