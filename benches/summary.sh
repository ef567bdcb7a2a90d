#!/usr/bin/env bash
# Prints the median of every benchmark of the last `cargo bench -p benches`
# and `cargo bench -p flags-ffi --bench ffi` runs (both write to the same
# criterion folder), the ratios BENCHMARKS.md quotes, and the goals met or
# missed.
#
#   benches/summary.sh [CRITERION_DIR]
#
# CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion, else target/criterion
# at the repository root. Reads criterion's new/benchmark.json and
# new/estimates.json files; needs python3 and nothing else. Exits non-zero
# only when there are no results to read: goals are reported, not enforced,
# since a shared CI machine's timings are too noisy to fail a build on.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-${CARGO_TARGET_DIR:-$root/target}/criterion}
exec python3 - "$dir" <<'PY'
import json, os, sys

root = sys.argv[1]
medians = {}
for here, dirs, files in os.walk(root):
    if os.path.basename(here) == "new" and "estimates.json" in files:
        with open(os.path.join(here, "benchmark.json")) as f:
            name = json.load(f)["full_id"]
        with open(os.path.join(here, "estimates.json")) as f:
            medians[name] = json.load(f)["median"]["point_estimate"]
if not medians:
    sys.exit(f"no criterion results under {root}: run `cargo bench -p benches` first")

def show(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"

width = max(map(len, medians))
print("median per iteration (per message for per_message, contention, baseline, counting, ffi):")
for name in sorted(medians):
    print(f"  {name:<{width}}  {show(medians[name]):>9}")

def ratio(label, slow, fast):
    if slow in medians and fast in medians:
        print(f"  {label}: {medians[slow] / medians[fast]:.2f}x  ({slow} / {fast})")

print("ratios:")
ratio("RwLock baseline / lock-free by name, plain loop", "baseline/rwlock_by_name", "per_message/by_name")
for t in (1, 2):
    ratio(f"RwLock baseline / lock-free by name, {t} thread{'s' * (t > 1)}",
          f"baseline/rwlock_by_name_threads/{t}", f"contention/by_name/{t}")
ratio("2 threads / 1 thread, lock-free by handle", "contention/by_handle/2", "contention/by_handle/1")
ratio("2 threads / 1 thread, by handle through a Reader", "contention/reader_by_handle/2", "contention/reader_by_handle/1")
ratio("per message by handle, guard / Reader", "per_message/by_handle", "per_message/reader_by_handle")
ratio("RwLock baseline / lock-free by handle, 2 threads", "baseline/rwlock_by_name_threads/2", "contention/by_handle/2")
ratio("2 threads / 1 thread, RwLock baseline", "baseline/rwlock_by_name_threads/2", "baseline/rwlock_by_name_threads/1")
ratio("during a reload storm / idle", "reload/per_message_during_reloads", "reload/per_message_idle")
for t in (1, 2):
    ratio(f"counting on / off, {t} thread{'s' * (t > 1)}", f"counting/on/{t}", f"counting/off/{t}")
ratio("C ABI / Rust, per message, flag by flag by handle", "ffi/per_message/by_handle", "per_message/by_handle")
ratio("C ABI / Rust, per message, every flag as bits", "ffi/per_message/evaluate_all_bits", "per_message/enabled_bits")

def goal(label, name, limit_ns=None, ratio_of=None, at_most=None, at_least=None):
    if name not in medians or (ratio_of and ratio_of not in medians):
        return
    if ratio_of:
        value = medians[name] / medians[ratio_of]
        ok = value <= at_most if at_most else value >= at_least
        shown = f"{value:.2f}x"
    else:
        value = medians[name]
        ok = value <= limit_ns
        shown = show(value)
    print(f"  {'met   ' if ok else 'MISSED'} {label}: {shown}")

print("goals:")
goal("per message, 10 flags by handle <= 60 ns", "per_message/by_handle", 60)
goal("one flag by handle <= 8 ns", "evaluate/store/by_handle", 8)
goal("one flag by name <= 15 ns", "evaluate/store/by_name", 15)
goal("per message, 10 flags by handle through a Reader <= 60 ns", "per_message/reader_by_handle", 60)
goal("one flag by handle through a Reader <= 8 ns", "evaluate/reader/by_handle", 8)
goal("one flag by name through a Reader <= 15 ns", "evaluate/reader/by_name", 15)
goal("lock-free >= 3x faster than RwLock at 2 threads",
     "baseline/rwlock_by_name_threads/2", ratio_of="contention/by_name/2", at_least=3)
goal("during a reload storm <= 1.5x idle",
     "reload/per_message_during_reloads", ratio_of="reload/per_message_idle", at_most=1.5)
goal("10 000-flag reload <= 20 ms", "reload/replace_json/10000", 20e6)
goal("recording one outcome, 3 flags exposed <= 30 ns", "outcomes/record_3_exposed", 30)
# Exposure per check: the ten checks through a `Message` less the same ten
# on a bare snapshot, over ten (making the message included).
if "outcomes/message_by_handle" in medians and "outcomes/reader_by_handle" in medians:
    per_check = (medians["outcomes/message_by_handle"] - medians["outcomes/reader_by_handle"]) / 10
    print(f"  {'met   ' if per_check <= 1 else 'MISSED'} exposure <= 1 ns per check: {per_check:.2f} ns")
PY
