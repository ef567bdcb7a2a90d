//! A database the guard cannot read is a source error, like a metrics
//! source it cannot read: every plan holds (nothing is decided on documents
//! it does not have), `feature_flags_guard_source_errors_total{source="database"}`
//! counts each check that failed, so `FeatureFlagsGuardSourceFailing` fires,
//! and the log says when the outage began and when it ended, once each,
//! not on every check in between.
//!
//! Acting twice after an outage is left to the apply: it re-reads both
//! documents under the lock and writes only if the plan is still exactly
//! as measured, so of two guards that decide the same step when the
//! database answers again, one writes and the other finds it done.

use std::time::Instant;

use super::board::Board;
use crate::store::Store;

/// The `source` label of a database the guard cannot read.
pub const SOURCE: &str = "database";

/// Whether the guard's documents live in the fleet's database (its stores
/// name their documents `database URL`).
pub fn is_database(store: &dyn Store) -> bool {
    // A string prefix: Path::starts_with compares whole components.
    store
        .flags_name()
        .to_string_lossy()
        .starts_with("database ")
}

/// The outage in progress, if any.
#[derive(Debug, Clone, Default)]
pub struct Outage {
    since: Option<Instant>,
    /// Checks that failed in this outage.
    checks: u64,
}

impl Outage {
    /// Whether the guard is in an outage now.
    pub fn active(&self) -> bool {
        self.since.is_some()
    }

    /// After a check's read of `store`: `failure` is its problem lines when
    /// the read itself failed. Counts the source error on `board`, and
    /// returns whether this check is part of an outage (its problems are
    /// then not logged again) and the line to log, if any.
    pub fn observe(
        board: &mut Board,
        store: &dyn Store,
        failure: Option<&[String]>,
    ) -> (bool, Option<String>) {
        if !is_database(store) {
            return (false, None);
        }
        board.source_errors.entry(SOURCE.to_owned()).or_default();
        let outage = &mut board.outage;
        match failure {
            Some(lines) => {
                outage.checks += 1;
                let line = outage.since.is_none().then(|| {
                    format!(
                        "error: database unreachable: {}; every plan holds until it answers (logged once; feature_flags_guard_source_errors_total{{source=\"{SOURCE}\"}} counts the checks)",
                        lines.join("; ")
                    )
                });
                outage.since.get_or_insert_with(Instant::now);
                board.count_source_error(SOURCE);
                (true, line)
            }
            None => {
                let line = outage.since.take().map(|since| {
                    format!(
                        "database reachable again after {:.0} s ({} checks held)",
                        since.elapsed().as_secs_f64().ceil(),
                        outage.checks
                    )
                });
                outage.checks = 0;
                (false, line)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::Failure;
    use crate::store::{Change, Documents, History};

    struct Named(PathBuf);

    impl Store for Named {
        fn flags_name(&self) -> &Path {
            &self.0
        }
        fn rollouts_name(&self) -> &Path {
            &self.0
        }
        fn audit_name(&self) -> String {
            String::new()
        }
        fn read(&mut self) -> Result<Documents, Failure> {
            Err(Failure::new("unused"))
        }
        fn update(&mut self, _: &mut Change<'_>) -> Result<(), Failure> {
            Err(Failure::new("unused"))
        }
        fn history(&mut self) -> Result<History, Failure> {
            Err(Failure::new("unused"))
        }
    }

    #[test]
    fn an_outage_is_counted_every_check_and_logged_at_its_start_and_end() {
        let db = Named("database postgres://flags:***@db1,db2/bot".into());
        let mut board = Board::default();
        let down =
            vec!["database …: cannot connect to the database: db1:5432: timed out".to_owned()];
        // Series at 0 before the first failure, so increase() sees it.
        assert_eq!(Outage::observe(&mut board, &db, None), (false, None));
        assert_eq!(board.source_errors[SOURCE], 0);
        let mut logged = Vec::new();
        for _ in 0..5 {
            let (outage, line) = Outage::observe(&mut board, &db, Some(&down));
            assert!(outage);
            logged.extend(line);
        }
        assert_eq!(logged.len(), 1, "{logged:?}");
        assert!(logged[0].starts_with("error: database unreachable: "));
        assert!(logged[0].contains("timed out"));
        assert_eq!(board.source_errors[SOURCE], 5);
        assert!(board.outage.active());
        let (outage, end) = Outage::observe(&mut board, &db, None);
        assert!(!outage);
        let end = end.unwrap();
        assert!(end.starts_with("database reachable again after "), "{end}");
        assert!(end.contains("(5 checks held)"), "{end}");
        assert_eq!(Outage::observe(&mut board, &db, None), (false, None));
        // A second outage is a new one.
        assert!(Outage::observe(&mut board, &db, Some(&down)).1.is_some());
        assert_eq!(board.source_errors[SOURCE], 6);
        assert!(
            board
                .metrics_text()
                .contains("feature_flags_guard_source_errors_total{source=\"database\"} 6")
        );
    }

    #[test]
    fn a_flag_file_is_no_database() {
        let file = Named("config/feature_flags.json".into());
        let mut board = Board::default();
        let problem = vec!["cannot read config/feature_flags.json".to_owned()];
        assert_eq!(
            Outage::observe(&mut board, &file, Some(&problem)),
            (false, None)
        );
        assert!(board.source_errors.is_empty());
    }
}
