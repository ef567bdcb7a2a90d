//! Where each JSON value sits in the file's text, so an edit can replace just
//! those bytes and leave every other byte (formatting, key order) alone.
//!
//! This is not a validator: the text has already been accepted by
//! `flags_core::parse_flag_file`, and the edited text is validated again by
//! it. It only has to find byte ranges, and report (never panic) if the text
//! is not what it expects.

/// A JSON value's byte range `start..end` in the text.
#[derive(Debug)]
pub struct Node {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

#[derive(Debug)]
pub enum Kind {
    /// A string, number, boolean or null.
    Scalar,
    Array(Vec<Node>),
    Object(Vec<Member>),
}

/// One `"key": value` of an object.
#[derive(Debug)]
pub struct Member {
    pub key: String,
    pub key_start: usize,
    /// Just past the key's closing quote.
    pub key_end: usize,
    pub value: Node,
}

impl Node {
    pub fn members(&self) -> Option<&[Member]> {
        match &self.kind {
            Kind::Object(members) => Some(members),
            _ => None,
        }
    }

    pub fn items(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Member> {
        self.members()?.iter().find(|m| m.key == key)
    }
}

/// Locates every value of `text`, a single JSON document.
pub fn locate(text: &str) -> Result<Node, String> {
    // A UTF-8 byte-order mark is skipped, as flags_core::parse_flag_file
    // does; offsets stay offsets into `text`, so an edit keeps the mark.
    let start = if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        text,
        pos: start,
    };
    let node = scanner.value()?;
    scanner.skip_ws();
    if scanner.pos != text.len() {
        return Err(scanner.unexpected());
    }
    Ok(node)
}

struct Scanner<'t> {
    bytes: &'t [u8],
    text: &'t str,
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn unexpected(&self) -> String {
        format!("unexpected JSON text at byte {}", self.pos)
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn value(&mut self) -> Result<Node, String> {
        self.skip_ws();
        let start = self.pos;
        let kind = match self.peek() {
            Some(b'{') => self.object()?,
            Some(b'[') => self.array()?,
            Some(b'"') => {
                self.string()?;
                Kind::Scalar
            }
            Some(_) => {
                while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.'))
                {
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(self.unexpected());
                }
                Kind::Scalar
            }
            None => return Err(self.unexpected()),
        };
        Ok(Node {
            start,
            end: self.pos,
            kind,
        })
    }

    /// Skips a string literal, escapes included.
    fn string(&mut self) -> Result<(), String> {
        self.pos += 1;
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => self.pos += 2,
                Some(_) => self.pos += 1,
                None => return Err(self.unexpected()),
            }
        }
    }

    fn object(&mut self) -> Result<Kind, String> {
        self.elements(b'}', Self::member).map(Kind::Object)
    }

    fn member(&mut self) -> Result<Member, String> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return Err(self.unexpected());
        }
        let key_start = self.pos;
        self.string()?;
        let key_end = self.pos;
        let raw = self
            .text
            .get(key_start..key_end)
            .ok_or("key splits a character")?;
        let key: String = serde_json::from_str(raw).map_err(|e| e.to_string())?;
        self.expect(b':')?;
        let value = self.value()?;
        Ok(Member {
            key,
            key_start,
            key_end,
            value,
        })
    }

    fn array(&mut self) -> Result<Kind, String> {
        self.elements(b']', Self::value).map(Kind::Array)
    }

    /// The comma-separated elements of an object or an array, each read by
    /// `element`, from its opening bracket (at `pos`) to `close`.
    fn elements<T>(
        &mut self,
        close: u8,
        element: impl Fn(&mut Self) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        self.pos += 1;
        let mut elements = Vec::new();
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(elements);
        }
        loop {
            elements.push(element(self)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(elements);
                }
                _ => return Err(self.unexpected()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_value_ranges() {
        let text = r#"{ "a": [1, "x\"y"], "b\u0041": {"c": true} }"#;
        let root = locate(text).unwrap();
        let a = root.get("a").unwrap();
        assert_eq!(&text[a.value.start..a.value.end], r#"[1, "x\"y"]"#);
        let items = a.value.items().unwrap();
        assert_eq!(&text[items[1].start..items[1].end], r#""x\"y""#);
        let b = root.get("bA").expect("escaped keys are decoded");
        let c = b.value.get("c").unwrap();
        assert_eq!(&text[c.value.start..c.value.end], "true");
        assert_eq!(&text[c.key_start..c.key_end], r#""c""#);
    }

    #[test]
    fn reports_broken_text_instead_of_panicking() {
        for text in [
            "",
            "{",
            r#"{"a" 1}"#,
            "[1,",
            r#""abc"#,
            "{} x",
            r#"{"a": \}"#,
        ] {
            assert!(locate(text).is_err(), "{text:?}");
        }
    }
}
