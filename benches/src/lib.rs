//! Criterion benchmarks live in benches/; see BENCHMARKS.md.
