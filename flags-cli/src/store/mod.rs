//! Where the documents live: a flag file with its rollouts file and audit
//! log beside it, under a lock (`file`, `locked`, `audit`).

pub mod audit;
pub mod file;
pub mod locked;
