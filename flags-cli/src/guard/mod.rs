//! `feature_flags --guard`: moves running rollout plans along while they are
//! healthy and rolls them back when they are not (docs/spec.md "Rollout plans and
//! the guard"). The metric sources, the loop and the status server live
//! here; the decisions are flags-rollout's pure functions.

pub mod board;
pub mod command;
pub mod memlimit;
pub mod outage;
pub mod page;
pub mod phase_counts;
pub mod prometheus;
pub mod run;
pub mod scrape;
pub mod server;
pub mod textformat;
