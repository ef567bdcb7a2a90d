//! The syntax of a connection string: a libpq URL
//! (`postgres://user:pw@h1:5432,h2/db?k=v`) or `key=value` settings, read
//! into (key, value) pairs, each with where it stood. A message about the
//! text names a part and a position, never its content: a typo (a missing
//! slash, an unencoded `/` in a password, an unquoted space) may put the
//! password anywhere.

use std::fmt;

use crate::Error;

/// Where a setting came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// `key=value` settings: the key's first character (1-based).
    Keyword { at: usize },
    /// A part of a URL.
    UrlPart(&'static str),
    /// The n-th (1-based) parameter of a URL's query.
    UrlQuery { n: usize },
    /// An environment variable.
    Env(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Keyword { at } => write!(f, "the setting at character {at}"),
            Origin::UrlPart(part) => write!(f, "the URL's {part}"),
            Origin::UrlQuery { n } => write!(f, "the URL's query parameter {n}"),
            Origin::Env(name) => write!(f, "${name}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Setting {
    pub key: String,
    pub value: String,
    pub origin: Origin,
}

const ENCODE_PASSWORD: &str = "a user or password holding /, ?, # or @ must be percent-encoded \
     (%2F, %3F, %23, %40), as must a database name holding them";

/// The pairs of `text`, a URL or `key=value` settings, in order.
pub(crate) fn settings(text: &str) -> Result<Vec<Setting>, Error> {
    let text = text.trim();
    if let Some(rest) = text
        .strip_prefix("postgres://")
        .or_else(|| text.strip_prefix("postgresql://"))
    {
        return url_settings(rest);
    }
    // `key=value` settings start with a keyword and `=`; anything else
    // (`postgres:/…`, `postgresql:…`, `postgres//…`, `mysql://…`) is a URL
    // with a wrong scheme, and may hold a password.
    let first_word = text
        .split(|c: char| c == '=' || c.is_whitespace())
        .next()
        .unwrap_or("");
    let looks_like_keyword = !first_word.is_empty()
        && first_word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !text.is_empty() && !looks_like_keyword {
        return Err(Error::Url(
            "the connection string is neither a URL starting with postgres:// or postgresql:// \
             nor key=value settings"
                .into(),
        ));
    }
    keyword_settings(text)
}

fn url_settings(rest: &str) -> Result<Vec<Setting>, Error> {
    if rest.contains('#') {
        return Err(Error::Url(format!(
            "the URL holds an unencoded #: {ENCODE_PASSWORD}"
        )));
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(end);
    // An @ after the host list means a user or password that holds / or ?;
    // an @ inside a query value (application_name=me@host) comes after its =.
    let stray_at = match after.find('@') {
        Some(at) => after[..at].find('=').is_none(),
        None => false,
    };
    if authority.matches('@').count() > 1 || (!authority.contains('@') && stray_at) {
        return Err(Error::Url(format!(
            "the URL's host part cannot be found: {ENCODE_PASSWORD}"
        )));
    }
    let (path, query) = match after.strip_prefix('/') {
        Some(p) => p.split_once('?').unwrap_or((p, "")),
        None => ("", after.strip_prefix('?').unwrap_or("")),
    };
    let mut pairs = Vec::new();
    let mut push = |key: &str, value: String, origin| {
        pairs.push(Setting {
            key: key.to_owned(),
            value,
            origin,
        })
    };
    let hostlist = match authority.split_once('@') {
        Some((userinfo, hosts)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                let part = Origin::UrlPart("user");
                push("user", decode(user, part)?, part);
            }
            if let Some(p) = password {
                let part = Origin::UrlPart("password");
                push("password", decode(p, part)?, part);
            }
            hosts
        }
        None => authority,
    };
    if !hostlist.is_empty() {
        let part = Origin::UrlPart("host list");
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for item in hostlist.split(',') {
            let (host, port) = if let Some(v6) = item.strip_prefix('[') {
                let (h, after) = v6.split_once(']').ok_or_else(|| {
                    Error::Url("the URL's host list: an IPv6 host lacks its ]".into())
                })?;
                let port = match after.strip_prefix(':') {
                    Some(p) => p,
                    None if after.is_empty() => "",
                    None => {
                        return Err(Error::Url(
                            "the URL's host list: an IPv6 host is followed by neither : nor ,"
                                .into(),
                        ));
                    }
                };
                (h.to_owned(), port)
            } else {
                match item.rsplit_once(':') {
                    Some((h, p)) => (decode(h, part)?, p),
                    None => (decode(item, part)?, ""),
                }
            };
            if host.contains(',') {
                return Err(Error::Url("the URL's host list: a host holds a ,".into()));
            }
            hosts.push(host);
            ports.push(port.to_owned());
        }
        push("host", hosts.join(","), part);
        if ports.iter().any(|p| !p.is_empty()) {
            push("port", ports.join(","), part);
        }
    }
    if !path.is_empty() {
        let part = Origin::UrlPart("database name");
        push("dbname", decode(path, part)?, part);
    }
    for (i, item) in query.split('&').filter(|s| !s.is_empty()).enumerate() {
        let origin = Origin::UrlQuery { n: i + 1 };
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| Error::Url(format!("{origin} has no =")))?;
        push(&decode(k, origin)?, decode(v, origin)?, origin);
    }
    Ok(pairs)
}

fn keyword_settings(text: &str) -> Result<Vec<Setting>, Error> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().enumerate().peekable();
    let space = |c: &(usize, char)| c.1.is_whitespace();
    loop {
        while chars.next_if(space).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            return Ok(pairs);
        };
        let origin = Origin::Keyword { at: start + 1 };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|c| c.1 != '=' && !c.1.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(space).is_some() {}
        if chars.next().map(|c| c.1) != Some('=') {
            return Err(Error::Url(format!(
                "key=value settings: the word at character {} has no = (a value holding spaces \
                 must be in single quotes)",
                start + 1
            )));
        }
        while chars.next_if(space).is_some() {}
        let mut value = String::new();
        if chars.next_if(|c| c.1 == '\'').is_some() {
            loop {
                match chars.next().map(|c| c.1) {
                    Some('\\') => value.push(chars.next().map_or('\\', |c| c.1)),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(Error::Url(format!(
                            "key=value settings: the value of {origin} lacks its closing quote"
                        )));
                    }
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|c| !c.1.is_whitespace()) {
                if c == '\\' {
                    value.push(chars.next().map_or('\\', |c| c.1));
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push(Setting { key, value, origin });
    }
}

fn decode(text: &str, origin: Origin) -> Result<String, Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::Url(format!("a bad %-escape in {origin}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::Url(format!("{origin} is not UTF-8 once decoded")))
}

/// Percent-encodes all but the unreserved characters.
pub(crate) fn encode(text: &str) -> String {
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

    fn pairs(text: &str) -> Vec<(String, String)> {
        settings(text)
            .unwrap()
            .into_iter()
            .map(|s| (s.key, s.value))
            .collect()
    }

    #[test]
    fn urls_and_keyword_strings_read_alike() {
        let p = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            pairs(
                "postgres://flags:s%40cret@db1:5433,[::1]/bot?application_name=me@host&sslmode=require"
            ),
            [
                p("user", "flags"),
                p("password", "s@cret"),
                p("host", "db1,::1"),
                p("port", "5433,"),
                p("dbname", "bot"),
                p("application_name", "me@host"),
                p("sslmode", "require"),
            ]
        );
        assert_eq!(
            pairs(r"host = db1  password='it\'s a \\ x' dbname=my\ db"),
            [
                p("host", "db1"),
                p("password", r"it's a \ x"),
                p("dbname", "my db")
            ]
        );
        assert_eq!(
            pairs("postgresql://%2Ftmp%2Fsock"),
            [p("host", "/tmp/sock")]
        );
        assert_eq!(pairs("postgresql://h?"), [p("host", "h")]);
    }

    /// Each malformed string is refused with a message that names a part or
    /// a position and never holds any of the text's words.
    #[test]
    fn malformed_strings_name_a_position_not_the_text() {
        let cases: &[(&str, &str)] = &[
            ("postgres:/flags:Pw9x@h/d", "neither a URL"),
            ("postgresql:flags:Pw9x@h/d", "neither a URL"),
            ("postgres//flags:Pw9x@h/d", "neither a URL"),
            ("mysql://flags:Pw9x@h/d", "neither a URL"),
            ("postgres://flags:12345/Pw9x@h/d", "percent-encoded"),
            ("postgres://flags:ab?Pw9x@h/d", "percent-encoded"),
            ("postgres://flags:ab#Pw9x@h/d", "unencoded #"),
            ("postgres://flags:ab@Pw9x@h/d", "percent-encoded"),
            ("postgres://flags:Pw9x%zz@h/d", "the URL's password"),
            (
                "postgres://flags:Pw9x@h/d?Pw9x",
                "query parameter 1 has no =",
            ),
            ("postgres://flags:Pw9x@[::1/d", "lacks its ]"),
            ("user=flags password=ab Pw9x host=h", "character 24"),
            (
                "user=flags password='Pw9x host=h",
                "lacks its closing quote",
            ),
        ];
        for (text, expected) in cases {
            let err = settings(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
            assert!(!err.contains("Pw9x"), "{text}: {err}");
            assert!(!err.contains("flags"), "{text}: {err}");
        }
    }
}
