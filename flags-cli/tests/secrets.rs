//! No password in any output: a corpus of malformed connection strings
//! (mistyped schemes, unencoded `/ ? # @` in a URL password, unquoted spaces
//! in a `key=value` password, bad values next to a password), each run
//! through every command that takes `--database` (and once through
//! `$FEATURE_FLAGS_DATABASE_URL`); the password's two halves are searched
//! for in stdout and stderr. Then the password file as libpq reads it, and
//! `sslrootcert=system` through the real binary.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flags_postgres::testing::{Cluster, PASSWORD};

use crate::util::{EXAMPLE, bin};

/// The password's halves: a typo may split it at any separator.
const HEAD: &str = "Zk7Qw9";
const TAIL: &str = "Rt5Vb2";

/// (connection string, what it gets wrong). `{P}` is the password, `{H}`
/// and `{T}` its halves.
const CORPUS: &[(&str, &str)] = &[
    ("postgres:/flags:{P}@db1/bot", "one slash missing"),
    ("postgresql:flags:{P}@db1/bot", "no slashes"),
    ("postgres//flags:{P}@db1/bot", "no colon"),
    ("postgres:///flags:{P}@db1/bot", "three slashes"),
    ("postgress://flags:{P}@db1/bot", "misspelt scheme"),
    ("POSTGRES://flags:{P}@db1/bot", "upper-case scheme"),
    ("http://flags:{P}@db1/bot", "another scheme"),
    (
        "mysql://flags:{P}@db1:3306/bot",
        "another database's scheme",
    ),
    ("flags:{P}@db1/bot", "no scheme"),
    ("//flags:{P}@db1/bot", "scheme left out"),
    (" postgres ://flags:{P}@db1/bot", "a space in the scheme"),
    (
        "postgres://flags:{H}/{T}@db1/bot",
        "unencoded / in the password",
    ),
    (
        "postgres://flags:12345/{H}{T}@db1:5432/bot",
        "base64-like password with /",
    ),
    (
        "postgres://flags:{H}?{T}@db1/bot",
        "unencoded ? in the password",
    ),
    (
        "postgres://flags:{H}#{T}@db1/bot",
        "unencoded # in the password",
    ),
    (
        "postgres://flags:{H}@{T}@db1/bot",
        "unencoded @ in the password",
    ),
    (
        "postgres://flags:{H}%{T}@db1/bot",
        "a bare % in the password",
    ),
    ("postgres://flags:{P}%zz@db1/bot", "a bad %-escape"),
    (
        "postgres://flags:{P}@db1:54x32/bot",
        "a port that is no number",
    ),
    ("postgres://flags:{P}@[::1/bot", "IPv6 host without ]"),
    (
        "postgres://flags:{P}@db1/bot?sslmode=sometimes",
        "bad sslmode",
    ),
    (
        "postgres://flags:{P}@db1/bot?{H}",
        "a query parameter without =",
    ),
    ("postgres://flags:{P}@db1/bot?{H}={T}", "an unknown key"),
    (
        "postgres://flags:{P}@db1/bot?connect_timeout={H}",
        "a bad timeout",
    ),
    (
        "postgres://flags:{P}@db1/bot?sslmode%3Ddisable%20x=1",
        "a key holding =",
    ),
    (
        "postgres://flags:{P}@db1/bot?sslrootcert=system&sslmode=require",
        "weak sslmode with system roots",
    ),
    (
        "postgres://flags:{P}@db1/bot?target_session_attrs=primary",
        "unsupported attrs",
    ),
    (
        "host=db1 user=flags password={H} {T} dbname=bot",
        "unquoted space in the password",
    ),
    (
        "host=db1 user=flags password={H} {T}=x dbname=bot",
        "unquoted space, then =",
    ),
    (
        "host=db1 user=flags password='{H} {T} dbname=bot",
        "unclosed quote",
    ),
    (
        "host=db1 password = {H} {T}",
        "spaces around = and in the password",
    ),
    ("password:{P} host=db1", "colon for ="),
    ("host=db1 password={P} sslmode={H}", "a bad value"),
    ("host=db1 password={P} hostaddr=10.0.0.1", "unsupported key"),
    (
        "host=db1,db2,db3 port=1,2 password={P}",
        "more hosts than ports",
    ),
    ("host=db1 password={P} query_timeout=0", "a zero deadline"),
    ("host=db1 password={P} {H}", "a trailing word"),
];

/// Every command that takes --database, with its other arguments.
fn commands(dir: &Path) -> Vec<Vec<String>> {
    let file = dir.join("flags.json");
    let import = dir.join("import.json");
    std::fs::write(&import, EXAMPLE).unwrap();
    let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let path = |p: &Path| p.display().to_string();
    vec![
        s(&["--init"]),
        s(&["--import", &path(&import)]),
        s(&["--import", &path(&import), "--replace"]),
        s(&["--export"]),
        s(&["--list"]),
        s(&["--check"]),
        s(&["--history"]),
        s(&["--status"]),
        s(&["--feature", "new_gpt_model"]),
        s(&["--feature", "new_gpt_model", "--explain", "--user", "1"]),
        s(&["--feature", "new_gpt_model", "--percentage", "50"]),
        s(&["--feature", "brand_new", "--create"]),
        s(&["--feature", "voice_replies", "--delete"]),
        s(&["--group", "beta_testers", "--add-user", "5"]),
        s(&["--feature", "new_gpt_model", "--abort"]),
        s(&["--sync", "--file", &path(&file)]),
        s(&[
            "--guard",
            "--prometheus",
            "http://127.0.0.1:1",
            "--selector",
            "{}",
            "--once",
        ]),
    ]
}

/// Runs `cmd` for at most `limit` (a sync runs until stopped), returning
/// stdout and stderr together.
fn output(mut cmd: Command, limit: Duration) -> String {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait().unwrap();
    let mut text = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn fill(template: &str) -> String {
    template
        .replace("{P}", &format!("{HEAD}{TAIL}"))
        .replace("{H}", HEAD)
        .replace("{T}", TAIL)
}

fn assert_no_secret(text: &str, what: &str) {
    assert!(
        !text.contains(HEAD) && !text.contains(TAIL),
        "{what} printed the password: {text}"
    );
}

#[test]
fn no_malformed_connection_string_prints_its_password() {
    assert!(CORPUS.len() >= 30);
    let dir = tempfile::tempdir().unwrap();
    let commands = commands(dir.path());
    let mut runs = 0;
    for (template, what) in CORPUS {
        let url = fill(template);
        for args in &commands {
            let mut cmd = bin();
            cmd.current_dir(dir.path())
                .arg("--database")
                .arg(&url)
                .args(args);
            let text = output(cmd, Duration::from_secs(10));
            assert_no_secret(&text, &format!("{what} ({template}) with {args:?}"));
            // Refused as a usage error, before any connection.
            assert!(
                text.contains("--database"),
                "{what} with {args:?}: no message about --database: {text}"
            );
            runs += 1;
        }
        let mut cmd = bin();
        cmd.current_dir(dir.path())
            .env("FEATURE_FLAGS_DATABASE_URL", &url)
            .arg("--list");
        assert_no_secret(
            &output(cmd, Duration::from_secs(10)),
            &format!("{what} from the environment"),
        );
    }
    assert_eq!(runs, CORPUS.len() * commands.len());
}

/// A well-formed string whose server cannot be reached: the connection
/// errors (each command's, and the sync's retries) hold no password either.
#[test]
fn unreachable_databases_print_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let nobody = flags_postgres::testing::free_port();
    for template in [
        "postgres://flags:{P}@127.0.0.1:NOBODY/bot?connect_timeout=2",
        "host=127.0.0.1 port=NOBODY user=flags password='{H} {T}' connect_timeout=2",
    ] {
        let url = fill(template).replace("NOBODY", &nobody.to_string());
        for args in commands(dir.path()) {
            let mut cmd = bin();
            cmd.current_dir(dir.path())
                .arg("--database")
                .arg(&url)
                .args(&args);
            let text = output(cmd, Duration::from_secs(3));
            assert_no_secret(&text, &format!("{template} with {args:?}"));
        }
    }
}

/// libpq's rules for the password file: used when the string has no (or
/// an empty) password; ignored with libpq's warning when others can read it.
#[test]
fn the_password_file_is_read_as_libpq_reads_it() {
    use std::os::unix::fs::PermissionsExt;
    let cluster = Cluster::shared();
    let home = tempfile::tempdir().unwrap();
    let pgpass = home.path().join(".pgpass");
    std::fs::write(
        &pgpass,
        format!("127.0.0.1:{}:*:flags:{PASSWORD}\n", cluster.port),
    )
    .unwrap();
    let run = |url: &str| {
        let mut cmd = bin();
        cmd.env("HOME", home.path())
            .env_remove("PGPASSFILE")
            .current_dir(home.path())
            .args(["--database", url, "--init"]);
        output(cmd, Duration::from_secs(20))
    };
    let port = cluster.port;
    for url in [
        format!("postgres://flags@127.0.0.1:{port}/bot?sslmode=disable"),
        format!("postgres://flags:@127.0.0.1:{port}/bot?sslmode=disable"),
        format!("host=127.0.0.1 port={port} user=flags password='' dbname=bot sslmode=disable"),
    ] {
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
        let text = run(&url);
        assert!(text.contains("feature_flags"), "{url}: {text}");
        assert!(!text.contains("error"), "{url}: {text}");
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
        let text = run(&url);
        let warning = format!(
            "WARNING: password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
            pgpass.display()
        );
        assert!(text.contains(&warning), "{url}: {text}");
        assert!(text.contains("cannot connect"), "{url}: {text}");
        assert!(!text.contains(PASSWORD), "{text}");
    }
}

/// `sslrootcert=system` reads the operating system's store (here made of
/// the test CA through SSL_CERT_FILE, as OpenSSL allows) and checks the
/// host name; $PGSSLMODE is honoured.
#[test]
fn the_system_store_and_pgsslmode_through_the_binary() {
    let cluster = Cluster::start();
    let ca = cluster.enable_tls();
    let home = tempfile::tempdir().unwrap();
    let run = |host: &str, env: &[(&str, &Path)], pgsslmode: Option<&str>| {
        let mut cmd = bin();
        cmd.env("HOME", home.path())
            .env_remove("SSL_CERT_DIR")
            .env_remove("SSL_CERT_FILE")
            .env_remove("PGSSLMODE")
            .current_dir(home.path())
            .args([
                "--database",
                &format!(
                    "host={host} port={} user=flags password={PASSWORD} dbname=bot connect_timeout=5{}",
                    cluster.port,
                    if pgsslmode.is_some() { "" } else { " sslrootcert=system" }
                ),
                "--init",
            ]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(mode) = pgsslmode {
            cmd.env("PGSSLMODE", mode);
        }
        output(cmd, Duration::from_secs(20))
    };
    let empty = home.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let ok = run("localhost", &[("SSL_CERT_FILE", &ca)], None);
    assert!(!ok.contains("error"), "{ok}");
    // The name is checked (the certificate names localhost only).
    let wrong_name = run("127.0.0.1", &[("SSL_CERT_FILE", &ca)], None);
    assert!(wrong_name.contains("certificate"), "{wrong_name}");
    // A store without the test CA does not trust it.
    let other = run("localhost", &[], None);
    assert!(other.contains("cannot connect"), "{other}");
    // The server refuses plain connections: PGSSLMODE=disable is obeyed.
    let plain = run("localhost", &[], Some("disable"));
    assert!(plain.contains("no encryption"), "{plain}");
    let verify = run("localhost", &[], Some("verify-ca"));
    assert!(
        verify.contains(".postgresql/root.crt\" does not exist"),
        "{verify}"
    );
    for text in [ok, wrong_name, other, plain, verify] {
        assert!(!text.contains(PASSWORD), "{text}");
    }
}
