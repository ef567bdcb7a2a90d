//! Rollout plans as the CLI runs them: the plan commands (`commands`) and
//! the one transaction that applies a step to both documents (`apply`),
//! shared by the commands, a hand edit and the guard.

pub mod apply;
pub mod commands;
