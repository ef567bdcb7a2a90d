//! Throwaway PostgreSQL clusters for tests: `initdb` in a temporary folder,
//! a free loopback port, the socket in the folder, run as the `postgres`
//! user when the tests run as root. The superuser `postgres` logs in over
//! the socket without a password; the role `flags` (password
//! [`PASSWORD`], scram) over TCP, so the password paths are exercised.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Database, DatabaseUrl};

/// The test role's password (tests check that it is never printed).
pub const PASSWORD: &str = "s3cret-Pw0rd";

pub struct Cluster {
    dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    as_postgres: bool,
    name: String,
    /// A shared cluster is stopped by its watchdog when the tests exit.
    shared: bool,
}

/// The newest PostgreSQL's binaries: $FLAGS_PG_BIN, else /usr/lib/postgresql/N/bin.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLAGS_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (/usr/lib/postgresql)")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, p)| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("no /usr/lib/postgresql/*/bin/initdb")
        .1
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
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
        let dir = tempfile::Builder::new()
            .prefix("flags-pg-")
            .tempdir()
            .expect("tempdir");
        let cluster = Cluster {
            dir,
            port: free_port(),
            bin: bin_dir(),
            as_postgres: running_as_root(),
            name: "primary".into(),
            shared: false,
        };
        if cluster.as_postgres {
            cluster.chown(cluster.dir.path());
        }
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        // fsync off is safe against a killed server (the OS keeps the
        // writes); synchronous_commit stays on so that a stop loses nothing.
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nfull_page_writes = off\n\
             shared_buffers = 16MB\nmax_connections = 60\nwal_level = replica\n\
             max_wal_senders = 4\nlog_min_messages = warning\n",
            cluster.dir.path().display()
        );
        append(&data.join("postgresql.conf"), &conf);
        append(
            &data.join("pg_hba.conf"),
            "host replication all 127.0.0.1/32 scram-sha-256\n",
        );
        cluster.start_server();
        cluster.sql(&format!("CREATE ROLE flags LOGIN PASSWORD '{PASSWORD}'"));
        cluster.sql("CREATE DATABASE bot OWNER flags");
        cluster
    }

    /// One cluster for the whole test binary, stopped when the binary exits
    /// (statics are never dropped, so a watchdog process waits for ours).
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        SHARED.get_or_init(|| {
            let mut cluster = Cluster::start();
            cluster.shared = true;
            let stop = format!(
                "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {cmd}; rm -rf '{dir}'",
                pid = std::process::id(),
                cmd = cluster.stop_command(),
                dir = cluster.dir.path().display()
            );
            // The watchdog outlives this process by design: nobody waits for it.
            #[allow(clippy::zombie_processes)]
            Command::new("sh")
                .args(["-c", &stop])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("watchdog");
            cluster
        })
    }

    /// A streaming standby of this cluster (`pg_basebackup -R`), started.
    pub fn standby(&self) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("flags-pg-standby-")
            .tempdir()
            .expect("tempdir");
        let standby = Cluster {
            dir,
            port: free_port(),
            bin: self.bin.clone(),
            as_postgres: self.as_postgres,
            name: "standby".into(),
            shared: false,
        };
        if standby.as_postgres {
            standby.chown(standby.dir.path());
        }
        let port = self.port.to_string();
        standby.run(
            "pg_basebackup",
            &[
                "-h",
                path_str(self.dir.path()),
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                path_str(&standby.data()),
                "-R",
                "-X",
                "stream",
                // A spread checkpoint would take minutes.
                "--checkpoint=fast",
                "--no-sync",
            ],
        );
        append(
            &standby.data().join("postgresql.conf"),
            &format!(
                "\nunix_socket_directories = '{}'\n",
                standby.dir.path().display()
            ),
        );
        standby.start_server();
        standby
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The socket directory.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
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
            self.dir.path().display(),
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
        let dir = self.dir.path();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("the openssl command");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &[
                    "req",
                    "-x509",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=flags test CA",
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.crt",
                ][..],
                &ec[..],
            ]
            .concat(),
        );
        openssl(
            &[
                &[
                    "req",
                    "-new",
                    "-subj",
                    "/CN=localhost",
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                ][..],
                &ec[..],
            ]
            .concat(),
        );
        std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").expect("san.ext");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ]);
        let data = self.data();
        for name in ["server.crt", "server.key"] {
            std::fs::copy(dir.join(name), data.join(name)).expect("copy certificate");
        }
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                data.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .expect("chmod key");
        }
        if self.as_postgres {
            self.chown(&data);
        }
        append(&data.join("postgresql.conf"), "ssl = on\n");
        let hba = data.join("pg_hba.conf");
        let rest = std::fs::read_to_string(&hba).expect("pg_hba.conf");
        std::fs::write(
            &hba,
            format!("hostnossl all all 127.0.0.1/32 reject\n{rest}"),
        )
        .expect("pg_hba.conf");
        self.stop();
        self.start_server();
        dir.join("ca.crt")
    }

    pub fn promote(&self) {
        self.run(
            "pg_ctl",
            &["-D", path_str(&self.data()), "-w", "-t", "30", "promote"],
        );
    }

    pub fn stop(&self) {
        let _ = self
            .command(
                "pg_ctl",
                &[
                    "-D",
                    path_str(&self.data()),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Starts the server again after [`Cluster::stop`].
    pub fn start_server(&self) {
        let log = self.dir.path().join(format!("{}.log", self.name));
        let opts = format!("-p {}", self.port);
        self.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&self.data()),
                "-l",
                path_str(&log),
                "-o",
                &opts,
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
    }

    fn stop_command(&self) -> String {
        let pg_ctl = self.bin.join("pg_ctl");
        let cmd = format!(
            "'{}' -D '{}' -m immediate -w stop",
            pg_ctl.display(),
            self.data().display()
        );
        if self.as_postgres {
            format!("runuser -u postgres -- {cmd}")
        } else {
            cmd
        }
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program, args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn chown(&self, path: &Path) {
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "chown {}", path.display());
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.shared {
            self.stop();
        }
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(text.as_bytes()).expect("append");
}
