#!/usr/bin/env bash
# Every test of the project, in one command: `bash scripts/test.sh`.
# Needs cargo, a C compiler and python3 (with venv; the wheel's build tools,
# zig among them, come from PyPI into target/py-tools); promtool (Debian's
# `prometheus` package) for the metrics checks and prometheus itself for the
# live dashboard proof; amtool and prometheus-alertmanager (Debian's
# `prometheus-alertmanager`) for the alert routing checks and their end to
# end test; each skipped without them unless CI is set.
# Set QUICK_BENCH=0 to skip the quick benchmark run.
# The fuzz targets run FUZZ_SECONDS each (default 60; 0 skips them); they
# need cargo-fuzz (`cargo install cargo-fuzz --locked`), required when CI is
# set and skipped with a note otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests (core, CLI, C ABI + C example, header, metrics)"
cargo test --workspace --locked

step "PostgreSQL test clusters: scripts/pg_cluster.py self-test (primary, standby, promote; ~4 s)"
python3 scripts/pg_cluster.py selftest

step "Python package in a fresh virtualenv"
venv=target/py-venv
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet ./flags-ffi/python pytest xxhash prometheus_client \
    openfeature-sdk python-telegram-bot
"$venv/bin/python" -m pytest flags-ffi/python/tests -q

step "rollout guard end to end (a real bot, the guard, the CLI, a real Prometheus)"
cargo build -p flags-cli --locked --bin feature_flags
FEATURE_FLAGS_BIN=target/debug/feature_flags "$venv/bin/python" -m pytest flags-cli/tests/guard_e2e -q

step "rollout guard fault injection (metrics servers that misbehave on purpose; about 80 s)"
FEATURE_FLAGS_BIN=target/debug/feature_flags "$venv/bin/python" -m pytest flags-cli/tests/guard_faults -q

step "the guard's Prometheus credentials (real Prometheus with basic auth, a bearer-token gate; nothing secret shown; ~20 s)"
FEATURE_FLAGS_BIN=target/debug/feature_flags "$venv/bin/python" -m pytest flags-cli/tests/guard_credentials -q

step "alerts end to end (a bot, the guard, Prometheus with the rules, Alertmanager with the example config; ~30-60 s)"
FEATURE_FLAGS_BIN=target/debug/feature_flags "$venv/bin/python" -m pytest flags-cli/tests/alerts_e2e -q -rs

step "the fleet end to end (PostgreSQL clusters, two servers' syncs and bots, the CLI, two guards, Prometheus; ~1 min) and its benchmark in quick mode"
FEATURE_FLAGS_BIN=target/debug/feature_flags "$venv/bin/python" -m pytest flags-cli/tests/fleet_e2e -q
FEATURE_FLAGS_BIN=target/debug/feature_flags "$venv/bin/python" benches/fleet.py --quick

step "the fleet under faults that close nothing (a silent forwarder in front of a real primary and its promoted standby, guards through an outage, SIGTERM, failed writes; ~90 s) and under load in quick mode"
FEATURE_FLAGS_BIN=target/debug/feature_flags "$venv/bin/python" -m pytest flags-cli/tests/fleet_faults -q
FEATURE_FLAGS_BIN=target/debug/feature_flags "$venv/bin/python" benches/fleet_load.py --quick

step "Python package as shipped: the manylinux2014 abi3 wheel and the sdist (zig, auditwheel, abi3audit)"
bash scripts/build-wheel.sh target/wheelhouse

step "the wheel on each CPython >= 3.10 here, and a wheel built from the sdist, with no cargo or cc on PATH"
bash scripts/test-wheel.sh target/wheelhouse

step "rollout dashboard: checker tests, static check, every query and rule against a live Prometheus"
python3 -m unittest discover -s scripts/tests
python3 scripts/grafana_dashboard.py check
if command -v npm >/dev/null 2>&1; then
    bash scripts/check_dashboard_schema.sh
elif [ -n "${CI:-}" ]; then
    echo "error: npm is not installed (apt-get install npm)" >&2
    exit 1
else
    echo "note: npm not found; skipping the dashboard's type check against @grafana/schema"
fi
if command -v prometheus >/dev/null 2>&1; then
    cargo build --locked --quiet -p flags-cli
    python3 scripts/dashboard_live_proof.py --bot-python "$venv/bin/python" \
        --feature-flags target/debug/feature_flags
elif [ -n "${CI:-}" ]; then
    echo "error: prometheus is not installed (apt-get install prometheus)" >&2
    exit 1
else
    echo "note: prometheus not found; skipping the live dashboard proof (apt-get install prometheus)"
fi

step "alert routing: the Alertmanager example loads, every alert reaches its receiver, the templates render as expected"
if command -v amtool >/dev/null 2>&1; then
    bash scripts/check_alertmanager.sh
elif [ -n "${CI:-}" ]; then
    echo "error: amtool is not installed (apt-get install prometheus-alertmanager)" >&2
    exit 1
else
    echo "note: amtool not found; skipping the Alertmanager checks (apt-get install prometheus-alertmanager)"
fi

if [ "${FUZZ_SECONDS:-60}" != 0 ]; then
    step "fuzz targets, ${FUZZ_SECONDS:-60} s each (a crash, a leak or memory over the limit fails)"
    if cargo fuzz --version >/dev/null 2>&1 || [ -n "${CI:-}" ]; then
        bash scripts/fuzz.sh
    else
        echo "skipped: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)"
    fi
fi

if [ "${QUICK_BENCH:-1}" != 0 ]; then
    step "benchmarks (quick mode: a broken bench fails; timings are printed, not asserted)"
    bash benches/quick.sh
fi
