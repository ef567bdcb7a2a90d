//! The connection settings the sync reconnects with: the URL as given, and
//! the same URL starting at each of its other hosts.
//!
//! A connection that goes silent has to be dropped, and the next attempt
//! must not start with the host that just went silent: it would cost a whole
//! connect timeout before the next host (a promoted standby) is tried. The
//! settings are therefore kept once per starting host, made from the text
//! as given by repeating `host` and `port` at its end (a later value wins in
//! both URL and `key=value` forms), so the password never has to be
//! rebuilt. Anything that does not come out as expected keeps the URL as
//! given.

use flags_postgres::{DatabaseUrl, Error};

pub struct Hosts {
    /// `urls[i]` tries host `i` first, then the others in their order.
    urls: Vec<DatabaseUrl>,
    /// `host:port` of each host, as connections name them.
    labels: Vec<String>,
}

impl Hosts {
    /// The settings `text` gives, once per starting host.
    pub fn parse(text: &str) -> Result<Hosts, Error> {
        let url = DatabaseUrl::parse(text)?;
        let hosts = host_list(&url.masked());
        let mut urls = vec![url.clone()];
        if hosts.len() > 1 {
            for start in 1..hosts.len() {
                let rotated: Vec<(String, String)> = hosts[start..]
                    .iter()
                    .chain(&hosts[..start])
                    .cloned()
                    .collect();
                match rotate(text, &rotated) {
                    Some(u) if host_list(&u.masked()) == rotated => urls.push(u),
                    _ => {
                        urls.truncate(1);
                        break;
                    }
                }
            }
        }
        Ok(Hosts {
            labels: hosts.iter().map(|(h, p)| format!("{h}:{p}")).collect(),
            urls,
        })
    }

    /// One URL, tried as given on every attempt.
    pub fn single(url: DatabaseUrl) -> Hosts {
        let labels = host_list(&url.masked())
            .iter()
            .map(|(h, p)| format!("{h}:{p}"))
            .collect();
        Hosts {
            urls: vec![url],
            labels,
        }
    }

    /// How many starting hosts there are (1 when the URL cannot rotate).
    pub fn starts(&self) -> usize {
        self.urls.len()
    }

    /// The settings that try host `start` first.
    pub fn starting_at(&self, start: usize) -> &DatabaseUrl {
        &self.urls[start % self.urls.len()]
    }

    /// The URL as given.
    pub fn first(&self) -> &DatabaseUrl {
        &self.urls[0]
    }

    /// Which host a connection reached, by its `host:port`.
    pub fn index_of(&self, label: &str) -> Option<usize> {
        self.labels.iter().position(|l| l == label)
    }
}

/// (host, port) of each host of a masked URL (`postgres://user[:***]@h:p,…/db…`).
fn host_list(masked: &str) -> Vec<(String, String)> {
    let rest = masked.strip_prefix("postgres://").unwrap_or(masked);
    let authority = rest.split('/').next().unwrap_or("");
    let list = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    list.split(',')
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (host, port) = if let Some(v6) = item.strip_prefix('[') {
                let (h, after) = v6.split_once(']').unwrap_or((v6, ""));
                (h.to_owned(), after.strip_prefix(':').unwrap_or(""))
            } else {
                match item.rsplit_once(':') {
                    Some((h, p)) => (decode(h), p),
                    None => (decode(item), ""),
                }
            };
            let port = if port.is_empty() { "5432" } else { port };
            (host, port.to_owned())
        })
        .collect()
}

/// `text` with its host and port lists replaced by `hosts`.
fn rotate(text: &str, hosts: &[(String, String)]) -> Option<DatabaseUrl> {
    let names: Vec<&str> = hosts.iter().map(|(h, _)| h.as_str()).collect();
    let ports: Vec<&str> = hosts.iter().map(|(_, p)| p.as_str()).collect();
    let trimmed = text.trim();
    let is_url = trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://");
    let rotated = if is_url {
        let sep = if trimmed.contains('?') { '&' } else { '?' };
        format!(
            "{trimmed}{sep}host={}&port={}",
            encode(&names.join(",")),
            encode(&ports.join(","))
        )
    } else {
        format!(
            "{trimmed} host={} port={}",
            quote(&names.join(",")),
            quote(&ports.join(","))
        )
    };
    DatabaseUrl::parse(&rotated).ok()
}

fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~,:/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn quote(value: &str) -> String {
    let mut out = String::from("'");
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts_of(url: &DatabaseUrl) -> Vec<(String, String)> {
        host_list(&url.masked())
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(h, p)| ((*h).to_owned(), (*p).to_owned()))
            .collect()
    }

    #[test]
    fn each_host_gets_a_turn_first_and_the_rest_stays() {
        let cases: [(&str, &[(&str, &str)]); 5] = [
            (
                "postgres://flags:s3cret@db1:5433,db2:5434/bot?target_session_attrs=read-write&sslmode=disable",
                &[("db1", "5433"), ("db2", "5434")],
            ),
            (
                "postgresql://flags:p%40ss@db1,db2,db3/bot",
                &[("db1", "5432"), ("db2", "5432"), ("db3", "5432")],
            ),
            (
                "host=db1,db2 port=6000 user=flags password='a b' dbname=bot connect_timeout=3",
                &[("db1", "6000"), ("db2", "6000")],
            ),
            (
                "postgres://flags@[::1]:5433,127.0.0.1:5434/bot",
                &[("::1", "5433"), ("127.0.0.1", "5434")],
            ),
            (
                "postgres://flags@%2Ftmp%2Fsock,db2/bot",
                &[("/tmp/sock", "5432"), ("db2", "5432")],
            ),
        ];
        for (text, expected) in cases {
            let hosts = Hosts::parse(text).unwrap();
            let expected = pairs(expected);
            assert_eq!(hosts.starts(), expected.len(), "{text}");
            for start in 0..expected.len() {
                let url = hosts.starting_at(start);
                let mut want = expected[start..].to_vec();
                want.extend_from_slice(&expected[..start]);
                assert_eq!(hosts_of(url), want, "{text} from {start}");
                // Everything but the host order is as given.
                let strip = |m: String| m.split_once('/').unwrap().1.to_owned();
                let rest = |u: &DatabaseUrl| strip(u.masked().split_once("//").unwrap().1.into());
                assert_eq!(rest(url), rest(hosts.first()), "{text} from {start}");
                assert_eq!(
                    url.masked().contains(":***@"),
                    hosts.first().masked().contains(":***@")
                );
            }
            let (h, p) = &expected[expected.len() - 1];
            assert_eq!(
                hosts.index_of(&format!("{h}:{p}")),
                Some(expected.len() - 1)
            );
        }
    }

    #[test]
    fn one_host_is_one_url_and_the_index_wraps() {
        let hosts = Hosts::parse("postgres://flags@db1:5433/bot").unwrap();
        assert_eq!(hosts.starts(), 1);
        assert_eq!(hosts.index_of("db1:5433"), Some(0));
        assert_eq!(hosts_of(hosts.starting_at(7)), pairs(&[("db1", "5433")]));
        let two = Hosts::parse("postgres://flags@a:1,b:2/bot").unwrap();
        assert_eq!(
            hosts_of(two.starting_at(3)),
            pairs(&[("b", "2"), ("a", "1")])
        );
    }

    #[test]
    fn bad_settings_are_the_parse_error() {
        assert!(Hosts::parse("mysql://x@y/z").is_err());
        assert!(Hosts::parse("postgres://flags@a:1,b:2,c:3/bot?port=1,2").is_err());
    }
}
