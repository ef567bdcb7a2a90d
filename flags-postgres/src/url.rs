//! Connection settings: libpq URLs (`postgres://user:pw@h1:5432,h2/db?k=v`)
//! and `key=value` strings, parsed here into settings that are handed to
//! rust-postgres one host at a time (so that `~/.pgpass` is matched per host,
//! as libpq does). The password is kept out of every printed form.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::Error;

/// libpq's `sslmode`, all six values (rust-postgres knows three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, Error> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(Error::Url(format!(
                    "sslmode {value:?}: expected disable, allow, prefer, require, verify-ca or verify-full"
                )));
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Connect timeout per host when the settings name none (libpq waits forever).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an unanswered connection lives (TCP user timeout, keepalive
/// idle time) unless the settings say otherwise.
const DEAD_PEER_TIMEOUT: Duration = Duration::from_secs(30);
/// libpq's default socket directory on Debian.
const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";
/// A password file larger than this is not read (it is a few lines).
const MAX_PASSFILE_BYTES: u64 = 1 << 20;

/// Parsed connection settings. Display and Debug show [`DatabaseUrl::masked`].
#[derive(Clone)]
pub struct DatabaseUrl {
    pub(crate) hosts: Vec<String>,
    pub(crate) ports: Vec<u16>,
    pub(crate) user: String,
    pub(crate) dbname: String,
    password: Option<String>,
    pub(crate) sslmode: SslMode,
    pub(crate) sslrootcert: Option<String>,
    passfile: Option<String>,
    pub(crate) connect_timeout: Duration,
    /// Settings passed to rust-postgres unchanged (target_session_attrs,
    /// application_name, options, keepalives, …), in the order given.
    pub(crate) other: Vec<(String, String)>,
}

impl DatabaseUrl {
    pub fn parse(text: &str) -> Result<DatabaseUrl, Error> {
        let text = text.trim();
        let pairs = if let Some(rest) = text
            .strip_prefix("postgres://")
            .or_else(|| text.strip_prefix("postgresql://"))
        {
            url_pairs(rest)?
        } else if text.contains("://") {
            return Err(Error::Url(
                "a URL must start with postgres:// or postgresql://".into(),
            ));
        } else {
            keyword_pairs(text)?
        };
        let mut url = DatabaseUrl {
            hosts: Vec::new(),
            ports: Vec::new(),
            user: String::new(),
            dbname: String::new(),
            password: None,
            sslmode: SslMode::Prefer,
            sslrootcert: None,
            passfile: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            other: Vec::new(),
        };
        let mut port_texts: Vec<String> = Vec::new();
        for (key, value) in pairs {
            match key.as_str() {
                "host" => url.hosts = value.split(',').map(str::to_owned).collect(),
                "port" => port_texts = value.split(',').map(str::to_owned).collect(),
                "user" => url.user = value,
                "dbname" => url.dbname = value,
                "password" => url.password = Some(value),
                "passfile" => url.passfile = Some(value),
                "sslmode" => url.sslmode = SslMode::parse(&value)?,
                "ssl" if value == "true" => url.sslmode = SslMode::Require,
                "sslrootcert" => url.sslrootcert = Some(value),
                "connect_timeout" => {
                    let secs: i64 = value
                        .parse()
                        .map_err(|_| Error::Url(format!("connect_timeout {value:?}")))?;
                    // libpq: zero or less waits forever; we keep a bound.
                    if secs > 0 {
                        url.connect_timeout = Duration::from_secs(secs.max(2) as u64);
                    }
                }
                "hostaddr" | "sslcert" | "sslkey" | "sslpassword" | "service" => {
                    return Err(Error::Url(format!("{key} is not supported")));
                }
                _ => {
                    url.other.retain(|(k, _)| *k != key);
                    url.other.push((key, value));
                }
            }
        }
        url.hosts.retain(|h| !h.is_empty());
        if url.hosts.is_empty() {
            url.hosts.push(DEFAULT_SOCKET_DIR.into());
        }
        for p in &port_texts {
            url.ports.push(if p.is_empty() {
                5432
            } else {
                p.parse()
                    .map_err(|_| Error::Url(format!("port {p:?} is not a number")))?
            });
        }
        if url.ports.is_empty() {
            url.ports.push(5432);
        }
        if url.ports.len() != 1 && url.ports.len() != url.hosts.len() {
            return Err(Error::Url(format!(
                "{} hosts but {} ports",
                url.hosts.len(),
                url.ports.len()
            )));
        }
        if url.user.is_empty() {
            url.user = whoami::username().unwrap_or_else(|_| "postgres".into());
        }
        if url.dbname.is_empty() {
            url.dbname = url.user.clone();
        }
        // rust-postgres checks the remaining settings (names and values).
        url.config(0, None)?;
        Ok(url)
    }

    /// The settings for printing: the password, when there is one, is `***`.
    pub fn masked(&self) -> String {
        let mut out = String::from("postgres://");
        out.push_str(&encode(&self.user));
        if self.password.is_some() {
            out.push_str(":***");
        }
        out.push('@');
        for (i, host) in self.hosts.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if host.contains(':') && !host.starts_with('/') {
                out.push_str(&format!("[{host}]"));
            } else {
                out.push_str(&encode(host));
            }
            if self.ports.len() > 1 || self.ports[0] != 5432 {
                out.push_str(&format!(":{}", self.port(i)));
            }
        }
        out.push('/');
        out.push_str(&encode(&self.dbname));
        let mut query: Vec<(String, String)> = self.other.clone();
        if self.sslmode != SslMode::Prefer {
            query.push(("sslmode".into(), self.sslmode.name().into()));
        }
        if let Some(root) = &self.sslrootcert {
            query.push(("sslrootcert".into(), root.clone()));
        }
        if let Some(file) = &self.passfile {
            query.push(("passfile".into(), file.clone()));
        }
        for (i, (k, v)) in query.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(&encode(k));
            out.push('=');
            out.push_str(&encode(v));
        }
        out
    }

    pub(crate) fn port(&self, i: usize) -> u16 {
        if self.ports.len() == 1 {
            self.ports[0]
        } else {
            self.ports[i]
        }
    }

    /// `host:port` of the i-th host, for messages.
    pub(crate) fn host_label(&self, i: usize) -> String {
        format!("{}:{}", self.hosts[i], self.port(i))
    }

    /// The password for host `i`: the URL's, else $PGPASSWORD, else the
    /// password file's first matching line. `env` reads the environment.
    pub(crate) fn password_for(
        &self,
        i: usize,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<String> {
        if let Some(pw) = &self.password {
            return Some(pw.clone());
        }
        if let Some(pw) = env("PGPASSWORD").filter(|p| !p.is_empty()) {
            return Some(pw);
        }
        let file = self
            .passfile
            .clone()
            .or_else(|| env("PGPASSFILE"))
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".pgpass")))?;
        let text = read_passfile(&file)?;
        // libpq matches a socket directory as "localhost".
        let host = if self.hosts[i].starts_with('/') {
            "localhost"
        } else {
            self.hosts[i].as_str()
        };
        pgpass_lookup(
            &text,
            host,
            &self.port(i).to_string(),
            &self.dbname,
            &self.user,
        )
    }

    /// The URL's own password (to scrub it from error texts).
    pub(crate) fn known_password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// rust-postgres settings for host `i` alone.
    pub(crate) fn config(
        &self,
        i: usize,
        password: Option<&str>,
    ) -> Result<postgres::Config, Error> {
        let mut text = String::new();
        let mut add = |k: &str, v: &str| {
            text.push_str(k);
            text.push_str("='");
            for c in v.chars() {
                if c == '\'' || c == '\\' {
                    text.push('\\');
                }
                text.push(c);
            }
            text.push_str("' ");
        };
        add("host", &self.hosts[i]);
        add("port", &self.port(i).to_string());
        add("user", &self.user);
        add("dbname", &self.dbname);
        add(
            "sslmode",
            match self.sslmode {
                SslMode::Disable => "disable",
                SslMode::Allow | SslMode::Prefer => "prefer",
                _ => "require",
            },
        );
        for (k, v) in &self.other {
            add(k, v);
        }
        let mut config =
            postgres::Config::from_str(&text).map_err(|e| Error::Url(e.to_string()))?;
        config.connect_timeout(self.connect_timeout);
        // A server that vanishes without a FIN (a partition, a dead VM)
        // would otherwise hold a read for the kernel's ~15 minutes.
        let given = |key: &str| self.other.iter().any(|(k, _)| k == key);
        if !given("tcp_user_timeout") {
            config.tcp_user_timeout(DEAD_PEER_TIMEOUT);
        }
        if !given("keepalives_idle") {
            config.keepalives_idle(DEAD_PEER_TIMEOUT);
        }
        if let Some(pw) = password {
            config.password(pw);
        }
        Ok(config)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.masked())
    }
}

fn read_passfile(path: &std::path::Path) -> Option<String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // libpq ignores a password file that the group or others can read.
        if meta.permissions().mode() & 0o077 != 0 {
            return None;
        }
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_PASSFILE_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// libpq's `.pgpass` rules: `host:port:database:user:password` lines, the
/// first match wins, `*` matches anything in the first four fields, `\`
/// escapes `:` and `\`, `#` starts a comment line.
pub fn pgpass_lookup(
    text: &str,
    host: &str,
    port: &str,
    dbname: &str,
    user: &str,
) -> Option<String> {
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split_escaped(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = |(field, literal): &(String, bool), want: &str| {
            (field == "*" && !literal) || field == want
        };
        if matches(&fields[0], host)
            && matches(&fields[1], port)
            && matches(&fields[2], dbname)
            && matches(&fields[3], user)
        {
            return Some(fields[4].0.clone());
        }
    }
    None
}

/// Splits at unescaped `:`; each field with whether its `*` was escaped.
fn split_escaped(line: &str) -> Vec<(String, bool)> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut escaped_star = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => {
                    if n == '*' {
                        escaped_star = true;
                    }
                    field.push(n);
                }
                None => field.push('\\'),
            },
            ':' => fields.push((
                std::mem::take(&mut field),
                std::mem::take(&mut escaped_star),
            )),
            _ => field.push(c),
        }
    }
    fields.push((field, escaped_star));
    fields
}

fn url_pairs(rest: &str) -> Result<Vec<(String, String)>, Error> {
    let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = main.split_once('/').unwrap_or((main, ""));
    let mut pairs = Vec::new();
    let hostlist = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                pairs.push(("user".into(), decode(user)?));
            }
            if let Some(p) = password {
                pairs.push(("password".into(), decode(p)?));
            }
            hosts
        }
        None => authority,
    };
    if !hostlist.is_empty() {
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for item in hostlist.split(',') {
            let (host, port) = if let Some(v6) = item.strip_prefix('[') {
                let (h, after) = v6
                    .split_once(']')
                    .ok_or_else(|| Error::Url("an IPv6 host lacks its ]".into()))?;
                (h.to_owned(), after.strip_prefix(':').unwrap_or(""))
            } else {
                match item.rsplit_once(':') {
                    Some((h, p)) => (decode(h)?, p),
                    None => (decode(item)?, ""),
                }
            };
            hosts.push(host);
            ports.push(port.to_owned());
        }
        pairs.push(("host".into(), hosts.join(",")));
        if ports.iter().any(|p| !p.is_empty()) {
            pairs.push(("port".into(), ports.join(",")));
        }
    }
    if !path.is_empty() {
        pairs.push(("dbname".into(), decode(path)?));
    }
    for item in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = item.split_once('=').ok_or_else(|| {
            Error::Url(format!(
                "query parameter {:?} has no =",
                decode(item).unwrap_or_default()
            ))
        })?;
        pairs.push((decode(k)?, decode(v)?));
    }
    Ok(pairs)
}

fn keyword_pairs(text: &str) -> Result<Vec<(String, String)>, Error> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(Error::Url(format!("{key:?} lacks = and a value")));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.push(chars.next().unwrap_or('\\')),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(Error::Url(format!(
                            "the value of {key} lacks its closing quote"
                        )));
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(chars.next().unwrap_or('\\'));
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

fn decode(text: &str) -> Result<String, Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::Url("a bad %-escape in the URL".into()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::Url("the URL is not UTF-8 once decoded".into()))
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn urls_and_keyword_strings_parse_alike() {
        let a = DatabaseUrl::parse(
            "postgres://flags:s%40cret@db1:5433,db2:5434/bot?target_session_attrs=read-write",
        )
        .unwrap();
        let b = DatabaseUrl::parse(
            "host=db1,db2 port=5433,5434 user=flags password='s@cret' dbname=bot target_session_attrs=read-write",
        )
        .unwrap();
        for u in [&a, &b] {
            assert_eq!(u.hosts, ["db1", "db2"]);
            assert_eq!(u.ports, [5433, 5434]);
            assert_eq!((u.user.as_str(), u.dbname.as_str()), ("flags", "bot"));
            assert_eq!(u.password_for(1, &no_env).as_deref(), Some("s@cret"));
            assert_eq!(
                u.masked(),
                "postgres://flags:***@db1:5433,db2:5434/bot?target_session_attrs=read-write"
            );
        }
        let v6 = DatabaseUrl::parse("postgresql://[::1]:6000/x?sslmode=require").unwrap();
        assert_eq!((v6.hosts[0].as_str(), v6.ports[0]), ("::1", 6000));
        assert_eq!(v6.sslmode, SslMode::Require);
        let socket = DatabaseUrl::parse("postgres://u@%2Ftmp%2Fsock/d").unwrap();
        assert_eq!(socket.hosts, ["/tmp/sock"]);
        let quoted = DatabaseUrl::parse(r"user=a password='it\'s \\ x' dbname = 'my db'").unwrap();
        assert_eq!(
            quoted.password_for(0, &no_env).as_deref(),
            Some(r"it's \ x")
        );
        assert_eq!(quoted.dbname, "my db");
    }

    #[test]
    fn bad_settings_are_refused_without_the_password() {
        for bad in [
            "postgres://u:hunter2@h/d?sslmode=sometimes",
            "postgres://u:hunter2@h/d?nonsense=1",
            "postgres://u:hunter2@h:notaport/d",
            "host=h1,h2,h3 port=1,2 password=hunter2",
            "postgres://u:hunter2@h/d?target_session_attrs=writer",
            "host=h password=hunter2 hostaddr=1.2.3.4",
            "user=u password='hunter2",
            "mysql://u:hunter2@h/d",
        ] {
            let err = DatabaseUrl::parse(bad).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{bad}: {err}");
        }
        let url = DatabaseUrl::parse("postgres://u:hunter2@h/d").unwrap();
        assert!(!format!("{url} {url:?}").contains("hunter2"));
    }

    #[test]
    fn pgpass_follows_libpq() {
        let text = "# comment\n\
                    other:*:*:*:wrong\n\
                    db1:5432:bot:flags:first\n\
                    db1:5432:bot:flags:second\n\
                    *:5433:*:flags:any\\:host\n\
                    db\\:x:*:*:*:escaped\n\
                    \\*:*:*:*:literal-star\n\
                    *:*:*:*:last\\\\";
        let t = |h, p, d, u| pgpass_lookup(text, h, p, d, u);
        assert_eq!(t("db1", "5432", "bot", "flags").as_deref(), Some("first"));
        assert_eq!(t("db2", "5433", "x", "flags").as_deref(), Some("any:host"));
        assert_eq!(t("db:x", "1", "y", "z").as_deref(), Some("escaped"));
        assert_eq!(t("*", "1", "y", "z").as_deref(), Some("literal-star"));
        assert_eq!(t("db2", "5432", "bot", "flags").as_deref(), Some("last\\"));
        assert_eq!(pgpass_lookup("a:b:c\n", "a", "b", "c", "d"), None);
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
        let with_pw = DatabaseUrl::parse("postgres://flags:in-url@localhost/bot").unwrap();
        assert_eq!(with_pw.password_for(0, &env_pw).as_deref(), Some("in-url"));
        let url = DatabaseUrl::parse("postgres://flags@localhost,h2/bot").unwrap();
        assert_eq!(url.password_for(0, &env_pw).as_deref(), Some("from-env"));
        assert_eq!(url.password_for(0, &env_file).as_deref(), Some("from-file"));
        assert_eq!(url.password_for(1, &env_file).as_deref(), Some("h2-pw"));
        let socket =
            DatabaseUrl::parse(&format!("host=/run/pg user=flags dbname=bot passfile={f}"))
                .unwrap();
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

    fn escape(field: &str) -> String {
        // A bare `*` field is the wildcard: a literal star is escaped.
        field
            .replace('\\', "\\\\")
            .replace(':', "\\:")
            .replace('*', "\\*")
    }

    proptest::proptest! {
        /// Any user, password and database survive the URL's encoding, and
        /// the masked form never holds the password.
        #[test]
        fn urls_round_trip_and_mask(
            user in "[a-z][a-z0-9_]{0,8}",
            secret in "\\PC{1,20}",
            db in "[a-zA-Z0-9 _/:@?&=%-]{1,12}",
        ) {
            let password = format!("PW-{secret}");
            let text = format!("postgres://{}:{}@db1,db2:6543/{}", encode(&user), encode(&password), encode(&db));
            let url = DatabaseUrl::parse(&text).unwrap();
            proptest::prop_assert_eq!(url.password_for(1, &no_env), Some(password.clone()));
            proptest::prop_assert_eq!(&url.dbname, &db);
            proptest::prop_assert!(!url.masked().contains(&password));
            let debug = format!("{:?}", url);
            proptest::prop_assert!(!debug.contains(&password));
            let again = DatabaseUrl::parse(&url.masked()).unwrap();
            proptest::prop_assert_eq!((&again.user, &again.dbname, &again.hosts), (&url.user, &url.dbname, &url.hosts));
        }

        /// A .pgpass line with escaped fields matches exactly its values.
        #[test]
        fn pgpass_escapes_round_trip(
            host in "[a-z:\\\\*]{1,6}", db in "[a-z:\\\\]{1,6}", pw in "[a-z:\\\\]{1,8}",
        ) {
            let line = format!("{}:5432:{}:u:{}", escape(&host), escape(&db), escape(&pw));
            proptest::prop_assert_eq!(pgpass_lookup(&line, &host, "5432", &db, "u"), Some(pw));
            let other = format!("{host}x");
            proptest::prop_assert_eq!(pgpass_lookup(&line, &other, "5432", &db, "u"), None);
        }
    }
}
