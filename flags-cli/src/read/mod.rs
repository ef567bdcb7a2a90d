//! The read-only commands' views: the flag table and one flag (`table`),
//! and why a flag is on or off for a message (`explain`).

pub mod explain;
pub mod table;
