#!/usr/bin/env bash
# The whole test suite, from a fresh clone: starts the local PostgreSQL if it
# is down, installs the wasm32-wasip2 target if missing, builds the example
# jobs once, then runs the host's unit and end-to-end tests (real binary, real
# .wasm, real SQLite and PostgreSQL) and the guest SDK's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL on 127.0.0.1:5432 for the tests that run on it (trust auth, as
# on the development machines); start the local cluster if it is down.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

# Quartz 2.3.2 and a JDK: the cron oracle test compiles a small Java program
# against Debian's Quartz and compares its fire times with Carillon's.
if [ ! -f /usr/share/java/quartz2.jar ] || ! command -v javac >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq libquartz2-java default-jdk-headless >/dev/null
fi

# schemathesis (PyPI), for the API's conformance test, in a venv of its own.
SCHEMATHESIS_VENV="${CARGO_TARGET_DIR:-$PWD/target}/tools/schemathesis-4.32.5"
if [ ! -x "$SCHEMATHESIS_VENV/bin/schemathesis" ]; then
    if ! python3 -m venv "$SCHEMATHESIS_VENV" >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq python3-venv python3-pip >/dev/null
        rm -rf "$SCHEMATHESIS_VENV"
        python3 -m venv "$SCHEMATHESIS_VENV"
    fi
    "$SCHEMATHESIS_VENV/bin/pip" install -q schemathesis==4.32.5
fi
export CARILLON_SCHEMATHESIS="$SCHEMATHESIS_VENV/bin/schemathesis"

# aiosmtpd (PyPI), a local SMTP server the e-mail alert test sends to, in a
# venv of its own (python3-venv is there: the block above made sure).
AIOSMTPD_VENV="${CARGO_TARGET_DIR:-$PWD/target}/tools/aiosmtpd-1.4.6"
if [ ! -x "$AIOSMTPD_VENV/bin/python" ] || ! "$AIOSMTPD_VENV/bin/python" -c "import aiosmtpd" 2>/dev/null; then
    python3 -m venv "$AIOSMTPD_VENV"
    "$AIOSMTPD_VENV/bin/pip" install -q aiosmtpd==1.4.6
fi
export CARILLON_AIOSMTPD_PYTHON="$AIOSMTPD_VENV/bin/python"

# The console's browser tests: Debian's chromium, driven by playwright-core
# (npm, from tests/browser's lock file) installed under target/tools/.
# A CJK font too, so the Chinese screenshots show characters.
if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-wqy-microhei >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
fi
CONSOLE_TOOLS="${CARGO_TARGET_DIR:-$PWD/target}/tools/console-tests"
if ! cmp -s tests/browser/package-lock.json "$CONSOLE_TOOLS/package-lock.json" \
    || [ ! -f "$CONSOLE_TOOLS/node_modules/playwright-core/index.mjs" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq nodejs npm >/dev/null
    fi
    mkdir -p "$CONSOLE_TOOLS"
    cp tests/browser/package.json tests/browser/package-lock.json "$CONSOLE_TOOLS/"
    (cd "$CONSOLE_TOOLS" && npm ci --silent --no-audit --no-fund)
fi
export CARILLON_CHROMIUM="$(command -v chromium)"
export CARILLON_PLAYWRIGHT="$CONSOLE_TOOLS/node_modules/playwright-core/index.mjs"

CARILLON_EXAMPLES_DIR="$(./scripts/build-examples.sh)"
export CARILLON_EXAMPLES_DIR

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --profile "${NEXTEST_PROFILE:-default}" -p carillon
else
    cargo test -p carillon
fi
cargo test -p carillon-guest --all-features
