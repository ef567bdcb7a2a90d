#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and fails on a crash, a leak,
# a timeout or memory over the limits. FUZZ_SECONDS per target (default
# 60); FUZZ_TARGETS to pick some (default: parse edit ffi).
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz
# --locked`); without nightly, RUSTC_BOOTSTRAP=1 lets stable build it.
# A longer run of one target, e.g. an hour:
#   FUZZ_SECONDS=3600 FUZZ_TARGETS=parse bash scripts/fuzz.sh
# Findings land in fuzz/artifacts/TARGET/; reproduce one with
#   cargo +nightly fuzz run --fuzz-dir fuzz TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-parse edit ffi}

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi

for target in $targets; do
    "${fuzz[@]}" build --fuzz-dir fuzz -O --debug-assertions "$target"
done

for target in $targets; do
    # The committed seeds stay as they are; what the fuzzer adds goes to a
    # scratch corpus (kept between local runs, ignored by git).
    corpus=fuzz/corpus/$target
    mkdir -p "$corpus"
    echo "==> fuzz $target for ${seconds}s"
    # -rss_limit_mb / -malloc_limit_mb: any input that makes the process
    # grow past 1 GB, or asks for 256 MB in one allocation, is a finding:
    # inputs here are at most 1 MB (-max_len), so memory must stay far below.
    log=fuzz/artifacts/$target.log
    mkdir -p fuzz/artifacts
    status=0
    # libFuzzer stops itself after -max_total_time; the outer timeout bounds
    # a run that hangs outside it (start-up, a stuck final merge).
    timeout $((seconds + 120)) "${fuzz[@]}" run --fuzz-dir fuzz -O --debug-assertions "$target" \
        "$corpus" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -max_len=1048576 -timeout=20 \
        -rss_limit_mb=1024 -malloc_limit_mb=256 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    grep -E '^#[0-9]+ +(INITED|DONE)|^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
    if [ "$status" != 0 ]; then
        tail -n 60 "$log" >&2
        echo "error: fuzz target $target failed (exit $status); the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
