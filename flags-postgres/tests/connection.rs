//! The connection layer against real PostgreSQL: deadlines on servers that
//! go silent (no reset, no FIN), the stop flag, and TLS as libpq decides it
//! (the default root certificate file, verify modes without one,
//! `sslrootcert=system`, channel binding).

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

mod common;

use common::{openssl, other_ca, stop_after};
use flags_postgres::testing::{Cluster, PASSWORD};
use flags_postgres::{Database, DatabaseUrl, Error};

/// A TCP proxy to a real server that can be told to go silent: from then on
/// it neither reads, writes nor closes, like a machine that lost power.
struct Forwarder {
    port: u16,
    silent: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

impl Forwarder {
    fn to(target: u16) -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let (s, d) = (Arc::clone(&silent), Arc::clone(&done));
        thread::spawn(move || {
            while !d.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let server = TcpStream::connect(("127.0.0.1", target)).unwrap();
                        for (from, to) in [
                            (client.try_clone().unwrap(), server.try_clone().unwrap()),
                            (server, client),
                        ] {
                            let (s, d) = (Arc::clone(&s), Arc::clone(&d));
                            thread::spawn(move || pump(from, to, &s, &d));
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
        });
        Forwarder { port, silent, done }
    }

    fn go_silent(&self) {
        self.silent.store(true, Ordering::SeqCst);
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, silent: &AtomicBool, done: &AtomicBool) {
    from.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = [0u8; 16384];
    while !done.load(Ordering::SeqCst) {
        if silent.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(20));
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => return,
            // What arrives once silent is lost, as on a dead machine.
            Ok(_) if silent.load(Ordering::SeqCst) => {}
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// A port that accepts TCP connections (the kernel completes them) and
/// never answers.
fn silent_port() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn url(text: &str) -> DatabaseUrl {
    DatabaseUrl::parse_with_env(text, &|_| None).unwrap()
}

fn connect(url: &DatabaseUrl) -> Result<Database, Error> {
    Database::connect_with_env(url, &|_| None)
}

#[test]
fn a_silent_first_host_is_skipped_within_connect_timeout() {
    let cluster = Cluster::shared();
    let (_silent, silent) = silent_port();
    for sslmode in ["disable", "prefer"] {
        let url = url(&format!(
            "host=127.0.0.1,127.0.0.1 port={silent},{} user=flags password={PASSWORD} dbname=bot \
             target_session_attrs=read-write connect_timeout=2 sslmode={sslmode}",
            cluster.port
        ));
        let started = Instant::now();
        let mut db = connect(&url).unwrap();
        let took = started.elapsed();
        assert_eq!(db.host(), format!("127.0.0.1:{}", cluster.port));
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_millis(5000),
            "{sslmode}: {took:?}"
        );
        db.batch_execute("SELECT 1").unwrap();
    }
    // Every host silent: one error naming each, within the timeouts.
    let (_other, other) = silent_port();
    let url = url(&format!(
        "host=127.0.0.1,127.0.0.1 port={silent},{other} user=flags password={PASSWORD} connect_timeout=2"
    ));
    let started = Instant::now();
    let err = connect(&url).unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(6), "{err}");
    assert_eq!(
        err.matches("no connection within connect_timeout (2 s)")
            .count(),
        2,
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");
}

#[test]
fn a_connection_that_goes_silent_fails_within_the_query_deadline() {
    let cluster = Cluster::shared();
    let forwarder = Forwarder::to(cluster.port);
    let url = url(&format!(
        "host=127.0.0.1 port={} user=flags password={PASSWORD} dbname=bot sslmode=disable query_timeout=1",
        forwarder.port
    ));
    let mut db = connect(&url).unwrap();
    db.listen().unwrap();
    let pid = db.backend_pid().unwrap();
    assert!(pid > 0);
    forwarder.go_silent();
    // A notification wait sees nothing (and says so) ...
    assert_eq!(
        db.wait_for_notification(Duration::from_millis(200)),
        Ok(false)
    );
    // ... and the next statement meets its deadline.
    let started = Instant::now();
    let err = db.batch_execute("SELECT 1").unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    assert!(matches!(err, Error::Connect(_)), "{err}");
    assert!(err.to_string().contains("query deadline"), "{err}");
    assert!(db.is_closed());
    // The connection is gone: later calls fail at once.
    let started = Instant::now();
    assert!(db.batch_execute("SELECT 1").is_err());
    assert!(db.wait_for_notification(Duration::from_secs(5)).is_err());
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[test]
fn a_transaction_on_a_silent_connection_fails_within_the_deadline() {
    let cluster = Cluster::shared();
    let name = format!("conn_tx_{}", std::process::id());
    cluster.sql(&format!("CREATE DATABASE {name} OWNER flags"));
    let forwarder = Forwarder::to(cluster.port);
    let url = url(&format!(
        "host=127.0.0.1 port={} user=flags password={PASSWORD} dbname={name} sslmode=disable query_timeout=1",
        forwarder.port
    ));
    let mut db = connect(&url).unwrap();
    db.init().unwrap();
    db.import(r#"{"version": 1, "flags": {}}"#, None, &[])
        .unwrap();
    let started = Instant::now();
    let err = db
        .edit(|_| {
            forwarder.go_silent();
            Ok::<_, Error>((
                Some(flags_postgres::Update {
                    flags: Some("changed".into()),
                    ..Default::default()
                }),
                (),
            ))
        })
        .unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err}");
    assert!(started.elapsed() < Duration::from_millis(3500));
    assert!(db.is_closed());
}

#[test]
fn stop_ends_a_connection_attempt_at_once() {
    let (_silent, silent) = silent_port();
    let url = url(&format!(
        "host=127.0.0.1 port={silent} user=flags password={PASSWORD} connect_timeout=30"
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let setter = stop_after(&stop, Duration::from_millis(300));
    let started = Instant::now();
    let err = Database::connect_with_stop(&url, stop).unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(1000), "{err}");
    assert!(err.to_string().contains("interrupted"), "{err}");
    setter.join().unwrap();
}

#[test]
fn stop_ends_a_wait_on_a_silent_connection() {
    let cluster = Cluster::shared();
    let forwarder = Forwarder::to(cluster.port);
    let url = url(&format!(
        "host=127.0.0.1 port={} user=flags password={PASSWORD} dbname=bot sslmode=disable query_timeout=30",
        forwarder.port
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let mut db = Database::connect_with_stop(&url, Arc::clone(&stop)).unwrap();
    forwarder.go_silent();
    let setter = stop_after(&stop, Duration::from_millis(300));
    let started = Instant::now();
    assert!(db.batch_execute("SELECT 1").is_err());
    assert!(started.elapsed() < Duration::from_millis(1000));
    setter.join().unwrap();
}

/// A home directory whose `.postgresql/root.crt` is `root` (or missing).
fn home_with(root: Option<&Path>) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    if let Some(root) = root {
        std::fs::create_dir(home.path().join(".postgresql")).unwrap();
        std::fs::copy(root, home.path().join(".postgresql/root.crt")).unwrap();
    }
    home
}

/// Each sslmode with and without `~/.postgresql/root.crt`, as libpq decides.
#[test]
fn tls_follows_libpq_with_the_default_root_file() {
    let cluster = Cluster::start();
    let ca = cluster.enable_tls();
    let dir = tempfile::tempdir().unwrap();
    let other = other_ca(dir.path());
    let none = home_with(None);
    let ours = home_with(Some(&ca));
    let wrong = home_with(Some(&other));
    let try_with = |home: &tempfile::TempDir, host: &str, settings: &str| {
        let home = home.path().display().to_string();
        let env = move |k: &str| (k == "HOME").then(|| home.clone());
        let url = DatabaseUrl::parse_with_env(
            &format!(
                "host={host} port={} user=flags password={PASSWORD} dbname=bot connect_timeout=5 {settings}",
                cluster.port
            ),
            &env,
        )
        .unwrap();
        Database::connect_with_env(&url, &env)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    // (home, host, settings, outcome: Ok, or words of the error)
    let cases: Vec<(&tempfile::TempDir, &str, &str, Result<(), &str>)> = vec![
        (&none, "127.0.0.1", "sslmode=require", Ok(())),
        (&none, "127.0.0.1", "sslmode=prefer", Ok(())),
        (&wrong, "127.0.0.1", "sslmode=require", Err("certificate")),
        (&wrong, "127.0.0.1", "sslmode=prefer", Err("certificate")),
        (&ours, "127.0.0.1", "sslmode=require", Ok(())),
        (&ours, "127.0.0.1", "sslmode=verify-ca", Ok(())),
        (&ours, "localhost", "sslmode=verify-full", Ok(())),
        (
            &ours,
            "127.0.0.1",
            "sslmode=verify-full",
            Err("certificate"),
        ),
        (
            &none,
            "127.0.0.1",
            "sslmode=verify-ca",
            Err(".postgresql/root.crt\" does not exist"),
        ),
        (
            &none,
            "localhost",
            "sslmode=verify-full",
            Err(".postgresql/root.crt\" does not exist"),
        ),
        (
            &none,
            "127.0.0.1",
            "sslmode=require sslrootcert=/nonexistent/ca.pem",
            Err("\"/nonexistent/ca.pem\" does not exist"),
        ),
        // The test CA is in no operating system's store.
        (&ours, "localhost", "sslrootcert=system", Err("certificate")),
        (
            &ours,
            "localhost",
            "sslmode=verify-full channel_binding=require",
            Ok(()),
        ),
    ];
    for (home, host, settings, outcome) in cases {
        let got = try_with(home, host, settings);
        match (&got, outcome) {
            (Ok(()), Ok(())) => {}
            (Err(e), Err(words)) => assert!(e.contains(words), "{host} {settings}: {e}"),
            _ => panic!("{host} {settings}: {got:?}, expected {outcome:?}"),
        }
        if let Err(e) = &got {
            assert!(!e.contains(PASSWORD), "{e}");
        }
    }
    // No TLS over a Unix socket, whatever the mode (as libpq).
    let socket = DatabaseUrl::parse_with_env(
        &format!(
            "host={} port={} user=postgres dbname=postgres sslmode=require",
            cluster.socket_dir().display(),
            cluster.port
        ),
        &|_| None,
    )
    .unwrap();
    Database::connect_with_env(&socket, &|_| None).unwrap();
    // The named file beats the default one.
    let ca = ca.display().to_string();
    assert_eq!(
        try_with(
            &wrong,
            "localhost",
            &format!("sslmode=verify-full sslrootcert={ca}")
        ),
        Ok(())
    );
}

/// Client certificates, as libpq sends them: `sslcert`/`sslkey`, else the
/// default files under `~/.postgresql`, against a server that requires a
/// certificate (`cert` authentication) for role `certuser`.
#[test]
fn a_client_certificate_is_sent_as_libpq_sends_it() {
    use std::os::unix::fs::PermissionsExt;
    let cluster = Cluster::start();
    let ca = cluster.enable_tls();
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = ca.parent().unwrap();
    // Extensions make it an X.509 v3 certificate (rustls takes no v1).
    std::fs::write(
        dir.path().join("client.ext"),
        "extendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    let ca_key = ca_dir.join("ca.key").display().to_string();
    let ca_crt = ca.display().to_string();
    openssl(
        dir.path(),
        &[
            "req",
            "-new",
            "-subj",
            "/CN=certuser",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "client.key",
            "-out",
            "client.csr",
        ],
    );
    openssl(
        dir.path(),
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            &ca_crt,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "client.ext",
            "-out",
            "client.crt",
        ],
    );
    let (cert, key) = (dir.path().join("client.crt"), dir.path().join("client.key"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The server asks for certificates signed by the CA, and certuser must
    // present one.
    let data = cluster.data();
    let mut conf = std::fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .unwrap();
    writeln!(conf, "ssl_ca_file = '{ca_crt}'").unwrap();
    let hba = data.join("pg_hba.conf");
    let rest = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!("hostssl all certuser 127.0.0.1/32 cert\n{rest}"),
    )
    .unwrap();
    cluster.sql("CREATE ROLE certuser LOGIN");
    cluster.sql("SELECT pg_reload_conf()");
    let home_with_cert = tempfile::tempdir().unwrap();
    let pg = home_with_cert.path().join(".postgresql");
    std::fs::create_dir(&pg).unwrap();
    std::fs::copy(&cert, pg.join("postgresql.crt")).unwrap();
    std::fs::copy(&key, pg.join("postgresql.key")).unwrap();
    std::fs::set_permissions(
        pg.join("postgresql.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let empty_home = tempfile::tempdir().unwrap();
    let try_with = |home: &Path, settings: &str| {
        let home = home.display().to_string();
        let env = move |k: &str| (k == "HOME").then(|| home.clone());
        let url = DatabaseUrl::parse_with_env(
            &format!(
                "host=localhost port={} user=certuser dbname=postgres sslmode=verify-full \
                 sslrootcert={ca_crt} connect_timeout=5 {settings}",
                cluster.port
            ),
            &env,
        )
        .unwrap();
        Database::connect_with_env(&url, &env)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let named = format!("sslcert={} sslkey={}", cert.display(), key.display());
    assert_eq!(try_with(empty_home.path(), &named), Ok(()));
    assert_eq!(try_with(home_with_cert.path(), ""), Ok(()));
    let err = try_with(empty_home.path(), "").unwrap_err();
    assert!(err.contains("certificate"), "{err}");
    let err = try_with(empty_home.path(), "sslcert=/nonexistent/c.crt").unwrap_err();
    assert!(
        err.contains("\"/nonexistent/c.crt\" does not exist"),
        "{err}"
    );
    let err = try_with(empty_home.path(), &format!("sslcert={}", cert.display())).unwrap_err();
    assert!(err.contains("not private key file"), "{err}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = try_with(empty_home.path(), &named).unwrap_err();
    assert!(err.contains("has group or world access"), "{err}");
}
