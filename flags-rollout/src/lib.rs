//! Rollout plans and the guard's decisions (SPEC.md "Rollout plans and the
//! guard"): the plan model and its file `FILE.rollouts.json`, and the pure
//! function that turns a plan, its state, the window's measurements and the
//! time into hold, advance or roll back. No I/O here: the CLI reads the
//! files, takes the lock, fetches metrics and reads the clock.

pub mod measure;
