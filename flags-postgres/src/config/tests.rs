use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<DatabaseUrl, Error> {
    DatabaseUrl::parse_with_env(text, &no_env)
}

#[test]
fn urls_and_keyword_strings_parse_alike() {
    let a =
        parse("postgres://flags:s%40cret@db1:5433,db2:5434/bot?target_session_attrs=read-write")
            .unwrap();
    let b = parse(
        "host=db1,db2 port=5433,5434 user=flags password='s@cret' dbname=bot target_session_attrs=read-write",
    )
    .unwrap();
    for u in [&a, &b] {
        assert_eq!(u.hosts, ["db1", "db2"]);
        assert_eq!(u.ports, [5433, 5434]);
        assert_eq!((u.user.as_str(), u.dbname.as_str()), ("flags", "bot"));
        assert_eq!(u.password_for(1, &no_env).as_deref(), Some("s@cret"));
        assert_eq!(u.session_attrs, SessionAttrs::ReadWrite);
        assert_eq!(
            u.masked(),
            "postgres://flags:***@db1:5433,db2:5434/bot?target_session_attrs=read-write"
        );
    }
    let v6 = parse("postgresql://[::1]:6000/x?sslmode=require").unwrap();
    assert_eq!((v6.hosts[0].as_str(), v6.ports[0]), ("::1", 6000));
    assert_eq!(v6.sslmode, SslMode::Require);
    let socket = parse("postgres://u@%2Ftmp%2Fsock/d").unwrap();
    assert_eq!(socket.hosts, ["/tmp/sock"]);
    let quoted = parse(r"user=a password='it\'s \\ x' dbname = 'my db'").unwrap();
    assert_eq!(
        quoted.password_for(0, &no_env).as_deref(),
        Some(r"it's \ x")
    );
    assert_eq!(quoted.dbname, "my db");
}

#[test]
fn bad_settings_are_refused_without_the_password() {
    for (bad, expected) in [
        (
            "postgres://u:hunter2@h/d?sslmode=sometimes",
            "sslmode (the URL's query parameter 1)",
        ),
        (
            "postgres://u:hunter2@h/d?nonsense=1",
            "query parameter 1: not a connection setting",
        ),
        (
            "postgres://u:hunter2@h:notaport/d",
            "port 1 of the port list",
        ),
        (
            "host=h1,h2,h3 port=1,2 password=hunter2",
            "3 hosts but 2 ports",
        ),
        (
            "postgres://u:hunter2@h/d?target_session_attrs=writer",
            "target_session_attrs",
        ),
        (
            "host=h password=hunter2 hostaddr=1.2.3.4",
            "hostaddr (the setting at character 25)",
        ),
        ("host=h password=hunter2 sslpassword=x", "sslpassword"),
        ("user=u password='hunter2", "closing quote"),
        ("mysql://u:hunter2@h/d", "neither a URL"),
        ("password=hunter2 connect_timeout=soon", "connect_timeout"),
        ("password=hunter2 query_timeout=0", "query_timeout"),
        ("password=hunter2 gssencmode=require", "GSSAPI"),
    ] {
        let err = parse(bad).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{bad}: {err}");
        assert!(err.contains(expected), "{bad}: {err}");
    }
    let url = parse("postgres://u:hunter2@h/d").unwrap();
    assert!(!format!("{url} {url:?}").contains("hunter2"));
}

/// libpq's order: the string's value, else the environment variable, else
/// the default.
#[test]
fn environment_variables_fill_what_the_string_leaves_out() {
    let env = |k: &str| {
        Some(
            match k {
                "PGHOST" => "envhost",
                "PGPORT" => "6000",
                "PGUSER" => "envuser",
                "PGDATABASE" => "envdb",
                "PGSSLMODE" => "verify-ca",
                "PGSSLROOTCERT" => "/etc/ca.pem",
                "PGCONNECT_TIMEOUT" => "3",
                "PGTARGETSESSIONATTRS" => "read-write",
                "PGAPPNAME" => "envapp",
                "PGCHANNELBINDING" => "require",
                _ => return None,
            }
            .to_owned(),
        )
    };
    let from_env = DatabaseUrl::parse_with_env("", &env).unwrap();
    assert_eq!(from_env.hosts, ["envhost"]);
    assert_eq!(from_env.ports, [6000]);
    assert_eq!(
        (from_env.user.as_str(), from_env.dbname.as_str()),
        ("envuser", "envdb")
    );
    assert_eq!(from_env.sslmode, SslMode::VerifyCa);
    assert_eq!(from_env.sslrootcert.as_deref(), Some("/etc/ca.pem"));
    assert_eq!(from_env.connect_timeout, Duration::from_secs(3));
    assert_eq!(from_env.session_attrs, SessionAttrs::ReadWrite);
    assert_eq!(from_env.application_name.as_deref(), Some("envapp"));
    let given = DatabaseUrl::parse_with_env(
        "postgres://u@h:7000/d?sslmode=disable&connect_timeout=20&application_name=mine",
        &env,
    )
    .unwrap();
    assert_eq!((given.hosts[0].as_str(), given.ports[0]), ("h", 7000));
    assert_eq!((given.user.as_str(), given.dbname.as_str()), ("u", "d"));
    assert_eq!(given.sslmode, SslMode::Disable);
    assert_eq!(given.connect_timeout, Duration::from_secs(20));
    assert_eq!(given.application_name.as_deref(), Some("mine"));
    assert_eq!(given.sslrootcert.as_deref(), Some("/etc/ca.pem"));
    let bad_env = |k: &str| (k == "PGSSLMODE").then(|| "sometimes".to_owned());
    let err = DatabaseUrl::parse_with_env("host=h", &bad_env).unwrap_err();
    assert!(err.to_string().contains("$PGSSLMODE"), "{err}");
    let service = |k: &str| (k == "PGSERVICE").then(|| "prod".to_owned());
    let err = DatabaseUrl::parse_with_env("host=h", &service).unwrap_err();
    assert!(err.to_string().contains("$PGSERVICE is set"), "{err}");
}

/// The modes that sslrootcert=system allows, as libpq decides them.
#[test]
fn the_system_store_implies_verify_full() {
    for (text, outcome) in [
        ("host=h sslrootcert=system", Ok(SslMode::VerifyFull)),
        (
            "host=h sslrootcert=system sslmode=verify-full",
            Ok(SslMode::VerifyFull),
        ),
        (
            "host=h sslrootcert=system sslmode=verify-ca",
            Err("weak sslmode \"verify-ca\""),
        ),
        (
            "host=h sslrootcert=system sslmode=require",
            Err("weak sslmode \"require\""),
        ),
        (
            "host=h sslrootcert=system sslmode=disable",
            Err("weak sslmode \"disable\""),
        ),
        ("host=h sslrootcert=/ca.pem", Ok(SslMode::Prefer)),
        ("host=h", Ok(SslMode::Prefer)),
    ] {
        match (parse(text), outcome) {
            (Ok(url), Ok(mode)) => assert_eq!(url.sslmode, mode, "{text}"),
            (Err(e), Err(words)) => assert!(e.to_string().contains(words), "{text}: {e}"),
            (got, want) => panic!("{text}: {got:?}, expected {want:?}"),
        }
    }
    let env = |k: &str| (k == "PGSSLMODE").then(|| "require".to_owned());
    assert!(DatabaseUrl::parse_with_env("host=h sslrootcert=system", &env).is_err());
}

/// No value can set another key: whatever a value holds (quotes, spaces,
/// `&`, `=`, backslashes) stays that key's value.
#[test]
fn no_value_sets_another_key() {
    let url = parse(
        "postgres://u@h/d?application_name=x%27%20sslmode%3D%27disable&options=-c%20a%3Db%20sslmode=disable",
    );
    // `sslmode=disable` inside options is text; the second `sslmode` key is
    // not there (the & split), so the mode stays the default.
    let url = url.unwrap();
    assert_eq!(url.sslmode, SslMode::Prefer);
    assert_eq!(url.application_name.as_deref(), Some("x' sslmode='disable"));
    assert_eq!(url.options.as_deref(), Some("-c a=b sslmode=disable"));
    let config = url.config(0, None);
    assert_eq!(config.get_ssl_mode(), postgres::config::SslMode::Prefer);
    assert_eq!(config.get_application_name(), Some("x' sslmode='disable"));
    // A key that holds `=` and a space is no key at all.
    let err = parse("postgres://u@h/d?sslmode%3Ddisable%20x=1").unwrap_err();
    assert!(
        err.to_string().contains("not a connection setting"),
        "{err}"
    );
    let kw = parse(
        r"host=h application_name='a\' sslmode=\'disable' sslmode=verify-full sslrootcert=/c",
    )
    .unwrap();
    assert_eq!(kw.sslmode, SslMode::VerifyFull);
    assert_eq!(kw.application_name.as_deref(), Some("a' sslmode='disable"));
    // The masked form parses back to the same settings.
    let again = parse(&kw.masked()).unwrap();
    assert_eq!(again.application_name, kw.application_name);
    assert_eq!(again.sslmode, SslMode::VerifyFull);
}

#[test]
fn deadlines_come_from_the_settings() {
    let url = parse("host=h").unwrap();
    assert_eq!(url.connect_timeout(), DEFAULT_CONNECT_TIMEOUT);
    assert_eq!(url.query_timeout(), DEFAULT_QUERY_TIMEOUT);
    let mut url = parse("host=h connect_timeout=1 query_timeout=3").unwrap();
    assert_eq!(
        url.connect_timeout(),
        Duration::from_secs(2),
        "libpq: 1 means 2"
    );
    assert_eq!(url.query_timeout(), Duration::from_secs(3));
    url.set_query_timeout(Duration::ZERO);
    assert_eq!(url.query_timeout(), Duration::from_secs(1));
    assert_eq!(
        parse("host=h connect_timeout=0").unwrap().connect_timeout(),
        DEFAULT_CONNECT_TIMEOUT
    );
    assert!(url.masked().contains("query_timeout=3"));
}

#[test]
fn an_empty_password_is_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgpass");
    std::fs::write(&file, "*:*:*:*:from-file\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let f = file.display().to_string();
    let env = |k: &str| (k == "PGPASSFILE").then(|| f.clone());
    for text in [
        "postgres://flags:@h/bot",
        "host=h user=flags password='' dbname=bot",
    ] {
        let url = parse(text).unwrap();
        assert_eq!(
            url.password_for(0, &env).as_deref(),
            Some("from-file"),
            "{text}"
        );
        assert!(!url.masked().contains("***"), "{text}");
    }
}

#[test]
fn password_comes_from_url_then_env_then_passfile() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgpass");
    std::fs::write(
        &file,
        "localhost:5432:bot:flags:from-file\nh2:5432:bot:flags:h2-pw\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let f = file.display().to_string();
    let env_pw = |k: &str| (k == "PGPASSWORD").then(|| "from-env".to_string());
    let env_file = |k: &str| (k == "PGPASSFILE").then(|| f.clone());
    let with_pw = parse("postgres://flags:in-url@localhost/bot").unwrap();
    assert_eq!(with_pw.password_for(0, &env_pw).as_deref(), Some("in-url"));
    let url = parse("postgres://flags@localhost,h2/bot").unwrap();
    assert_eq!(url.password_for(0, &env_pw).as_deref(), Some("from-env"));
    assert_eq!(url.password_for(0, &env_file).as_deref(), Some("from-file"));
    assert_eq!(url.password_for(1, &env_file).as_deref(), Some("h2-pw"));
    let socket = parse(&format!("host=/run/pg user=flags dbname=bot passfile={f}")).unwrap();
    assert_eq!(
        socket.password_for(0, &no_env).as_deref(),
        Some("from-file")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            url.password_for(0, &env_file),
            None,
            "a readable file is ignored"
        );
    }
}

proptest::proptest! {
    /// Any user, password and database survive the URL's encoding, and
    /// the masked form never holds the password.
    #[test]
    fn urls_round_trip_and_mask(
        user in "[a-z][a-z0-9_]{0,8}",
        secret in "\\PC{1,20}",
        db in "[a-zA-Z0-9 _/:@?&=%#-]{1,12}",
    ) {
        let password = format!("PW-{secret}");
        let text = format!("postgres://{}:{}@db1,db2:6543/{}", encode(&user), encode(&password), encode(&db));
        let url = parse(&text).unwrap();
        proptest::prop_assert_eq!(url.password_for(1, &no_env), Some(password.clone()));
        proptest::prop_assert_eq!(&url.dbname, &db);
        proptest::prop_assert!(!url.masked().contains(&password));
        let debug = format!("{:?}", url);
        proptest::prop_assert!(!debug.contains(&password));
        let again = parse(&url.masked()).unwrap();
        proptest::prop_assert_eq!((&again.user, &again.dbname, &again.hosts), (&url.user, &url.dbname, &url.hosts));
    }

    /// No value can set another key: any text as a quoted keyword value or
    /// an encoded URL value comes back as that key's value, and every other
    /// setting stays as it was.
    #[test]
    fn a_value_stays_its_keys_value(value in "[ -~]{0,30}") {
        let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
        for text in [
            format!("host=h application_name='{quoted}' options='{quoted}'"),
            format!("postgres://u@h/d?application_name={}&options={}", encode(&value), encode(&value)),
        ] {
            let url = parse(&text).unwrap();
            proptest::prop_assert_eq!(url.application_name.as_deref(), Some(value.as_str()));
            proptest::prop_assert_eq!(url.options.as_deref(), Some(value.as_str()));
            proptest::prop_assert_eq!(url.sslmode, SslMode::Prefer);
            proptest::prop_assert_eq!(&url.hosts, &["h".to_owned()]);
            proptest::prop_assert_eq!(url.known_password(), None);
            let config = url.config(0, None);
            proptest::prop_assert_eq!(config.get_application_name(), Some(value.as_str()));
            proptest::prop_assert_eq!(config.get_ssl_mode(), postgres::config::SslMode::Prefer);
        }
    }

    /// Whatever a password holds, a parse error never shows it: a URL whose
    /// password is not encoded, or a `key=value` string whose password is
    /// unquoted.
    #[test]
    fn a_raw_password_is_never_in_an_error(
        secret in "[!-~ ]{0,6}[/?#@ '\\\\=&]{1,3}[!-~]{0,6}",
    ) {
        let marker = format!("Zq{secret}Zq");
        for text in [
            format!("postgres://flags:{marker}@db1/bot"),
            format!("postgres:/flags:{marker}@db1/bot"),
            format!("host=db1 password={marker} dbname=bot"),
            format!("host=db1 password='{marker} dbname=bot"),
        ] {
            if let Err(e) = parse(&text) {
                let e = e.to_string();
                proptest::prop_assert!(!e.contains("Zq"), "{}: {}", text, e);
            }
        }
    }
}

#[test]
fn a_unix_socket_never_asks_for_tls() {
    use postgres::config::SslMode as Tls;
    let url = parse("host=/run/postgresql,db2 sslmode=require").unwrap();
    assert_eq!(url.config(0, None).get_ssl_mode(), Tls::Disable);
    assert_eq!(url.config(1, None).get_ssl_mode(), Tls::Require);
}
