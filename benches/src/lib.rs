//! What the benchmarks in `benches/benches/` share: flag files shaped like a
//! busy bot's ([`fixtures`]), the per-message job they time ([`message`]),
//! the lock-based engine the lock-free one is measured against
//! ([`baseline`], and [`tuned`] for the instruction budgets, sharing
//! [`locked`]), and a harness for timing several threads at once
//! ([`parallel`]). See BENCHMARKS.md for the numbers and how to rerun them.

pub mod baseline;
pub mod fixtures;
pub mod locked;
pub mod message;
pub mod parallel;
pub mod tuned;
