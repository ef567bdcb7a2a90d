//! One scenario, both stores: `storetest!(name, |kind| { ... })` expands
//! into a module `name` with two tests, `name::file` and `name::database`,
//! as ripgrep's `rgtest!` runs each test under both regex engines. The body
//! opens stores of its `kind` (`kind.example()`, `kind.with(text)`) and
//! runs the CLI and reads the state back through [`Store`], so the same
//! assertions hold for a flag file and for the fleet's database.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use flags_cli::store::database::DatabaseStore;
use flags_cli::store::file::FileStore;
use flags_postgres::testing::{Cluster, PASSWORD};
use serde_json::Value;

use crate::util::{EXAMPLE, Env, FILE_NAME, Run, bin};

/// `storetest!(name, |kind| body)`: `body` once on a flag file, once on a
/// database of the shared cluster.
macro_rules! storetest {
    ($name:ident, |$kind:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn scenario($kind: $crate::stores::Kind) $body

            #[test]
            fn file() {
                scenario($crate::stores::Kind::File)
            }

            #[test]
            fn database() {
                scenario($crate::stores::Kind::Database)
            }
        }
    };
}
pub(crate) use storetest;

/// Where a scenario keeps its flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `--file FILE`, with FILE.rollouts.json and FILE.audit.jsonl beside it.
    File,
    /// `--database URL`: a fresh database in the shared cluster.
    Database,
}

impl Kind {
    /// A store holding the example.
    pub fn example(self) -> Store {
        self.with(EXAMPLE)
    }

    /// A store holding `text` (imported, on the database).
    pub fn with(self, text: &str) -> Store {
        self.from(Env::with(text))
    }

    /// A store holding what `env`'s folder holds: the flag file and any
    /// rollouts file and audit log beside it (imported, on the database).
    pub fn from(self, env: Env) -> Store {
        match self {
            Kind::File => Store {
                env,
                url: None,
                setup: 0,
            },
            Kind::Database => {
                let url = new_database();
                db(&url, &["--init"]).ok();
                db(&url, &["--import", env.file.to_str().unwrap()]).ok();
                // The history the import brought, and its own entry.
                let setup = env.audit_lines().len() + 1;
                Store {
                    env,
                    url: Some(url),
                    setup,
                }
            }
        }
    }
}

/// A fresh, empty database in the shared cluster; its URL (password in it).
pub fn new_database() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let cluster = Cluster::shared();
    let name = format!(
        "cli{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    cluster.sql(&format!("CREATE DATABASE {name} OWNER flags"));
    cluster.url_text(&name)
}

/// Runs `feature_flags --database URL args...`; checks that the password
/// was not printed.
pub fn db(url: &str, args: &[&str]) -> Run {
    let run = Run::from(
        bin()
            .arg("--database")
            .arg(url)
            .args(args)
            .output()
            .expect("run feature_flags"),
    );
    assert!(
        !run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD),
        "the password was printed: {args:?}"
    );
    run
}

/// A flag file in a temporary folder, or a database (whose folder holds
/// the file it was imported from).
pub struct Store {
    pub env: Env,
    url: Option<String>,
    /// How many history entries the setup wrote.
    setup: usize,
}

impl Store {
    /// The database's URL (password in it).
    pub fn url(&self) -> &str {
        self.url.as_deref().expect("a database store")
    }

    /// The binary, pointed at this store.
    pub fn cmd(&self) -> Command {
        let mut cmd = bin();
        match &self.url {
            None => cmd.arg("--file").arg(&self.env.file),
            Some(url) => cmd.arg("--database").arg(url),
        };
        cmd
    }

    /// Runs `feature_flags --file FILE|--database URL args...`.
    pub fn run(&self, args: &[&str]) -> Run {
        match &self.url {
            None => self.env.run(args),
            Some(url) => db(url, args),
        }
    }

    /// The store as the binary opens it, to read it back in this process.
    pub fn open(&self) -> Box<dyn flags_cli::store::Store> {
        match &self.url {
            None => Box::new(FileStore::new(&self.env.file)),
            Some(url) => Box::new(DatabaseStore::new(url).expect("database URL")),
        }
    }

    /// The flag document (the file's bytes; what `--export` gives).
    pub fn text(&self) -> String {
        self.open().read().expect("read the flags").flags
    }

    /// The rollouts document, if there is one.
    pub fn rollouts(&self) -> Option<String> {
        self.open().read().expect("read the rollouts").rollouts
    }

    /// The history entries since the setup, as `--history --json` gives
    /// them.
    pub fn history(&self) -> Vec<Value> {
        let entries = self.open().history().expect("read the history").entries;
        entries
            .into_iter()
            .skip(self.setup)
            .map(Value::Object)
            .collect()
    }

    /// The lines `--history` prints for the edits since the setup.
    pub fn history_lines(&self) -> Vec<String> {
        let run = self.run(&["--history"]);
        run.ok()
            .stdout
            .lines()
            .skip(self.setup)
            .map(str::to_owned)
            .collect()
    }

    /// How `--history` names the editor `user`: as declared in a file, with
    /// the database's role before it on the database.
    pub fn by(&self, user: &str) -> String {
        match &self.url {
            None => user.to_owned(),
            Some(_) => format!("role flags (user {user})"),
        }
    }

    /// Runs `args`, expects failure `code` with a message containing
    /// `says`, and checks that nothing changed: the flags, the rollouts and
    /// the history as they were, and nothing left in the folder but the
    /// lock file.
    #[track_caller]
    pub fn rejects(&self, args: &[&str], code: i32, says: &str) {
        let before = self.state();
        let mut may_remain = self.env.listing();
        may_remain.push(format!("{FILE_NAME}.lock"));
        let run = self.run(args);
        let line = run.fails(code);
        assert!(
            line.contains(says),
            "{args:?}: {line:?} should contain {says:?}"
        );
        let after = self.state();
        assert_eq!(after.0, before.0, "{args:?} changed the flags");
        assert_eq!(after.1, before.1, "{args:?} changed the rollouts");
        assert_eq!(after.2, before.2, "{args:?} wrote to the history");
        let listing = self.env.listing();
        assert!(
            listing.iter().all(|n| may_remain.contains(n)),
            "{args:?} left {listing:?}"
        );
    }

    /// The flags, the rollouts and how many history entries there are.
    fn state(&self) -> (String, Option<String>, usize) {
        let mut store = self.open();
        let docs = store.read().expect("read the store");
        let entries = store.history().expect("read the history").entries;
        (docs.flags, docs.rollouts, entries.len())
    }

    /// Runs an edit and checks what it printed and that the new document is
    /// the old one with `from` (which must be unique) replaced by `to`:
    /// every other byte unchanged.
    #[track_caller]
    pub fn assert_edit(&self, args: &[&str], from: &str, to: &str, printed: &str) {
        let before = self.text();
        assert_eq!(before.matches(from).count(), 1, "{from:?} must be unique");
        let run = self.run(args);
        assert_eq!(run.ok().stdout, printed, "{run:#?}");
        assert_eq!(self.text(), before.replace(from, to));
    }
}
