//! Connection settings as libpq reads them: a connection string's value,
//! else its environment variable (`PGHOST`, `PGSSLMODE`, …), else the
//! default. Each setting is checked here, one key at a time, and handed to
//! tokio-postgres through its builder (never as text, so no value can set
//! another key). Hosts are connected one at a time, so that `~/.pgpass` is
//! matched per host, as libpq does. The password is kept out of every
//! printed form.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::Error;
use crate::pgpass::{pgpass_lookup, read_passfile};
use crate::url::{Origin, Setting, encode, settings};

/// libpq's `sslmode`, all six values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// Connects with TLS when the server offers it, like `prefer` (libpq
    /// tries without TLS first).
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
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
/// Deadline of one round trip (a statement, BEGIN, COMMIT) unless
/// `query_timeout` says otherwise.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long sent data may stay unacknowledged before the kernel drops the
/// connection (TCP user timeout), unless `tcp_user_timeout` says otherwise.
const DEFAULT_TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);
/// Keepalives: first probe after this idle time, unless `keepalives_idle`
/// says otherwise (the kernel's default is two hours).
const DEFAULT_KEEPALIVES_IDLE: Duration = Duration::from_secs(10);
const DEFAULT_KEEPALIVES_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_KEEPALIVES_COUNT: u32 = 3;
/// libpq's default socket directory on Debian.
const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";
/// The longest timeout a setting may ask for (a day).
const MAX_TIMEOUT_SECS: u64 = 86_400;

/// The keys this build reads, each with the environment variable libpq
/// reads for it. `password` and `passfile` fall back to `$PGPASSWORD` and
/// `$PGPASSFILE` when connecting; `query_timeout` is ours.
const KEYS: &[(&str, Option<&str>)] = &[
    ("host", Some("PGHOST")),
    ("port", Some("PGPORT")),
    ("dbname", Some("PGDATABASE")),
    ("user", Some("PGUSER")),
    ("password", None),
    ("passfile", None),
    ("sslmode", Some("PGSSLMODE")),
    ("sslrootcert", Some("PGSSLROOTCERT")),
    ("sslcert", Some("PGSSLCERT")),
    ("sslkey", Some("PGSSLKEY")),
    ("channel_binding", Some("PGCHANNELBINDING")),
    ("gssencmode", Some("PGGSSENCMODE")),
    ("connect_timeout", Some("PGCONNECT_TIMEOUT")),
    ("query_timeout", None),
    ("target_session_attrs", Some("PGTARGETSESSIONATTRS")),
    ("application_name", Some("PGAPPNAME")),
    ("fallback_application_name", None),
    ("options", Some("PGOPTIONS")),
    ("keepalives", None),
    ("keepalives_idle", None),
    ("keepalives_interval", None),
    ("keepalives_count", None),
    ("tcp_user_timeout", None),
];

/// libpq keys (and variables) this build does not implement: refused rather
/// than ignored, since each would change where or how safely it connects.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("hostaddr", "PGHOSTADDR"),
    ("service", "PGSERVICE"),
    ("sslpassword", ""),
    ("sslcrl", "PGSSLCRL"),
    ("sslcrldir", "PGSSLCRLDIR"),
    ("require_auth", "PGREQUIREAUTH"),
    ("requirepeer", "PGREQUIREPEER"),
    ("load_balance_hosts", "PGLOADBALANCEHOSTS"),
];

/// libpq's `target_session_attrs` values that this build implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionAttrs {
    Any,
    ReadWrite,
    ReadOnly,
}

/// Parsed connection settings. Display and Debug show [`DatabaseUrl::masked`].
#[derive(Clone)]
pub struct DatabaseUrl {
    pub(crate) hosts: Vec<String>,
    pub(crate) ports: Vec<u16>,
    pub(crate) user: String,
    pub(crate) dbname: String,
    password: Option<String>,
    passfile: Option<String>,
    pub(crate) sslmode: SslMode,
    pub(crate) sslrootcert: Option<String>,
    pub(crate) sslcert: Option<String>,
    pub(crate) sslkey: Option<String>,
    channel_binding: postgres::config::ChannelBinding,
    pub(crate) connect_timeout: Duration,
    pub(crate) query_timeout: Duration,
    session_attrs: SessionAttrs,
    application_name: Option<String>,
    options: Option<String>,
    keepalives: bool,
    keepalives_idle: Duration,
    keepalives_interval: Duration,
    keepalives_count: u32,
    tcp_user_timeout: Duration,
    /// The settings given (by the string or the environment) other than
    /// hosts, ports, user, database and password, as checked, for
    /// [`DatabaseUrl::masked`].
    shown: Vec<(&'static str, String)>,
}

impl DatabaseUrl {
    /// Parses a URL or `key=value` settings; a setting not given is read
    /// from its libpq environment variable.
    pub fn parse(text: &str) -> Result<DatabaseUrl, Error> {
        Self::parse_with_env(text, &|k| std::env::var(k).ok())
    }

    /// As [`DatabaseUrl::parse`], reading the environment through `env`.
    pub fn parse_with_env(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<DatabaseUrl, Error> {
        let mut given: Vec<Setting> = Vec::new();
        for setting in settings(text)? {
            let origin = setting.origin;
            if let Some((key, _)) = UNSUPPORTED.iter().find(|(k, _)| *k == setting.key) {
                return Err(Error::Url(format!(
                    "{key} ({origin}) is not supported by feature_flags"
                )));
            }
            if !KEYS.iter().any(|(k, _)| *k == setting.key) {
                return Err(Error::Url(format!(
                    "{origin}: not a connection setting that feature_flags knows \
                     (see docs/fleet.md, section \"Connections and ~/.pgpass\")"
                )));
            }
            // As in libpq, a key given twice takes its last value.
            given.retain(|s| s.key != setting.key);
            given.push(setting);
        }
        for (key, var) in UNSUPPORTED {
            if !var.is_empty() && env(var).is_some_and(|v| !v.is_empty()) {
                return Err(Error::Url(format!(
                    "${var} is set, but feature_flags does not support {key}: unset it"
                )));
            }
        }
        for (key, var) in KEYS {
            let Some(var) = var else { continue };
            if given.iter().any(|s| s.key == *key) {
                continue;
            }
            if let Some(value) = env(var).filter(|v| !v.is_empty()) {
                given.push(Setting {
                    key: (*key).to_owned(),
                    value,
                    origin: Origin::Env(var),
                });
            }
        }
        Self::from_settings(given)
    }

    fn from_settings(given: Vec<Setting>) -> Result<DatabaseUrl, Error> {
        let mut url = DatabaseUrl {
            hosts: Vec::new(),
            ports: Vec::new(),
            user: String::new(),
            dbname: String::new(),
            password: None,
            passfile: None,
            sslmode: SslMode::Prefer,
            sslrootcert: None,
            sslcert: None,
            sslkey: None,
            channel_binding: postgres::config::ChannelBinding::Prefer,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            session_attrs: SessionAttrs::Any,
            application_name: None,
            options: None,
            keepalives: true,
            keepalives_idle: DEFAULT_KEEPALIVES_IDLE,
            keepalives_interval: DEFAULT_KEEPALIVES_INTERVAL,
            keepalives_count: DEFAULT_KEEPALIVES_COUNT,
            tcp_user_timeout: DEFAULT_TCP_USER_TIMEOUT,
            shown: Vec::new(),
        };
        let mut port_texts: Vec<String> = Vec::new();
        let mut sslmode = None;
        let mut fallback_name = None;
        for Setting { key, value, origin } in given {
            let bad = |expected: &str| Error::Url(format!("{key} ({origin}): expected {expected}"));
            let mut shown = Some(value.clone());
            match key.as_str() {
                "host" => {
                    url.hosts = value.split(',').map(str::to_owned).collect();
                    shown = None;
                }
                "port" => {
                    port_texts = value.split(',').map(str::to_owned).collect();
                    shown = None;
                }
                "user" => (url.user, shown) = (value, None),
                "dbname" => (url.dbname, shown) = (value, None),
                "password" => {
                    // libpq: an empty password is no password (.pgpass is read).
                    url.password = Some(value).filter(|p| !p.is_empty());
                    shown = None;
                }
                "passfile" => url.passfile = Some(value),
                "sslmode" => {
                    sslmode = Some(SslMode::parse(&value).ok_or_else(|| {
                        bad("disable, allow, prefer, require, verify-ca or verify-full")
                    })?)
                }
                "sslrootcert" => url.sslrootcert = Some(value).filter(|v| !v.is_empty()),
                "sslcert" => url.sslcert = Some(value).filter(|v| !v.is_empty()),
                "sslkey" => url.sslkey = Some(value).filter(|v| !v.is_empty()),
                "channel_binding" => {
                    use postgres::config::ChannelBinding;
                    url.channel_binding = match value.as_str() {
                        "disable" => ChannelBinding::Disable,
                        "prefer" => ChannelBinding::Prefer,
                        "require" => ChannelBinding::Require,
                        _ => return Err(bad("disable, prefer or require")),
                    }
                }
                // There is no GSSAPI here: libpq's default (prefer) falls back.
                "gssencmode" => {
                    if !matches!(value.as_str(), "disable" | "prefer") {
                        return Err(bad("disable or prefer (GSSAPI is not supported)"));
                    }
                }
                "connect_timeout" => {
                    let secs: i64 = value
                        .trim()
                        .parse()
                        .map_err(|_| bad("a whole number of seconds"))?;
                    // libpq: zero or less waits forever, and 1 means 2; we
                    // keep a bound (the default) for zero or less.
                    if secs > 0 {
                        url.connect_timeout =
                            Duration::from_secs((secs as u64).clamp(2, MAX_TIMEOUT_SECS));
                    }
                }
                "query_timeout" => {
                    let secs: u64 = value
                        .trim()
                        .parse()
                        .ok()
                        .filter(|s| (1..=MAX_TIMEOUT_SECS).contains(s))
                        .ok_or_else(|| bad("a whole number of seconds, 1 to 86400"))?;
                    url.query_timeout = Duration::from_secs(secs);
                }
                "target_session_attrs" => {
                    url.session_attrs = match value.as_str() {
                        "any" => SessionAttrs::Any,
                        "read-write" => SessionAttrs::ReadWrite,
                        "read-only" => SessionAttrs::ReadOnly,
                        _ => return Err(bad("any, read-write or read-only")),
                    }
                }
                "application_name" => url.application_name = Some(value),
                "fallback_application_name" => fallback_name = Some(value),
                "options" => url.options = Some(value),
                "keepalives" => {
                    url.keepalives = match value.trim().parse::<i64>() {
                        Ok(0) => false,
                        Ok(_) => true,
                        Err(_) => return Err(bad("0 or 1")),
                    }
                }
                "keepalives_idle" | "keepalives_interval" => {
                    let secs = seconds(&value).ok_or_else(|| bad("a number of seconds"))?;
                    if key == "keepalives_idle" {
                        url.keepalives_idle = secs;
                    } else {
                        url.keepalives_interval = secs;
                    }
                }
                "keepalives_count" => {
                    url.keepalives_count = value
                        .trim()
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad("a number of probes"))?
                }
                "tcp_user_timeout" => {
                    let ms: u64 = value
                        .trim()
                        .parse()
                        .ok()
                        .filter(|ms| *ms <= MAX_TIMEOUT_SECS * 1000)
                        .ok_or_else(|| bad("a number of milliseconds"))?;
                    // libpq: 0 is the system's default; ours is 30 s.
                    if ms > 0 {
                        url.tcp_user_timeout = Duration::from_millis(ms);
                    }
                }
                _ => return Err(Error::Url(format!("{origin}: an unknown setting"))),
            }
            if let (Some(value), Some((name, _))) = (shown, KEYS.iter().find(|(k, _)| *k == key)) {
                url.shown.push((name, value));
            }
        }
        if url.application_name.is_none() {
            url.application_name = fallback_name;
        }
        url.sslmode = match (url.sslrootcert.as_deref(), sslmode) {
            // libpq: the system's store implies verify-full and refuses less.
            (Some("system"), None) => SslMode::VerifyFull,
            (Some("system"), Some(mode)) if mode != SslMode::VerifyFull => {
                return Err(Error::Url(format!(
                    "weak sslmode \"{}\" may not be used with sslrootcert=system (use \"verify-full\")",
                    mode.name()
                )));
            }
            (_, mode) => mode.unwrap_or(SslMode::Prefer),
        };
        url.hosts.retain(|h| !h.is_empty());
        if url.hosts.is_empty() {
            url.hosts.push(DEFAULT_SOCKET_DIR.into());
        }
        for (i, p) in port_texts.iter().enumerate() {
            url.ports.push(if p.is_empty() {
                5432
            } else {
                p.trim().parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                    Error::Url(format!(
                        "port {} of the port list is not a port number",
                        i + 1
                    ))
                })?
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
        for (i, (k, v)) in self.shown.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(k);
            out.push('=');
            out.push_str(&encode(v));
        }
        out
    }

    /// The deadline of each round trip (`query_timeout`, default 10 s).
    pub fn query_timeout(&self) -> Duration {
        self.query_timeout
    }

    /// Sets the deadline of each round trip (the CLI's `--query-timeout`);
    /// kept within 1 s to a day.
    pub fn set_query_timeout(&mut self, timeout: Duration) {
        self.query_timeout = timeout.clamp(
            Duration::from_secs(1),
            Duration::from_secs(MAX_TIMEOUT_SECS),
        );
    }

    /// The bound on establishing a connection to one host (TCP, TLS,
    /// authentication): `connect_timeout`, default 10 s.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
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

    /// The password for host `i`: the string's, else $PGPASSWORD, else the
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
            .or_else(|| env("PGPASSFILE").filter(|f| !f.is_empty()))
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

    /// The string's own password (to scrub it from error texts).
    pub(crate) fn known_password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// tokio-postgres settings for host `i` alone, set key by key.
    pub(crate) fn config(&self, i: usize, password: Option<&str>) -> postgres::Config {
        use postgres::config::{SslMode as Tls, TargetSessionAttrs};
        let mut config = postgres::Config::new();
        config
            .host(&self.hosts[i])
            .port(self.port(i))
            .user(&self.user)
            .dbname(&self.dbname)
            // libpq never asks for TLS over a Unix socket, whatever sslmode.
            .ssl_mode(match self.sslmode {
                _ if self.hosts[i].starts_with('/') => Tls::Disable,
                SslMode::Disable => Tls::Disable,
                SslMode::Allow | SslMode::Prefer => Tls::Prefer,
                _ => Tls::Require,
            })
            .channel_binding(self.channel_binding)
            .target_session_attrs(match self.session_attrs {
                SessionAttrs::Any => TargetSessionAttrs::Any,
                SessionAttrs::ReadWrite => TargetSessionAttrs::ReadWrite,
                SessionAttrs::ReadOnly => TargetSessionAttrs::ReadOnly,
            })
            // The whole establishment is bounded by the caller; this bounds
            // the TCP connect alone.
            .connect_timeout(self.connect_timeout)
            .tcp_user_timeout(self.tcp_user_timeout)
            .keepalives(self.keepalives)
            .keepalives_idle(self.keepalives_idle)
            .keepalives_interval(self.keepalives_interval)
            .keepalives_retries(self.keepalives_count);
        if let Some(name) = &self.application_name {
            config.application_name(name);
        }
        if let Some(options) = &self.options {
            config.options(options);
        }
        if let Some(pw) = password {
            config.password(pw);
        }
        config
    }
}

fn seconds(value: &str) -> Option<Duration> {
    let secs: u64 = value.trim().parse().ok()?;
    (secs <= MAX_TIMEOUT_SECS).then(|| Duration::from_secs(secs.max(1)))
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

#[cfg(test)]
mod tests;
