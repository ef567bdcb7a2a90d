#!/usr/bin/env bash
# Every benchmark in quick mode, for CI: a benchmark that panics (each checks
# its fixture gives the answers it claims to time) fails the build; the
# timings are printed, never asserted. About 35 s of running on the 2-core
# CI machine when it is quiet, compile excluded; 2 minutes under heavy load.
#
# Criterion's own `--quick` stops after two samples; a short warm-up and
# measurement keep a real median instead, and fewer bootstrap resamples
# (they only narrow the confidence interval) save most of the analysis time.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p benches --locked -- \
    --warm-up-time 0.2 --measurement-time 0.5 --nresamples 1000 \
    --output-format bencher
bash benches/summary.sh
