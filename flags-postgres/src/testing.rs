//! Throwaway PostgreSQL clusters for tests: `initdb` in a temporary folder,
//! a free loopback port, the socket in the folder, run as the `postgres`
//! user when the tests run as root. The superuser `postgres` logs in over
//! the socket without a password; the role `flags` (password
//! [`PASSWORD`], scram) over TCP, so the password paths are exercised.
//!
//! The recipe is `scripts/pg_cluster.py`, shared with the Python tests:
//! each [`Cluster`] is one `python3 scripts/pg_cluster.py serve` process,
//! which prints the cluster's port and folders, runs our commands (stop,
//! start, promote, TLS) and stops the cluster and removes its folder when
//! its standard input closes — on drop, or when the tests' process ends,
//! however it ends.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Database, DatabaseUrl};

/// The test role's password (tests check that it is never printed); the
/// recipe's `PASSWORD` is the same.
pub const PASSWORD: &str = "s3cret-Pw0rd";

/// How long a drop waits for the recipe to stop its cluster (its own
/// `pg_ctl` calls are bounded too).
const STOP_BOUND: Duration = Duration::from_secs(60);

pub struct Cluster {
    pub port: u16,
    /// The cluster's folder: the socket, its log, TLS files.
    dir: PathBuf,
    data: PathBuf,
    recipe: Mutex<Recipe>,
    /// A shared cluster lives until the tests' process ends.
    shared: bool,
}

/// The `serve` process and our ends of its pipes.
struct Recipe {
    child: Child,
    commands: Option<ChildStdin>,
    answers: BufReader<ChildStdout>,
}

impl Recipe {
    fn spawn(args: &[&str]) -> Recipe {
        let mut child = recipe_command()
            .arg("serve")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 {}: {e}", recipe_path().display()));
        Recipe {
            commands: child.stdin.take(),
            answers: BufReader::new(child.stdout.take().expect("stdout")),
            child,
        }
    }

    /// The recipe's next line; panics on its `error` (or its end).
    fn answer(&mut self, what: &str) -> Value {
        let mut line = String::new();
        let read = self.answers.read_line(&mut line);
        let answer: Value = match read {
            Ok(n) if n > 0 => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("pg_cluster.py {what}: {e}: {line}")),
            _ => panic!("pg_cluster.py {what}: it ended without an answer ({read:?})"),
        };
        if let Some(error) = answer.get("error") {
            panic!(
                "pg_cluster.py {what}: {}",
                error.as_str().unwrap_or_default()
            );
        }
        answer
    }

    fn ask(&mut self, command: &str) -> Value {
        let commands = self.commands.as_mut().expect("the recipe's stdin");
        writeln!(commands, "{command}")
            .and_then(|()| commands.flush())
            .unwrap_or_else(|e| panic!("pg_cluster.py {command}: {e}"));
        self.answer(command)
    }

    /// Closes its stdin (it stops the cluster, removes the folder and
    /// exits) and waits, killed after [`STOP_BOUND`].
    fn finish(&mut self) {
        drop(self.commands.take());
        let deadline = Instant::now() + STOP_BOUND;
        while let Ok(None) = self.child.try_wait() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn recipe_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg_cluster.py")
}

fn recipe_command() -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg(recipe_path());
    cmd
}

/// The newest PostgreSQL's binaries: $FLAGS_PG_BIN, else /usr/lib/postgresql/N/bin.
pub fn bin_dir() -> PathBuf {
    let out = recipe_command()
        .arg("bin-dir")
        .stdin(Stdio::null())
        .output()
        .expect("python3 scripts/pg_cluster.py bin-dir");
    assert!(
        out.status.success(),
        "pg_cluster.py bin-dir: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

impl Cluster {
    /// A new primary, started, with role `flags` and database `bot`.
    pub fn start() -> Cluster {
        Cluster::serve(&[])
    }

    /// One cluster for the whole test binary, stopped when the binary exits
    /// (statics are never dropped: the recipe sees its stdin close then).
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        SHARED.get_or_init(|| {
            let mut cluster = Cluster::start();
            cluster.shared = true;
            cluster
        })
    }

    /// A streaming standby of this cluster (`pg_basebackup -R`), started.
    pub fn standby(&self) -> Cluster {
        Cluster::serve(&["--standby-of", path_str(&self.dir), &self.port.to_string()])
    }

    fn serve(args: &[&str]) -> Cluster {
        let mut recipe = Recipe::spawn(args);
        let started = recipe.answer("serve");
        let text = |key: &str| {
            PathBuf::from(
                started[key]
                    .as_str()
                    .unwrap_or_else(|| panic!("pg_cluster.py serve: no {key}")),
            )
        };
        Cluster {
            port: started["port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .expect("pg_cluster.py serve: no port"),
            dir: text("dir"),
            data: text("data"),
            recipe: Mutex::new(recipe),
            shared: false,
        }
    }

    fn ask(&self, command: &str) -> Value {
        self.recipe
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ask(command)
    }

    pub fn data(&self) -> PathBuf {
        self.data.clone()
    }

    /// The socket directory.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The test role's URL over TCP for database `db`, password included.
    pub fn url_text(&self, db: &str) -> String {
        format!(
            "postgres://flags:{PASSWORD}@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    pub fn url(&self, db: &str) -> DatabaseUrl {
        DatabaseUrl::parse(&self.url_text(db)).expect("test URL")
    }

    /// A fresh database owned by `flags` (each test its own), and its URL.
    pub fn new_database(&self) -> DatabaseUrl {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        self.sql(&format!("CREATE DATABASE {name} OWNER flags"));
        self.url(&name)
    }

    /// The superuser over the socket, to database `db`.
    pub fn admin(&self, db: &str) -> Database {
        let url = DatabaseUrl::parse(&format!(
            "host={} port={} user=postgres dbname={db} sslmode=disable",
            self.dir.display(),
            self.port
        ))
        .expect("admin URL");
        Database::connect_with_env(&url, &|_| None).expect("admin connection")
    }

    /// Runs SQL as the superuser in database `postgres`.
    pub fn sql(&self, sql: &str) {
        self.admin("postgres")
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Makes the server TLS-only (`hostnossl … reject`) with a certificate
    /// for `localhost` signed by a new CA made with the openssl command;
    /// restarts it and returns the CA certificate's path.
    pub fn enable_tls(&self) -> PathBuf {
        let answer = self.ask("tls");
        PathBuf::from(answer["ca"].as_str().expect("pg_cluster.py tls: no ca"))
    }

    pub fn promote(&self) {
        self.ask("promote");
    }

    /// An immediate stop (a crash, as far as clients can tell).
    pub fn stop(&self) {
        self.ask("stop");
    }

    /// Starts the server again after [`Cluster::stop`].
    pub fn start_server(&self) {
        self.ask("start");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.shared {
            self.recipe
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .finish();
        }
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}
