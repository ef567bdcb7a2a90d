//! A strict, fast reader for the JSON that flag files are made of.
//!
//! serde_json spends most of a large file's time on the plain integers of id
//! arrays. This reader takes the common forms (plain integers, strings
//! without escapes, objects, arrays, literals) itself and hands every other
//! number or string token to serde_json, so every value it produces is the
//! one serde_json would. It never explains a failure: anything it does not
//! accept (a syntax error, deep nesting) is [`Unusual`], and the caller
//! reads the text again with serde_json, whose messages users see.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;

/// Nesting this deep goes to serde_json, which enforces its own limit (128)
/// with its own message.
const MAX_DEPTH: u32 = 100;

/// Integers of at most 18 digits fit in i64 whatever the digits.
const MAX_FAST_DIGITS: usize = 18;

/// The text is not in the form this reader takes; read it with serde_json.
#[derive(Debug)]
pub(crate) struct Unusual;

impl fmt::Display for Unusual {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON this reader leaves to serde_json")
    }
}

impl std::error::Error for Unusual {}

impl de::Error for Unusual {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unusual
    }
}

impl From<serde_json::Error> for Unusual {
    fn from(_: serde_json::Error) -> Self {
        Unusual
    }
}

pub(crate) struct Reader<'de> {
    text: &'de str,
    pos: usize,
    depth: u32,
}

/// A string token: its content when it has no escapes, else the whole
/// token, quotes included, for serde_json to decode.
enum StringToken<'de> {
    Plain(&'de str),
    Escaped(&'de str),
}

impl<'de> Reader<'de> {
    pub(crate) fn new(text: &'de str) -> Self {
        Reader {
            text,
            pos: 0,
            depth: 0,
        }
    }

    /// After the value: nothing but whitespace.
    pub(crate) fn end(&mut self) -> Result<(), Unusual> {
        self.skip_whitespace();
        if self.pos == self.text.len() {
            Ok(())
        } else {
            Err(Unusual)
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    #[inline]
    fn skip_whitespace(&mut self) {
        let bytes = self.text.as_bytes();
        let mut pos = self.pos;
        loop {
            match bytes.get(pos) {
                // Pretty files indent every id: runs of spaces go eight at
                // a time.
                Some(b' ') if bytes.get(pos..pos + 8) == Some(b"        ") => pos += 8,
                Some(b' ' | b'\n' | b'\t' | b'\r') => pos += 1,
                _ => break,
            }
        }
        self.pos = pos;
    }

    /// Consumes `byte` after optional whitespace.
    fn expect(&mut self, byte: u8) -> Result<(), Unusual> {
        self.skip_whitespace();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Unusual)
        }
    }

    fn enter(&mut self) -> Result<(), Unusual> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Unusual);
        }
        self.pos += 1;
        Ok(())
    }

    /// The string token starting at the current `"`.
    fn string_token(&mut self) -> Result<StringToken<'de>, Unusual> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            match *bytes.get(i).ok_or(Unusual)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                // serde_json rejects raw control characters in strings.
                0x00..=0x1f => return Err(Unusual),
                _ => i += 1,
            }
        }
        self.pos = i + 1;
        // Quotes are ASCII, so both slices end on character boundaries.
        Ok(if escaped {
            StringToken::Escaped(&self.text[start..=i])
        } else {
            StringToken::Plain(&self.text[start + 1..i])
        })
    }

    #[inline(never)]
    fn string<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Unusual> {
        match self.string_token()? {
            StringToken::Plain(s) => visitor.visit_borrowed_str(s),
            StringToken::Escaped(token) => by_serde_json(token, |de| de.deserialize_str(visitor)),
        }
    }

    #[inline]
    fn number<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Unusual> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let negative = bytes[start] == b'-';
        let first_digit = start + usize::from(negative);
        let mut end = first_digit;
        let mut magnitude = 0u64;
        // Ids have 10 to 14 digits: eight at a time, then four, then one at
        // a time.
        while let Some(chunk) = bytes.get(end..end + 8) {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            if !eight_digits(word) {
                break;
            }
            magnitude = magnitude
                .wrapping_mul(100_000_000)
                .wrapping_add(value_of_eight_digits(word));
            end += 8;
        }
        if let Some(chunk) = bytes.get(end..end + 4) {
            let word = u32::from_le_bytes(chunk.try_into().expect("four bytes"));
            if four_digits(word) {
                magnitude = magnitude
                    .wrapping_mul(10_000)
                    .wrapping_add(value_of_four_digits(word));
                end += 4;
            }
        }
        while let Some(&b) = bytes.get(end) {
            if !b.is_ascii_digit() {
                break;
            }
            magnitude = magnitude.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
            end += 1;
        }
        let digits = end - first_digit;
        // Only the plain forms serde_json reads as integers: no fraction or
        // exponent, no leading zero, and not `-0`, which serde_json reads as
        // the float -0.0.
        let plain = (1..=MAX_FAST_DIGITS).contains(&digits)
            && !matches!(bytes.get(end), Some(b'.' | b'e' | b'E' | b'-' | b'+'))
            && (bytes[first_digit] != b'0' || digits == 1 && !negative);
        if !plain {
            return self.unusual_number(visitor);
        }
        self.pos = end;
        if negative {
            // 18 digits are below 2^63, so the negation cannot overflow.
            visitor.visit_i64(-(magnitude as i64))
        } else {
            visitor.visit_u64(magnitude)
        }
    }

    /// A number in any other form, read by serde_json from its longest
    /// run of number characters (in valid JSON, exactly the number).
    #[cold]
    fn unusual_number<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Unusual> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut end = start;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = bytes.get(end) {
            end += 1;
        }
        self.pos = end;
        by_serde_json(&self.text[start..end], |de| de.deserialize_any(visitor))
    }

    #[inline(never)]
    fn object<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Unusual> {
        self.enter()?;
        let mut members = Members {
            reader: self,
            first: true,
            done: false,
        };
        let value = visitor.visit_map(&mut members)?;
        // A visitor that stops early leaves members unread.
        if !members.done {
            return Err(Unusual);
        }
        Ok(value)
    }

    #[inline(never)]
    fn array<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Unusual> {
        self.enter()?;
        let mut items = Items {
            reader: self,
            first: true,
            done: false,
        };
        let value = visitor.visit_seq(&mut items)?;
        if !items.done {
            return Err(Unusual);
        }
        Ok(value)
    }

    #[inline(never)]
    fn literal<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Unusual> {
        let rest = &self.text[self.pos..];
        for (word, length) in [("true", 4), ("false", 5), ("null", 4)] {
            if rest.starts_with(word) {
                self.pos += length;
                return match word {
                    "true" => visitor.visit_bool(true),
                    "false" => visitor.visit_bool(false),
                    _ => visitor.visit_unit(),
                };
            }
        }
        Err(Unusual)
    }
}

/// Whether all eight bytes of `word` are ASCII digits.
fn eight_digits(word: u64) -> bool {
    const HIGH_NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    // 0x30..=0x3F have high nibble 3; of those, adding 6 keeps it 3 only
    // for 0x30..=0x39, and cannot carry into the next byte.
    word & HIGH_NIBBLES == ZEROS && word.wrapping_add(0x0606_0606_0606_0606) & HIGH_NIBBLES == ZEROS
}

/// The number eight ASCII digits spell, the first in the lowest byte:
/// pairs, then fours, then all eight, each step one multiplication.
fn value_of_eight_digits(word: u64) -> u64 {
    let pairs = (word & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(2561) >> 8;
    let fours = (pairs & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601) >> 16;
    (fours & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32
}

/// Whether all four bytes of `word` are ASCII digits (as [`eight_digits`]).
fn four_digits(word: u32) -> bool {
    const HIGH_NIBBLES: u32 = 0xF0F0_F0F0;
    const ZEROS: u32 = 0x3030_3030;
    word & HIGH_NIBBLES == ZEROS && word.wrapping_add(0x0606_0606) & HIGH_NIBBLES == ZEROS
}

/// The number four ASCII digits spell (as [`value_of_eight_digits`]).
fn value_of_four_digits(word: u32) -> u64 {
    let pairs = (word & 0x0F0F_0F0F).wrapping_mul(2561) >> 8;
    u64::from((pairs & 0x00FF_00FF).wrapping_mul(6_553_601) >> 16)
}

/// One token, read by serde_json as it would read it in place.
fn by_serde_json<'de, T>(
    token: &'de str,
    read: impl FnOnce(
        &mut serde_json::Deserializer<serde_json::de::StrRead<'de>>,
    ) -> Result<T, serde_json::Error>,
) -> Result<T, Unusual> {
    let mut de = serde_json::Deserializer::from_str(token);
    let value = read(&mut de)?;
    de.end()?;
    Ok(value)
}

impl<'de> Deserializer<'de> for &mut Reader<'de> {
    type Error = Unusual;

    #[inline]
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unusual> {
        self.skip_whitespace();
        match self.peek().ok_or(Unusual)? {
            b'-' | b'0'..=b'9' => self.number(visitor),
            b'"' => self.string(visitor),
            b'{' => self.object(visitor),
            b'[' => self.array(visitor),
            _ => self.literal(visitor),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// An object key: a string, nothing else.
struct Key<'r, 'de>(&'r mut Reader<'de>);

impl<'de> Deserializer<'de> for Key<'_, 'de> {
    type Error = Unusual;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unusual> {
        self.0.skip_whitespace();
        if self.0.peek() != Some(b'"') {
            return Err(Unusual);
        }
        self.0.string(visitor)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct Members<'r, 'de> {
    reader: &'r mut Reader<'de>,
    first: bool,
    done: bool,
}

impl<'de> MapAccess<'de> for Members<'_, 'de> {
    type Error = Unusual;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Unusual> {
        if self.done {
            return Ok(None);
        }
        let reader = &mut *self.reader;
        reader.skip_whitespace();
        match reader.peek() {
            Some(b'}') => {}
            Some(b',') if !self.first => {
                reader.pos += 1;
                let key = seed.deserialize(Key(&mut *reader))?;
                reader.expect(b':')?;
                return Ok(Some(key));
            }
            Some(b'"') if self.first => {
                self.first = false;
                let key = seed.deserialize(Key(&mut *reader))?;
                reader.expect(b':')?;
                return Ok(Some(key));
            }
            _ => return Err(Unusual),
        }
        reader.pos += 1;
        reader.depth -= 1;
        self.done = true;
        Ok(None)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Unusual> {
        seed.deserialize(&mut *self.reader)
    }
}

struct Items<'r, 'de> {
    reader: &'r mut Reader<'de>,
    first: bool,
    done: bool,
}

impl<'de> SeqAccess<'de> for Items<'_, 'de> {
    type Error = Unusual;

    #[inline]
    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Unusual> {
        if self.done {
            return Ok(None);
        }
        let reader = &mut *self.reader;
        reader.skip_whitespace();
        match reader.peek() {
            Some(b']') => {
                reader.pos += 1;
                reader.depth -= 1;
                self.done = true;
                return Ok(None);
            }
            Some(b',') if !self.first => reader.pos += 1,
            Some(_) if self.first => self.first = false,
            _ => return Err(Unusual),
        }
        seed.deserialize(&mut *reader).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Json;

    fn by_reader(text: &str) -> Result<Json, Unusual> {
        let mut reader = Reader::new(text);
        let value = Json::deserialize(&mut reader)?;
        reader.end()?;
        Ok(value)
    }

    fn by_serde_json(text: &str) -> Option<Json> {
        serde_json::from_str(text).ok()
    }

    use serde::Deserialize;

    /// Whatever the reader accepts, serde_json accepts as the same value
    /// (Debug tells -0.0 from 0.0); whatever serde_json rejects, the reader
    /// rejects.
    fn agrees(text: &str) -> bool {
        let ours = by_reader(text).ok().map(|j| format!("{j:?}"));
        let theirs = by_serde_json(text).map(|j| format!("{j:?}"));
        match (ours, theirs) {
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
            (None, _) => true,
        }
    }

    #[test]
    fn reads_common_forms_as_serde_json_does() {
        for text in [
            r#"{"a": [1, -2, 0, "3", "x\ny", true, false, null], "b": {}, "c": []}"#,
            "[-0, 0, -1, 123456789012345678, 1234567890123456789, 18446744073709551615]",
            "[18446744073709551616, -9223372036854775808, -9223372036854775809, 1e3, 1.5, 1E+2, 0.1e-2]",
            r#"{"k\u00e9y": "\ud83d\ude00", "": "", "a": {"a": {"a": [[[]]]}}}"#,
            " \t\r\n{ \"a\" : 1 , \"a\" : 2 } \n",
            "12.5",
            "\"plain\"",
        ] {
            assert!(by_reader(text).is_ok(), "reader refused {text:?}");
            assert!(agrees(text), "reader and serde_json differ on {text:?}");
        }
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for text in [
            "",
            "[1,]",
            "{\"a\":1,}",
            "[,1]",
            "{,}",
            "01",
            "-",
            "1-2",
            "+1",
            "1.",
            ".5",
            "1e",
            "tru",
            "nul",
            "[1 2]",
            "{\"a\" 1}",
            "{1: 2}",
            "\"a\u{1}b\"",
            "\"\\x\"",
            "\"\\u12\"",
            "[1]]",
            "{}x",
            "\"open",
            "[",
            "{\"a\":",
            "truex",
            "[true false]",
            "NaN",
            "Infinity",
        ] {
            assert!(by_reader(text).is_err(), "reader took {text:?}");
        }
    }

    #[test]
    fn reads_eight_digits_at_once() {
        for text in ["00000000", "12345678", "99999999", "10000001", "87654321"] {
            let word = u64::from_le_bytes(text.as_bytes().try_into().unwrap());
            assert!(eight_digits(word), "{text}");
            assert_eq!(value_of_eight_digits(word), text.parse::<u64>().unwrap());
        }
        for text in [
            "1234567/", "1234567:", " 2345678", "-2345678", "1234.678", "12e45678",
        ] {
            let word = u64::from_le_bytes(text.as_bytes().try_into().unwrap());
            assert!(!eight_digits(word), "{text}");
        }
    }

    #[test]
    fn leaves_deep_nesting_to_serde_json() {
        let deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
        assert!(by_reader(&deep).is_err());
        let shallow = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(by_reader(&shallow).is_ok());
    }

    #[test]
    fn agrees_with_serde_json_on_mangled_files() {
        let base = r#"{"version": 1, "groups": {"beta": [1, "-2", 3.0]},
            "flags": {"a.b": {"enabled": true, "rollout_percentage": 12.5,
            "exclude_chats": [-1001234567890, "7", 1e2, [1, {"x": 1, "x": 2}]],
            "description": "d\u00e9j\\u00e0 \"vu\"", "salt": null}}}"#;
        let alphabet: &[u8] = b"{}[],:\"\\-+.eE0123456789 \ntruefalsnx";
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut bytes = base.as_bytes().to_vec();
            for _ in 0..1 + next(3) {
                let at = next(bytes.len());
                match next(3) {
                    0 => {
                        bytes.remove(at);
                    }
                    1 => bytes.insert(at, alphabet[next(alphabet.len())]),
                    _ => bytes[at] = alphabet[next(alphabet.len())],
                }
            }
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            assert!(agrees(&text), "reader and serde_json differ on {text:?}");
            accepted += usize::from(by_reader(&text).is_ok());
        }
        // Most single edits break a file; enough still parse to test values.
        assert!(accepted > 500, "only {accepted} mangled files parsed");
    }
}
