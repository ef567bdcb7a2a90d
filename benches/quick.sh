#!/usr/bin/env bash
# Every benchmark in quick mode, for CI: a benchmark that panics (each checks
# its fixture gives the answers it claims to time) fails the build; the
# timings are printed, never asserted. About 40 s of running on the 2-core
# CI machine when it is quiet, compile excluded; 2 minutes under heavy load.
#
# Criterion's own `--quick` stops after two samples; a short warm-up and
# measurement keep a real median instead, and fewer bootstrap resamples
# (they only narrow the confidence interval) save most of the analysis time.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=(--warm-up-time 0.2 --measurement-time 0.5 --nresamples 1000 --output-format bencher)
cargo bench -p benches --locked -- "${quick[@]}"
# The C ABI's benchmark lives in flags-ffi (it needs `unsafe`); its results
# land in the same criterion folder, where summary.sh finds them.
cargo bench -p flags-ffi --locked --bench ffi -- "${quick[@]}"
bash benches/summary.sh
