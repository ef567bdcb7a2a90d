//! One scenario, both stores: `storetest!(name, |kind| { ... })` expands
//! into a module `name` with two tests, `name::file` and `name::database`,
//! as ripgrep's `rgtest!` runs each test under both regex engines. The body
//! opens stores of its `kind` (`kind.example()`, `kind.with(text)`) and
//! runs the CLI and reads the state back through [`Store`], so the same
//! assertions hold for a flag file and for the fleet's database.

use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use flags_cli::store::Store as _;
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
    /// A store holding the example (on the database, a copy of one
    /// imported once: `--init` and `--import` are not what most scenarios
    /// test, and each costs connections).
    pub fn example(self) -> Store {
        match self {
            Kind::File => self.with(EXAMPLE),
            Kind::Database => Store {
                env: Env::new(),
                database: Some(create_database(Some(example_template()))),
                setup: 1,
            },
        }
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
                database: None,
                setup: 0,
            },
            Kind::Database => {
                let name = create_database(None);
                import(&name, &env);
                // The history the import brought, and its own entry.
                let setup = env.audit_lines().len() + 1;
                Store {
                    env,
                    database: Some(name),
                    setup,
                }
            }
        }
    }
}

/// A fresh, empty database in the shared cluster; its URL (password in it).
pub fn new_database() -> String {
    Cluster::shared().url_text(&create_database(None))
}

/// A new database in the shared cluster, empty or a copy of `template`;
/// its name.
fn create_database(template: Option<&str>) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "cli{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let template = template.map_or(String::new(), |t| format!(" TEMPLATE {t}"));
    Cluster::shared().sql(&format!("CREATE DATABASE {name}{template} OWNER flags"));
    name
}

/// How a scenario reaches database `name`: as role `flags` over the
/// cluster's socket, which needs no password (a password login costs a
/// slow key derivation in a debug build, per run; database.rs and
/// secrets.rs test logins and that no password is ever printed).
fn socket_url(name: &str) -> String {
    let cluster = Cluster::shared();
    format!(
        "host={} port={} user=flags dbname={name} sslmode=disable",
        cluster.socket_dir().display(),
        cluster.port
    )
}

/// `--init`, then `--import` of `env`'s flag file (and what is beside it).
fn import(name: &str, env: &Env) {
    let url = socket_url(name);
    db(&url, &["--init"]).ok();
    db(&url, &["--import", env.file.to_str().unwrap()]).ok();
}

/// The database the example stores copy: the example imported, and no
/// session left on it (a template being copied may have none). The copies
/// share its `database_id`: a scenario about syncs (which tell databases
/// apart by it) makes its own with `Kind::with`.
fn example_template() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let name = create_database(None);
        import(&name, &Env::new());
        name
    })
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
    /// The database's name in the shared cluster.
    database: Option<String>,
    /// How many history entries the setup wrote.
    setup: usize,
}

impl Store {
    /// The database's URL (password in it).
    pub fn url(&self) -> String {
        Cluster::shared().url_text(self.name())
    }

    fn name(&self) -> &str {
        self.database.as_deref().expect("a database store")
    }

    /// The binary, pointed at this store.
    pub fn cmd(&self) -> Command {
        let mut cmd = bin();
        match &self.database {
            None => cmd.arg("--file").arg(&self.env.file),
            Some(name) => cmd.arg("--database").arg(socket_url(name)),
        };
        cmd
    }

    /// Runs `feature_flags --file FILE|--database URL args...`.
    pub fn run(&self, args: &[&str]) -> Run {
        match &self.database {
            None => self.env.run(args),
            Some(name) => db(&socket_url(name), args),
        }
    }

    /// The flag document (the file's bytes; what `--export` gives).
    pub fn text(&self) -> String {
        self.state().0
    }

    /// The rollouts document, if there is one.
    pub fn rollouts(&self) -> Option<String> {
        self.state().1
    }

    /// The history entries since the setup, as `--history --json` gives
    /// them.
    pub fn history(&self) -> Vec<Value> {
        self.state().2
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
        match &self.database {
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
        assert_eq!(
            after.2.len(),
            before.2.len(),
            "{args:?} wrote to the history"
        );
        let listing = self.env.listing();
        assert!(
            listing.iter().all(|n| may_remain.contains(n)),
            "{args:?} left {listing:?}"
        );
    }

    /// The flags, the rollouts and the history since the setup, read as
    /// the binary reads them (on the database, over the superuser's socket:
    /// a password login costs more than the read).
    fn state(&self) -> (String, Option<String>, Vec<Value>) {
        let (docs, entries) = match &self.database {
            None => {
                let mut file = FileStore::new(&self.env.file);
                let docs = file.read().expect("read the flag file");
                let history = file.history().expect("read the audit log");
                ((docs.flags, docs.rollouts), history.entries)
            }
            Some(name) => {
                let mut admin = Cluster::shared().admin(name);
                let docs = admin.read().expect("read the database");
                let history = admin.history(None, usize::MAX).expect("read the audit");
                ((docs.flags, docs.rollouts), history)
            }
        };
        let history = entries
            .into_iter()
            .skip(self.setup)
            .map(Value::Object)
            .collect();
        (docs.0, docs.1, history)
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
