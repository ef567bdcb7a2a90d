#!/usr/bin/env bash
# Every test of the project, in one command: `bash scripts/test.sh`.
# Needs cargo, a C compiler and python3 (with venv; the wheel's build tools,
# zig among them, come from PyPI into target/py-tools); promtool (Debian's
# `prometheus` package) for the metrics checks and prometheus itself for the
# live dashboard proof; amtool and prometheus-alertmanager (Debian's
# `prometheus-alertmanager`) for the alert routing checks and their end to
# end test; valgrind for the instruction budgets; each skipped without them
# unless CI is set.
# Set QUICK_BENCH=0 to skip the quick benchmark run.
# The fuzz targets run FUZZ_SECONDS each (default 30; 0 skips them); they
# need cargo-fuzz (`cargo install cargo-fuzz --locked`), required when CI is
# set and skipped with a note otherwise.
# TEST_DRY_RUN=1 prints each step's command instead of running it (and the
# step-time table), to check this script's own logic.
#
# Adding a step: one line, `step "what it checks" command args...` (several
# commands: a function above the list, named for what it checks). Each step
# is timed; the table at the end (also on failure) shows where the time went.
set -euo pipefail
cd "$(dirname "$0")/.."

step_names=()
step_seconds=()
step_started=0
current_step=""

# Closes the running step (a step given no command runs the lines after it,
# up to the next step, and is timed to there).
end_step() {
    if [ -n "$current_step" ]; then
        step_names+=("$current_step")
        step_seconds+=($((SECONDS - step_started)))
        current_step=""
    fi
}

step() {
    end_step
    current_step=$1
    step_started=$SECONDS
    printf '\n==> %s\n' "$1"
    shift
    [ $# -gt 0 ] || return 0
    if [ -n "${TEST_DRY_RUN:-}" ]; then
        printf '    would run: %s\n' "$*"
    else
        "$@"
    fi
    end_step
}

step_table() {
    local status=$? failed="" i total=0
    if [ -n "$current_step" ]; then
        failed=$current_step
        end_step
    fi
    printf '\n%-8s  %s\n' "seconds" "step"
    for i in "${!step_names[@]}"; do
        printf '%8d  %s\n' "${step_seconds[$i]}" "${step_names[$i]:0:90}"
        total=$((total + step_seconds[i]))
    done
    printf '%8d  total (%d:%02d)\n' "$total" $((total / 60)) $((total % 60))
    if [ "$status" != 0 ]; then
        printf 'FAILED in step: %s (exit %s)\n' "${failed:-?}" "$status"
    fi
}
trap step_table EXIT

# Runs end-to-end suites side by side (each picks its own free ports and
# mostly waits on servers), each one's output captured to a file and printed
# whole when it ends, in the order given; fails if any fails. Arguments:
# NAME=COMMAND pairs, each COMMAND a string for `bash -c`.
side_by_side() {
    local logs=target/test-logs pids=() names=() started=$SECONDS spec name status=0 rc
    mkdir -p "$logs"
    for spec in "$@"; do
        name=${spec%%=*}
        names+=("$name")
        (
            s=$SECONDS
            rc=0
            bash -c "${spec#*=}" >"$logs/$name.log" 2>&1 || rc=$?
            echo "($name: exit $rc after $((SECONDS - s)) s)" >>"$logs/$name.log"
            exit "$rc"
        ) &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        rc=0
        wait "${pids[$i]}" || rc=$?
        printf -- '--- %s ---\n' "${names[$i]}"
        cat "$logs/${names[$i]}.log"
        if [ "$rc" != 0 ]; then
            echo "error: ${names[$i]} failed (exit $rc)" >&2
            status=1
        fi
    done
    echo "(side by side: $((SECONDS - started)) s for ${#names[@]} suites)"
    return "$status"
}

venv=target/py-venv
cli=target/debug/feature_flags

python_package() {
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet ./flags-ffi/python pytest xxhash prometheus_client \
        openfeature-sdk python-telegram-bot
    "$venv/bin/python" -m pytest flags-ffi/python/tests -q
}

# Runs COMMAND... when TOOL is installed. Without it: in CI an error naming
# the Debian package that brings it (the step fails); elsewhere a note that
# SKIPPED (what the command checks) is skipped.
# Usage: with_tool TOOL PACKAGE SKIPPED COMMAND...
with_tool() {
    local tool=$1 package=$2 skipped=$3
    shift 3
    if command -v "$tool" >/dev/null 2>&1; then
        "$@"
    elif [ -n "${CI:-}" ]; then
        echo "error: $tool is not installed (apt-get install $package)" >&2
        return 1
    else
        echo "note: $tool not found; skipping $skipped"
    fi
}

instruction_budgets() {
    with_tool valgrind valgrind "the instruction budgets (apt-get install valgrind)" \
        python3 benches/instructions.py --python "$venv/bin/python"
}

# The guard's four suites wait mostly on Prometheus, Alertmanager and their
# own timers, not the CPU: side by side they take about as long as the
# longest (guard_faults, ~80 s); guard_credentials checks that no Prometheus
# secret is shown instead of the sum.
guard_suites() {
    cargo build -p flags-cli --locked --bin feature_flags
    local py="FEATURE_FLAGS_BIN=$cli $venv/bin/python -m pytest -q"
    side_by_side \
        "guard_e2e=$py flags-cli/tests/guard_e2e" \
        "guard_faults=$py flags-cli/tests/guard_faults" \
        "alerts_e2e=$py flags-cli/tests/alerts_e2e -rs" \
        "guard_credentials=$py flags-cli/tests/guard_credentials"
}

fleet() {
    FEATURE_FLAGS_BIN=$cli "$venv/bin/python" -m pytest flags-cli/tests/fleet_e2e -q
    FEATURE_FLAGS_BIN=$cli "$venv/bin/python" benches/fleet.py --quick
}

# A silent forwarder in front of a real primary and its promoted standby,
# guards through an outage, SIGTERM, failed writes; then the load benchmark
# in quick mode. Timed bounds: not beside other suites.
fleet_faults() {
    FEATURE_FLAGS_BIN=$cli "$venv/bin/python" -m pytest flags-cli/tests/fleet_faults -q
    FEATURE_FLAGS_BIN=$cli "$venv/bin/python" benches/fleet_load.py --quick
}

# Every shell example of docs/operators.md and docs/fleet.md, run as written
# against a copy of the example file and a throwaway PostgreSQL cluster.
doc_examples() {
    cargo build -p flags-cli --locked --bin feature_flags
    python3 scripts/check_doc_examples.py --feature-flags "$cli"
}

dashboard() {
    python3 -m unittest discover -s scripts/tests
    python3 scripts/grafana_dashboard.py check
    with_tool npm npm "the dashboard's type check against @grafana/schema" \
        bash scripts/check_dashboard_schema.sh
    with_tool prometheus prometheus "the live dashboard proof (apt-get install prometheus)" \
        dashboard_live_proof
}

dashboard_live_proof() {
    cargo build --locked --quiet -p flags-cli
    python3 scripts/dashboard_live_proof.py --bot-python "$venv/bin/python" \
        --feature-flags "$cli"
}

alert_routing() {
    with_tool amtool prometheus-alertmanager \
        "the Alertmanager checks (apt-get install prometheus-alertmanager)" \
        bash scripts/check_alertmanager.sh
}

fuzz() {
    if cargo fuzz --version >/dev/null 2>&1 || [ -n "${CI:-}" ]; then
        FUZZ_SECONDS=$fuzz_seconds bash scripts/fuzz.sh
    else
        echo "skipped: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)"
    fi
}

step "format" cargo fmt --all -- --check
step "lint" cargo clippy --workspace --all-targets --locked -- -D warnings
step "no module cycles (top-level modules of flags-core, flags-rollout, flags-postgres and flags-cli; < 1 s)" \
    python3 scripts/module_cycles.py flags-core/src flags-rollout/src flags-postgres/src flags-cli/src
step "Rust tests (core, CLI, C ABI + C example, header, metrics)" cargo test --workspace --locked
step "PostgreSQL test clusters: scripts/pg_cluster.py self-test (primary, standby, promote, serve, TLS; ~5 s)" \
    python3 scripts/pg_cluster.py selftest
step "docs: every shell example of docs/operators.md and docs/fleet.md runs as written (the example file, a throwaway PostgreSQL; ~10 s)" \
    doc_examples
step "Python package in a fresh virtualenv" python_package
step "instruction budgets: callgrind counts, ratios to the tuned baseline (benches/instruction_budgets.toml)" \
    instruction_budgets
step "rollout guard end to end, fault injection, alerts end to end, side by side (a real bot, the guard, Prometheus, Alertmanager; 83 s side by side against 208 s one after another)" \
    guard_suites
step "the fleet end to end (PostgreSQL clusters, two servers' syncs and bots, the CLI, two guards, Prometheus; ~1 min) and its benchmark in quick mode" \
    fleet
step "the fleet under faults that close nothing (silent primary, outage, SIGTERM, failed writes; ~90 s) and under load in quick mode" \
    fleet_faults
step "Python package as shipped: the manylinux2014 abi3 wheel and the sdist (zig, auditwheel, abi3audit)" \
    bash scripts/build-wheel.sh target/wheelhouse
step "the wheel on each CPython >= 3.10 here, and a wheel built from the sdist, with no cargo or cc on PATH" \
    bash scripts/test-wheel.sh target/wheelhouse
step "rollout dashboard: checker tests, static check, every query and rule against a live Prometheus" \
    dashboard
step "alert routing: the Alertmanager example loads, every alert reaches its receiver, the templates render as expected" \
    alert_routing

fuzz_seconds=${FUZZ_SECONDS:-30}
if [ "$fuzz_seconds" != 0 ]; then
    step "fuzz targets, $fuzz_seconds s each (a crash, a leak or memory over the limit fails)" fuzz
fi

if [ "${QUICK_BENCH:-1}" != 0 ]; then
    step "benchmarks (quick mode: a broken bench fails; timings are printed, not asserted)" \
        bash benches/quick.sh
fi
end_step
