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

/// The newtype name under which the validator's stream asks for an array
/// of ids. This reader then reads an array of nothing but plain integers
/// whole, in one loop ([`Reader::plain_ids`]), and hands the visitor the
/// ids; any other value, and any other deserializer (serde_json), gives
/// the visitor the value itself, as a newtype's content. An id cost about
/// 210 instructions through the generic visitor (the next-element
/// bookkeeping, the item enum, whitespace a byte at a time); the loop
/// takes about 115, and handing its ids to the visitor about 15.
pub(crate) const ID_ARRAY: &str = "$flags_core::IdArray";

/// Powers of ten up to 10^8, for joining a run of digits to the ones
/// before it.
const POWERS_OF_TEN: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

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
    /// Reused by [`Reader::plain_ids`]: after the first array, reading
    /// one allocates nothing.
    ids: Vec<i64>,
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
            ids: Vec::new(),
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
        self.pos = whitespace_end(self.text.as_bytes(), self.pos);
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

    /// Reads the array at the current `[` into `ids` if it holds nothing
    /// but integers in the plain form [`Reader::number`] takes (no sign
    /// but `-`, no leading zero, not `-0`, no fraction or exponent, at
    /// most 18 digits), separated as JSON allows. Anything else (another
    /// value, a number in another form, a syntax error) returns `false`
    /// with the position unchanged, for the generic path to read the
    /// array from its start, or refuse it: so an array this loop takes
    /// gives exactly the ids the generic path would, and any other gives
    /// whatever the generic path gives.
    fn plain_ids(&mut self, ids: &mut Vec<i64>) -> bool {
        // The generic path would refuse an array this deep.
        if self.depth >= MAX_DEPTH {
            return false;
        }
        let bytes = self.text.as_bytes();
        let mut pos = whitespace_end(bytes, self.pos + 1);
        if bytes.get(pos) == Some(&b']') {
            self.pos = pos + 1;
            return true;
        }
        let mut separator: Option<Separator> = None;
        // Where the last id ended, when `pos` came from the separator
        // shortcut: past the separator may be more whitespace than it had,
        // which the general step after that id then reads.
        let mut shortcut_from = None;
        loop {
            let end = match plain_integer(bytes, pos) {
                Some((id, end)) => {
                    ids.push(id);
                    // The last separator again: one comparison.
                    if let Some(next) = separator.and_then(|s| s.skip(bytes, end)) {
                        shortcut_from = Some(end);
                        pos = next;
                        continue;
                    }
                    end
                }
                None => match shortcut_from {
                    Some(end) => end,
                    None => return false,
                },
            };
            shortcut_from = None;
            pos = whitespace_end(bytes, end);
            match bytes.get(pos) {
                Some(b',') => {
                    pos = whitespace_end(bytes, pos + 1);
                    separator = Separator::new(&bytes[end..pos]);
                }
                Some(b']') => {
                    self.pos = pos + 1;
                    return true;
                }
                _ => return false,
            }
        }
    }
}

/// The bytes between two items of an array (the comma, and in a pretty
/// file the line break and indentation): a file repeats the same ones
/// between every two ids, which one 16-byte comparison then skips instead
/// of a loop over whitespace (about 35 instructions an id).
#[derive(Clone, Copy)]
struct Separator {
    /// The bytes, the first in the lowest; zero past `len`.
    bytes: u128,
    /// Ones over the first `len` bytes.
    mask: u128,
    len: usize,
}

impl Separator {
    /// `bytes`, if they fit in 16 (whitespace, a comma, whitespace: what
    /// the caller read between two items).
    fn new(bytes: &[u8]) -> Option<Separator> {
        if bytes.is_empty() || bytes.len() > 16 {
            return None;
        }
        let mut word = [0u8; 16];
        word[..bytes.len()].copy_from_slice(bytes);
        Some(Separator {
            bytes: u128::from_le_bytes(word),
            mask: u128::MAX >> (128 - 8 * bytes.len()),
            len: bytes.len(),
        })
    }

    /// Where the separator starting at `at` ends, if it is this one.
    /// (Near the end of the text: `None`, for the general loop.)
    #[inline]
    fn skip(self, bytes: &[u8], at: usize) -> Option<usize> {
        let chunk = bytes.get(at..at + 16)?;
        let word = u128::from_le_bytes(chunk.try_into().expect("sixteen bytes"));
        (word & self.mask == self.bytes).then_some(at + self.len)
    }
}

/// Where the run of JSON whitespace at `pos` ends.
#[inline]
fn whitespace_end(bytes: &[u8], mut pos: usize) -> usize {
    loop {
        match bytes.get(pos) {
            // Pretty files indent every id: runs of spaces go eight at a
            // time.
            Some(b' ') if bytes.get(pos..pos + 8) == Some(b"        ") => pos += 8,
            Some(b' ' | b'\n' | b'\t' | b'\r') => pos += 1,
            _ => return pos,
        }
    }
}

/// The integer at `start` if it is written in the plain form (see
/// [`Reader::plain_ids`]), and where it ends. Digits go eight at a time:
/// a word's leading digits are counted at once and their value computed
/// in three multiplications, so an id of 9 to 15 digits costs two words.
#[inline]
fn plain_integer(bytes: &[u8], start: usize) -> Option<(i64, usize)> {
    let negative = bytes.get(start) == Some(&b'-');
    let first = start + usize::from(negative);
    let (high, low) = sixteen_bytes_at(bytes, first);
    let run = leading_digits(high);
    let (magnitude, digits) = if run < 8 {
        if run == 0 {
            return None;
        }
        (value_of_leading_digits(high, run), run)
    } else {
        let more = leading_digits(low);
        if more == 8 {
            // 16 digits or more: no id has so many; the generic path.
            return None;
        }
        let tail = if more == 0 {
            0
        } else {
            value_of_leading_digits(low, more)
        };
        (
            value_of_eight_digits(high) * POWERS_OF_TEN[more] + tail,
            8 + more,
        )
    };
    // A leading zero is a syntax error, and `-0` serde_json reads as the
    // float -0.0: both for the generic path.
    if high & 0xFF == u64::from(b'0') && (digits > 1 || negative) {
        return None;
    }
    // 15 digits are below 2^63: neither the cast nor the negation overflows.
    let magnitude = magnitude as i64;
    Some((
        if negative { -magnitude } else { magnitude },
        first + digits,
    ))
}

/// The value of the first `run` (1 to 8) bytes of `word`, all digits.
#[inline]
fn value_of_leading_digits(word: u64, run: usize) -> u64 {
    // The run moved to the top bytes: the zero bytes below it read as
    // leading zeros.
    value_of_eight_digits(word << (64 - 8 * run))
}

/// The sixteen bytes at `i` as two words, the first byte in the lowest;
/// past the end of the text, zero bytes (not digits).
#[inline]
fn sixteen_bytes_at(bytes: &[u8], i: usize) -> (u64, u64) {
    match bytes.get(i..i + 16) {
        Some(chunk) => (
            u64::from_le_bytes(chunk[..8].try_into().expect("eight bytes")),
            u64::from_le_bytes(chunk[8..].try_into().expect("eight bytes")),
        ),
        None => sixteen_bytes_near_end(bytes, i),
    }
}

#[cold]
fn sixteen_bytes_near_end(bytes: &[u8], i: usize) -> (u64, u64) {
    let rest = bytes.get(i..).unwrap_or_default();
    let mut word = [0u8; 16];
    word[..rest.len()].copy_from_slice(rest);
    let word = u128::from_le_bytes(word);
    (word as u64, (word >> 64) as u64)
}

/// How many of `word`'s bytes, from the lowest, are ASCII digits before
/// the first that is not (8 when all are).
#[inline]
fn leading_digits(word: u64) -> usize {
    const HIGH_NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    // As in [`eight_digits`], per byte; adding 6 carries out of a byte
    // only from one above 0xF9, not a digit, so the bytes below the first
    // non-digit are judged exactly, and nothing after it matters.
    let not_digit = ((word & HIGH_NIBBLES) ^ ZEROS)
        | ((word.wrapping_add(0x0606_0606_0606_0606) & HIGH_NIBBLES) ^ ZEROS);
    (not_digit.trailing_zeros() / 8) as usize
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

    /// The value, as serde_json gives a newtype's content; for
    /// [`ID_ARRAY`], an array of plain integers read whole.
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Unusual> {
        self.skip_whitespace();
        if name == ID_ARRAY && self.peek() == Some(b'[') {
            let mut ids = std::mem::take(&mut self.ids);
            ids.clear();
            if self.plain_ids(&mut ids) {
                let value = visitor.visit_newtype_struct(ReadIds(&ids));
                self.ids = ids;
                return value;
            }
            self.ids = ids;
        }
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// An array [`Reader::plain_ids`] read, as a deserializer: a sequence of
/// its ids, whose length it tells ([`SeqAccess::size_hint`]), so the
/// visitor can put them straight into a vector of that size.
struct ReadIds<'a>(&'a [i64]);

impl<'de> Deserializer<'de> for ReadIds<'_> {
    type Error = Unusual;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unusual> {
        visitor.visit_seq(ReadIdItems(self.0.iter()))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct ReadIdItems<'a>(std::slice::Iter<'a, i64>);

impl<'de> SeqAccess<'de> for ReadIdItems<'_> {
    type Error = Unusual;

    #[inline]
    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Unusual> {
        match self.0.next() {
            Some(&id) => seed.deserialize(ReadId(id)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// One id of a [`ReadIds`], visited as [`Reader::number`] visits it.
struct ReadId(i64);

impl<'de> Deserializer<'de> for ReadId {
    type Error = Unusual;

    #[inline]
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unusual> {
        match u64::try_from(self.0) {
            Ok(n) => visitor.visit_u64(n),
            Err(_) => visitor.visit_i64(self.0),
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

    use proptest::prelude::*;
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

    /// Reads `text` as the newtype `name` (the stream's way of asking for
    /// an id array when `name` is [`ID_ARRAY`]), then nothing but
    /// whitespace.
    fn by_reader_as(name: &'static str, text: &str) -> Result<Json, Unusual> {
        struct Newtype;
        impl<'de> Visitor<'de> for Newtype {
            type Value = Json;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a newtype")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
                Json::deserialize(d)
            }
        }
        let mut reader = Reader::new(text);
        let value = (&mut reader).deserialize_newtype_struct(name, Newtype)?;
        reader.end()?;
        Ok(value)
    }

    /// The id-array loop gives what the generic path gives: the same
    /// value, or a refusal (Debug tells -0.0 from 0.0, 1 from 1.0).
    fn id_array_agrees(text: &str) {
        let fast = by_reader_as(ID_ARRAY, text).map(|j| format!("{j:?}"));
        let generic = by_reader_as("Other", text).map(|j| format!("{j:?}"));
        assert_eq!(fast.ok(), generic.ok(), "the two paths differ on {text:?}");
    }

    /// Whether the id-array loop takes `text` itself, and the ids it reads.
    fn plain_ids_of(text: &str) -> Option<Vec<i64>> {
        let mut reader = Reader::new(text);
        reader.skip_whitespace();
        let mut ids = Vec::new();
        reader.plain_ids(&mut ids).then_some(ids)
    }

    #[test]
    fn the_id_array_loop_reads_plain_integers() {
        for (text, ids) in [
            ("[]", vec![]),
            (" [ ] ", vec![]),
            ("[0]", vec![0]),
            ("[-1001234567890,7,\n  -3]", vec![-1_001_234_567_890, 7, -3]),
            (
                "[\n        1,\n        -22,\n        333\n      ]",
                vec![1, -22, 333],
            ),
            ("[ 1 ,\t2\r\n, 3 ]", vec![1, 2, 3]),
            (
                "[12345678, 123456789, 999999999999999]",
                vec![12_345_678, 123_456_789, 999_999_999_999_999],
            ),
            (
                "[-999999999999999, 100000000000000]",
                vec![-999_999_999_999_999, 100_000_000_000_000],
            ),
        ] {
            assert_eq!(plain_ids_of(text).as_deref(), Some(&ids[..]), "{text:?}");
            id_array_agrees(text);
        }
        // Forms left to the generic path, which reads or refuses them.
        for text in [
            "[-0]",
            "[01]",
            "[-01]",
            "[1e3]",
            "[1.0]",
            "[1E+2]",
            "[1,]",
            "[,1]",
            "[1 2]",
            "[1",
            "[1,",
            "[\"1\"]",
            "[null]",
            "[[1]]",
            "[1]x",
            "[+1]",
            "[1-2]",
            "[1000000000000000]",
            "[9223372036854775807]",
            "[-9223372036854775808]",
            "[9223372036854775808]",
            "[18446744073709551616]",
            "[1,,2]",
            "[1, 2 3]",
        ] {
            let taken = plain_ids_of(text);
            // `[1]x`'s array is plain; what follows is the caller's concern.
            assert!(taken.is_none() || text == "[1]x", "the loop took {text:?}");
            id_array_agrees(text);
        }
    }

    #[test]
    fn the_id_array_loop_is_only_for_the_id_array_name() {
        // Another newtype name, or any other value, reads as the value
        // (serde_json's way: the visitor is given the deserializer).
        assert!(matches!(
            by_reader_as("Other", "[1, 2]"),
            Ok(Json::Array(_))
        ));
        assert!(matches!(
            by_reader_as(ID_ARRAY, "{\"a\": 1}"),
            Ok(Json::Object(_))
        ));
        assert!(matches!(by_reader_as(ID_ARRAY, "\"x\""), Ok(Json::Str(_))));
        // An array the generic path would find too deep, the loop leaves.
        let mut reader = Reader::new("[1]");
        reader.depth = MAX_DEPTH;
        assert!(!reader.plain_ids(&mut Vec::new()));
    }

    /// One array item, as text: mostly plain integers (any length, at and
    /// past i64's bounds), and every form the generic path treats apart.
    fn item() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => (-999_999_999_999_999i64..=999_999_999_999_999).prop_map(|n| n.to_string()),
            2 => any::<i64>().prop_map(|n| n.to_string()),
            2 => (-1000i64..1000).prop_map(|n| n.to_string()),
            2 => (0u32..20, any::<u64>(), any::<bool>()).prop_map(|(digits, n, negative)| {
                let digits = format!("{n:020}")[..digits as usize + 1].to_owned();
                if negative { format!("-{digits}") } else { digits }
            }),
            1 => prop::sample::select(vec![
                "-0", "0", "00", "-00", "007", "1e3", "1.0", "-1.5e-3", "1E+2", "0.0",
                "9223372036854775807", "-9223372036854775808", "9223372036854775808",
                "-9223372036854775809", "18446744073709551615", "18446744073709551616",
                "123456789012345678", "1234567890123456789", "-", "+1", "1-2", "\"123\"",
                "\"-0\"", "null", "true", "[1, 2]", "[]", "{}", "{\"a\": 1}", "1.", ".5",
                "0x10", "", "nul", "1 2", "\"\\u0031\"",
            ])
            .prop_map(str::to_owned),
        ]
    }

    /// What goes between items: JSON's separators in several layouts, and
    /// a few that are not.
    fn separator() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            6 => prop::sample::select(vec![",", ", ", ",\n        ", ",\n      ", " ,\t", "\r\n,\r\n"]),
            1 => prop::sample::select(vec![",,", "", " ", ";", ",]", ",\n        \n"]),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// The fast id-array path gives the same value or the same refusal
        /// as the generic path, for random arrays of every item form and
        /// layout (the padding after them moves the ids away from the end
        /// of the text, where the loop reads short words).
        #[test]
        fn the_id_array_path_agrees_with_the_generic_path(
            items in prop::collection::vec((item(), separator()), 0..12),
            open in prop::sample::select(vec!["[", "[ ", "[\n        "]),
            close in prop::sample::select(vec!["]", " ]", "\n      ]", ",]", ""]),
            padding in 0usize..20,
        ) {
            let mut text = String::from(open);
            for (i, (item, sep)) in items.iter().enumerate() {
                if i > 0 {
                    text.push_str(sep);
                }
                text.push_str(item);
            }
            text.push_str(close);
            text.push_str(&" ".repeat(padding));
            id_array_agrees(&text);
            // Plain arrays the loop takes whole, with the values Rust reads.
            let plain: Option<Vec<i64>> = items.iter().map(|(item, _)| {
                let digits = item.strip_prefix('-').unwrap_or(item);
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let id: i64 = item.parse().ok()?;
                let leading_zero = digits.starts_with('0') && (digits.len() > 1 || item.starts_with('-'));
                let plain = !leading_zero && digits.len() <= 15;
                plain.then_some(id)
            }).collect();
            let separated = items.iter().skip(1).all(|(_, sep)| {
                sep.trim_matches([' ', '\n', '\t', '\r']) == ","
            });
            if let (Some(ids), true, true) = (plain, separated, close.trim_start() == "]") {
                proptest::prop_assert_eq!(plain_ids_of(&text), Some(ids), "{:?}", text);
            }
        }

        /// Arrays of plain ids, laid out as files are (one separator
        /// throughout, or a different one each time), the loop takes whole.
        #[test]
        fn the_id_array_loop_takes_plain_arrays(
            ids in prop::collection::vec(-999_999_999_999_999i64..=999_999_999_999_999, 0..40),
            separators in prop::collection::vec(
                prop::sample::select(vec![",", ", ", ",\n        ", ",\n  ", " ,\t", ",\n                  "]),
                1..4,
            ),
            padding in 0usize..20,
        ) {
            let mut text = String::from("[");
            for (i, id) in ids.iter().enumerate() {
                if i > 0 {
                    text.push_str(separators[i % separators.len()]);
                }
                text.push_str(&id.to_string());
            }
            text.push(']');
            text.push_str(&" ".repeat(padding));
            proptest::prop_assert_eq!(plain_ids_of(&text), Some(ids), "{:?}", text);
            id_array_agrees(&text);
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
