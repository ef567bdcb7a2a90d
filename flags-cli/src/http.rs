//! The bounded HTTP client of the guard's sources, `--report`'s Prometheus
//! queries and the servers' tests: ureq with a time limit on the whole
//! exchange and a cap on the reply, so a hung or flooding endpoint costs
//! bounded time and memory; credentials (HTTP basic or a bearer token) go in
//! a header, never in a URL that could be printed.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Largest reply read; a bigger one is an error (the source holds).
/// 10 processes × 200 flags of outcome metrics are about 1 MiB each.
pub const DEFAULT_MAX_REPLY: u64 = 16 << 20;

/// A password or token file is a line or two.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// A secret given on the command line (in a URL) or read from a file before
/// each request (so a rotated token is picked up). Debug never shows it.
#[derive(Clone)]
pub enum Secret {
    Given(String),
    File(PathBuf),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Given(_) => f.write_str("Secret(***)"),
            Secret::File(path) => write!(f, "Secret(file {})", path.display()),
        }
    }
}

impl Secret {
    /// The secret; a file's content without surrounding whitespace, as
    /// Prometheus reads its own `password_file`.
    pub fn reveal(&self, option: &str) -> Result<String, String> {
        match self {
            Secret::Given(text) => Ok(text.clone()),
            Secret::File(path) => {
                use std::io::Read;
                let mut text = String::new();
                std::fs::File::open(path)
                    .and_then(|f| f.take(MAX_SECRET_FILE_BYTES + 1).read_to_string(&mut text))
                    .map_err(|e| format!("{option} {}: {e}", path.display()))?;
                if text.len() as u64 > MAX_SECRET_FILE_BYTES {
                    return Err(format!(
                        "{option} {}: larger than {MAX_SECRET_FILE_BYTES} bytes",
                        path.display()
                    ));
                }
                let text = text.trim();
                if text.is_empty() {
                    return Err(format!("{option} {}: the file is empty", path.display()));
                }
                Ok(text.to_owned())
            }
        }
    }
}

/// How the guard proves itself to one origin (scheme, host and port).
#[derive(Clone, Debug)]
pub enum Auth {
    Basic {
        user: String,
        password: Option<Secret>,
        /// The option that named the file, for messages.
        option: &'static str,
    },
    Bearer {
        token: Secret,
        option: &'static str,
    },
}

impl Auth {
    /// The Authorization header's value.
    pub fn header(&self) -> Result<String, String> {
        match self {
            Auth::Basic {
                user,
                password,
                option,
            } => {
                let password = match password {
                    Some(p) => p.reveal(option)?,
                    None => String::new(),
                };
                Ok(format!(
                    "Basic {}",
                    base64(format!("{user}:{password}").as_bytes())
                ))
            }
            Auth::Bearer { token, option } => Ok(format!("Bearer {}", token.reveal(option)?)),
        }
    }
}

/// A source URL split for use: the URL to request (without user info), the
/// form to print (`user:***@`), its origin, and the user info given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUrl {
    pub url: String,
    pub shown: String,
    pub origin: String,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl SourceUrl {
    /// Parses an http:// or https:// URL given to `option`. A message never
    /// quotes a URL that holds user info: a typo may put the password
    /// anywhere in it.
    pub fn parse(option: &str, text: &str) -> Result<SourceUrl, String> {
        let quoted = if text.contains('@') {
            String::from("(with user info, not shown)")
        } else {
            format!("{text:?}")
        };
        let (scheme, rest) = match text
            .strip_prefix("http://")
            .map(|r| ("http://", r))
            .or_else(|| text.strip_prefix("https://").map(|r| ("https://", r)))
        {
            Some((scheme, rest)) if !rest.is_empty() && !rest.starts_with('/') => (scheme, rest),
            _ => {
                return Err(format!(
                    "{option} {quoted} is not an http:// or https:// URL such as http://127.0.0.1:8080/metrics"
                ));
            }
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let stray_at = path.find('@').is_some_and(|at| !path[..at].contains('='));
        if authority.matches('@').count() > 1 || (!authority.contains('@') && stray_at) {
            return Err(format!(
                "{option}: the URL's host cannot be found: a user or password holding /, ?, # or @ \
                 must be percent-encoded (%2F, %3F, %23, %40), or the password given with \
                 --prometheus-password-file"
            ));
        }
        let (userinfo, host) = match authority.split_once('@') {
            Some((info, host)) => (Some(info), host),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(format!("{option}: the URL has no host"));
        }
        let (user, password) = match userinfo {
            Some(info) => {
                let (u, p) = match info.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (info, None),
                };
                let user = percent_decode(u)
                    .ok_or_else(|| format!("{option}: a bad %-escape in the URL's user"))?;
                let password = match p {
                    Some(p) => Some(percent_decode(p).ok_or_else(|| {
                        format!("{option}: a bad %-escape in the URL's password")
                    })?),
                    None => None,
                };
                (Some(user), password.filter(|p| !p.is_empty()))
            }
            None => (None, None),
        };
        let origin = format!("{scheme}{host}");
        let shown_info = match (&userinfo, &password) {
            (Some(info), Some(_)) => format!("{}:***@", info.split(':').next().unwrap_or("")),
            (Some(info), None) => format!("{}@", info.split(':').next().unwrap_or("")),
            _ => String::new(),
        };
        Ok(SourceUrl {
            url: format!("{origin}{path}"),
            shown: format!("{scheme}{shown_info}{host}{path}"),
            origin,
            user,
            password,
        })
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    max_reply: u64,
    /// Credentials by origin (`http://host:port`).
    auth: Vec<(String, Auth)>,
}

impl Client {
    pub fn new(timeout: Duration, max_reply: u64) -> Client {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_response_header_size(64 * 1024)
            .user_agent("feature_flags-guard")
            .build()
            .into();
        Client {
            agent,
            max_reply,
            auth: Vec::new(),
        }
    }

    /// Sends `auth` with every request to `origin`.
    pub fn authorize(&mut self, origin: &str, auth: Auth) {
        self.auth.retain(|(o, _)| o != origin);
        self.auth.push((origin.to_owned(), auth));
    }

    /// GETs `url` (with `query` pairs, percent-encoded) and returns the body
    /// of a 200 reply; anything else is an error naming the URL.
    pub fn get(&self, url: &str, query: &[(&str, &str)], accept: &str) -> Result<String, String> {
        let mut request = self.agent.get(url).header("Accept", accept);
        let origin = url.find("://").map(|i| i + 3).map(|start| {
            &url[..start + url[start..].find(['/', '?']).unwrap_or(url.len() - start)]
        });
        if let Some((_, auth)) = self.auth.iter().find(|(o, _)| Some(o.as_str()) == origin) {
            request = request.header("Authorization", auth.header()?);
        }
        for (key, value) in query {
            request = request.query(*key, *value);
        }
        let mut response = request.call().map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        let body = response
            .body_mut()
            .with_config()
            .limit(self.max_reply)
            .read_to_string()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(limit) => {
                    format!("{url}: reply larger than {limit} bytes")
                }
                other => format!("{url}: {other}"),
            })?;
        if status != 200 {
            let snippet: String = body.chars().take(200).collect();
            return Err(format!("{url}: HTTP {status}: {}", snippet.trim()));
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Instant;

    /// Serves one connection with `reply` (raw bytes), after `delay`.
    fn one_shot(reply: Vec<u8>, delay: Duration) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                std::thread::sleep(delay);
                let _ = s.write_all(&reply);
            }
        });
        format!("http://{addr}/metrics")
    }

    fn ok(body: &[u8], declared: usize) -> Vec<u8> {
        let mut r =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n")
                .into_bytes();
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn source_urls_split_their_credentials_off() {
        let u = SourceUrl::parse("--prometheus", "http://guard:s%2Fcr%40t@prom:9090/base").unwrap();
        assert_eq!(u.url, "http://prom:9090/base");
        assert_eq!(u.shown, "http://guard:***@prom:9090/base");
        assert_eq!(u.origin, "http://prom:9090");
        assert_eq!(u.user.as_deref(), Some("guard"));
        assert_eq!(u.password.as_deref(), Some("s/cr@t"));
        let plain = SourceUrl::parse("--scrape", "https://h/metrics?x=a@b").unwrap();
        assert_eq!(
            (plain.url.as_str(), plain.user),
            ("https://h/metrics?x=a@b", None)
        );
        let user_only = SourceUrl::parse("--prometheus", "http://guard@prom:9090").unwrap();
        assert_eq!(user_only.shown, "http://guard@prom:9090");
        assert_eq!(user_only.password, None);
        for bad in [
            "http://guard:ab/Secr3t@prom:9090",
            "http://guard:ab?Secr3t@prom:9090",
            "http://guard:ab#Secr3t@prom:9090",
            "http://guard:ab@Secr3t@prom:9090",
            "htp://guard:Secr3t@prom:9090",
            "http://guard:Secr3t%zz@prom:9090",
            "http://guard:Secr3t@",
        ] {
            let err = SourceUrl::parse("--prometheus", bad).unwrap_err();
            assert!(!err.contains("Secr3t"), "{bad}: {err}");
        }
    }

    #[test]
    fn headers_carry_basic_and_bearer_credentials() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "  tok-1\n").unwrap();
        let bearer = Auth::Bearer {
            token: Secret::File(file.clone()),
            option: "--prometheus-bearer-token-file",
        };
        assert_eq!(bearer.header().unwrap(), "Bearer tok-1");
        // A rotated token is read again.
        std::fs::write(&file, "tok-2").unwrap();
        assert_eq!(bearer.header().unwrap(), "Bearer tok-2");
        std::fs::write(&file, "\n").unwrap();
        assert!(bearer.header().unwrap_err().contains("empty"));
        let basic = Auth::Basic {
            user: "Aladdin".into(),
            password: Some(Secret::Given("open sesame".into())),
            option: "--prometheus",
        };
        assert_eq!(
            basic.header().unwrap(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert!(!format!("{basic:?}").contains("sesame"));
    }

    /// The header goes to the source's origin and no other.
    #[test]
    fn credentials_reach_their_origin_only() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = std::thread::spawn(move || {
            let mut heads = Vec::new();
            for _ in 0..2 {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).unwrap();
                heads.push(String::from_utf8_lossy(&buf[..n]).to_lowercase());
                let _ = s.write_all(&ok(b"a 1\n", 4));
            }
            heads
        });
        let mut client = Client::new(Duration::from_secs(5), 1024);
        client.authorize(
            &format!("http://{addr}"),
            Auth::Bearer {
                token: Secret::Given("tok".into()),
                option: "--prometheus-bearer-token-file",
            },
        );
        client.authorize(
            "http://elsewhere:1",
            Auth::Bearer {
                token: Secret::Given("other".into()),
                option: "--prometheus-bearer-token-file",
            },
        );
        client
            .get(&format!("http://{addr}/api"), &[], "*/*")
            .unwrap();
        let plain = Client::new(Duration::from_secs(5), 1024);
        plain
            .get(&format!("http://{addr}/api"), &[], "*/*")
            .unwrap();
        let heads = seen.join().unwrap();
        assert!(
            heads[0].contains("authorization: bearer tok\r\n"),
            "{}",
            heads[0]
        );
        assert!(!heads[1].contains("authorization"), "{}", heads[1]);
    }

    #[test]
    fn reads_a_reply_and_reports_statuses() {
        let client = Client::new(Duration::from_secs(5), 1024);
        assert_eq!(
            client
                .get(&one_shot(ok(b"a 1\n", 4), Duration::ZERO), &[], "*/*")
                .unwrap(),
            "a 1\n"
        );
        let reply = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy".to_vec();
        let err = client
            .get(&one_shot(reply, Duration::ZERO), &[], "*/*")
            .unwrap_err();
        assert!(err.contains("HTTP 503") && err.contains("busy"), "{err}");
    }

    #[test]
    fn an_oversized_reply_is_an_error_not_a_big_allocation() {
        let client = Client::new(Duration::from_secs(5), 1024);
        let body = vec![b'x'; 4096];
        let err = client
            .get(&one_shot(ok(&body, body.len()), Duration::ZERO), &[], "*/*")
            .unwrap_err();
        assert!(err.contains("larger than 1024 bytes"), "{err}");
    }

    #[test]
    fn a_truncated_reply_is_an_error() {
        let client = Client::new(Duration::from_secs(5), 1024);
        let err = client
            .get(&one_shot(ok(b"a 1\nb", 100), Duration::ZERO), &[], "*/*")
            .unwrap_err();
        assert!(err.starts_with("http://127.0.0.1:"), "{err}");
    }

    #[test]
    fn a_slow_endpoint_times_out() {
        let client = Client::new(Duration::from_millis(300), 1024);
        let started = Instant::now();
        let err = client
            .get(
                &one_shot(ok(b"a 1\n", 4), Duration::from_secs(3)),
                &[],
                "*/*",
            )
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2), "{err}");
        assert!(
            client
                .get("http://127.0.0.1:1/metrics", &[], "*/*")
                .is_err()
        );
    }
}
