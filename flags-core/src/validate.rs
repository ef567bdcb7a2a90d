//! Flag file text → [`FlagFile`], or every problem with its path.
//!
//! Validation walks the whole file and collects problems instead of stopping
//! at the first, so an operator fixes a file in one round.
//!
//! It runs while the text is parsed, in one pass ([`stream`]): objects of
//! flags and groups and arrays of ids are read straight into the model,
//! with no tree in between, so a million excluded chat ids cost a
//! `Vec<i64>` and nothing else. A value of any other shape is collected as
//! a [`Json`] tree and checked here, as the whole file once was. Paths are
//! rendered only when a problem is reported. The text is read by
//! [`Reader`], a fast strict JSON reader; what it leaves (a syntax error,
//! deep nesting) is read again by serde_json, whose error messages users
//! see, so both give one result.

mod stream;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::de::DeserializeSeed;

use crate::error::{MAX_LISTED_PROBLEMS, Problem, Problems};
use crate::json::{Json, Num, Reader};
use crate::model::{
    BucketBy, ChatType, FORMAT_VERSION, FlagDef, FlagFile, IdError, Percentage, parse_id,
};
use crate::shorten::{MAX_PATH_CHARS, MAX_QUOTED_CHARS, Quoted, shorten};
use crate::suggest::nearest_name;
use stream::FileSeed;

const TOP_FIELDS: [&str; 3] = ["version", "flags", "groups"];
const FLAG_FIELDS: [&str; 8] = [
    "enabled",
    "rollout_percentage",
    "user_groups",
    "chat_types",
    "exclude_chats",
    "bucket_by",
    "salt",
    "description",
];
const MAX_NAME_LEN: usize = 128;

/// Parses and validates flag file text. The whole file is rejected if any
/// part of it is wrong; the error lists every problem found.
pub fn parse_flag_file(text: &str) -> Result<FlagFile, Problems> {
    // A UTF-8 byte-order mark, which Windows editors write, is not part of
    // the JSON: skip it (docs/spec.md "The flag file").
    let text = text.strip_prefix(BOM).unwrap_or(text);
    // Only JSON's own whitespace makes a file empty: a file of U+00A0 or
    // U+2028 is not empty but not JSON either.
    let content = text.trim_start_matches(JSON_WHITESPACE);
    if content.is_empty() {
        return Err(Problems::whole_file(
            "the file is empty; a flag file is a JSON object with \"version\": 1 and \"flags\"",
        ));
    }
    // The fast reader takes nearly every file; what it leaves (a syntax
    // error, deep nesting) is validated again with serde_json, whose
    // messages name the error and its place.
    let (file, problems) = match validate_fast(text) {
        Some(result) => result,
        None => validate_with_serde_json(text).map_err(|e| {
            Problems::whole_file(format!("not valid JSON: {e}{}", odd_start_hint(content)))
        })?,
    };
    if problems.is_empty() {
        Ok(file)
    } else {
        Err(problems)
    }
}

/// The UTF-8 byte-order mark, as a character.
const BOM: char = '\u{feff}';

/// Whitespace as JSON defines it (RFC 8259, `ws`).
const JSON_WHITESPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// For a file that starts with a character that looks like whitespace or
/// is invisible but is not JSON whitespace, the character by its code.
fn odd_start_hint(content: &str) -> String {
    match content.chars().next() {
        Some(c) if c.is_whitespace() || c.is_control() || c == BOM => format!(
            " (the file starts with U+{:04X}, which is not whitespace in JSON; only spaces, tabs and line breaks are)",
            u32::from(c)
        ),
        _ => String::new(),
    }
}

/// Validates with [`Reader`]; `None` for text it leaves to serde_json.
fn validate_fast(text: &str) -> Option<(FlagFile, Problems)> {
    let mut v = Validator::default();
    let mut reader = Reader::new(text);
    let file = FileSeed(&mut v).deserialize(&mut reader).ok()?;
    reader.end().ok()?;
    Some((file, v.into_problems()))
}

/// Validates with serde_json; a syntax error voids the problems found
/// before it.
fn validate_with_serde_json(text: &str) -> Result<(FlagFile, Problems), serde_json::Error> {
    let mut v = Validator::default();
    let mut de = serde_json::Deserializer::from_str(text);
    // What `serde_json::from_str` does: the value, then nothing but
    // whitespace.
    let file = FileSeed(&mut v).deserialize(&mut de)?;
    de.end()?;
    Ok((file, v.into_problems()))
}

/// Checks a flag or group name: 1–128 characters of `A-Z a-z 0-9 _ . -`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a name must not be empty".into());
    }
    // Characters first: only once they are all ASCII is the byte length the
    // character count the length message quotes.
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!(
            "{} contains {c:?}; names may use only A-Z a-z 0-9 _ . -",
            Quoted(name)
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "a name must be at most {MAX_NAME_LEN} characters, this one has {}",
            name.len()
        ));
    }
    Ok(())
}

/// Appends the step to `key` to `path`: `.key`, or `["a key"]` for a key
/// that is not a plain word. A long key is shortened in the middle.
fn push_key(path: &mut String, key: &str) {
    use std::fmt::Write;
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&shorten(key, MAX_QUOTED_CHARS));
    } else {
        let _ = write!(path, "[{}]", Quoted(key));
    }
}

/// Where a value is, as a chain of borrowed steps on the stack: walking a
/// file costs no allocation per key or item, and [`Path::render`] makes the
/// string only for a problem.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    fn at(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }

    /// The path as text, at most [`MAX_PATH_CHARS`] long: each long key
    /// shortened, then the whole, so a problem costs a bounded message
    /// whatever the names in the file.
    fn render(&self) -> String {
        let mut path = String::new();
        self.render_into(&mut path);
        match shorten(&path, MAX_PATH_CHARS) {
            std::borrow::Cow::Borrowed(_) => path,
            std::borrow::Cow::Owned(short) => short,
        }
    }

    fn render_into(&self, path: &mut String) {
        match *self {
            Path::Root => {}
            Path::Key(parent, key) => {
                parent.render_into(path);
                push_key(path, key);
            }
            Path::Index(parent, i) => {
                parent.render_into(path);
                use std::fmt::Write;
                let _ = write!(path, "[{i}]");
            }
        }
    }
}

#[derive(Default)]
struct Validator {
    /// The first [`MAX_LISTED_PROBLEMS`] of validation's problems, in file
    /// order; later ones are only counted.
    problems: Vec<Problem>,
    /// Every problem found, listed or not.
    found: usize,
    /// Duplicate keys, ranked by the pre-order number of their object. A
    /// streamed object learns its duplicates only after its members, but
    /// they are listed first, before validation's problems, parents before
    /// children, as a walk of the whole tree would find them. Only the
    /// [`MAX_LISTED_PROBLEMS`] first in that order are kept, by (object
    /// number, problems found so far): the last in order is the one
    /// dropped.
    duplicates: BTreeMap<(usize, usize), Problem>,
    /// Objects and collected trees numbered so far, in pre-order.
    numbered: usize,
    /// Reused while reading an id array, so each array costs one allocation
    /// of exactly its length.
    id_buffer: Vec<i64>,
}

impl Validator {
    fn report(&mut self, path: &Path, message: impl Into<String>) {
        self.found += 1;
        // Only listed problems are rendered: a million bad entries cost a
        // count, not a million paths.
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(Problem {
                path: path.render(),
                message: message.into(),
            });
        }
    }

    fn next_number(&mut self) -> usize {
        self.numbered += 1;
        self.numbered
    }

    fn into_problems(self) -> Problems {
        let listed = self.duplicates.into_values().chain(self.problems).collect();
        Problems::new(listed, self.found)
    }

    /// Reports every duplicate key inside a collected tree.
    fn tree(&mut self, value: &Json, path: &Path) {
        if value.is_container() {
            let number = self.next_number();
            self.tree_duplicates(number, value, path);
        }
    }

    fn tree_duplicates(&mut self, number: usize, value: &Json, path: &Path) {
        match value {
            Json::Object(entries) => {
                self.key_duplicates(number, path, entries, |(key, _)| key);
                for (key, inner) in entries {
                    if inner.is_container() {
                        self.tree_duplicates(number, inner, &path.key(key));
                    }
                }
            }
            Json::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if item.is_container() {
                        self.tree_duplicates(number, item, &path.at(i));
                    }
                }
            }
            _ => {}
        }
    }

    /// Reports every key that appears more than once among `entries`, the
    /// members of the object at `path`.
    fn key_duplicates<T>(
        &mut self,
        number: usize,
        path: &Path,
        entries: &[T],
        key_of: impl Fn(&T) -> &str,
    ) {
        // Small objects (a flag's fields) are scanned directly; large ones
        // (thousands of flags) are counted with a map so the check stays
        // linear.
        if entries.len() <= 16 {
            for (i, entry) in entries.iter().enumerate() {
                let key = key_of(entry);
                let seen_before = entries[..i].iter().any(|e| key_of(e) == key);
                if !seen_before {
                    let count = entries[i..].iter().filter(|e| key_of(e) == key).count();
                    if count > 1 {
                        self.report_duplicate(number, path, key, count);
                    }
                }
            }
        } else {
            let mut times: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
            let mut any_repeated = false;
            for entry in entries {
                let count = times.entry(key_of(entry)).or_default();
                *count += 1;
                any_repeated |= *count > 1;
            }
            if !any_repeated {
                return;
            }
            let mut reported: HashSet<&str> = HashSet::new();
            for entry in entries {
                let key = key_of(entry);
                let count = times[key];
                if count > 1 && reported.insert(key) {
                    self.report_duplicate(number, path, key, count);
                }
            }
        }
    }

    fn report_duplicate(&mut self, number: usize, path: &Path, key: &str, count: usize) {
        self.found += 1;
        let rank = (number, self.found);
        if self.duplicates.len() >= MAX_LISTED_PROBLEMS {
            match self.duplicates.last_key_value() {
                Some((&last, _)) if rank < last => {
                    self.duplicates.pop_last();
                }
                _ => return,
            }
        }
        self.duplicates.insert(
            rank,
            Problem {
                path: path.key(key).render(),
                message: format!("appears {count} times in one object; JSON keeps only one, so remove or rename the others"),
            },
        );
    }

    fn unknown_field(&mut self, path: &Path, key: &str, known: &[&str]) {
        let hint = match nearest_name(key, known.iter().copied()) {
            Some(near) => format!("unknown field; did you mean {near:?}?"),
            None => format!("unknown field; expected one of {}", known.join(", ")),
        };
        self.report(path, hint);
    }

    fn name(&mut self, path: &Path, name: &str) -> bool {
        match check_name(name) {
            Ok(()) => true,
            Err(msg) => {
                self.report(path, msg);
                false
            }
        }
    }

    /// A collected value where an object was expected: its duplicates, and
    /// that it is no object.
    fn not_an_object(&mut self, value: &Json, path: &Path, what: &str) {
        self.tree(value, path);
        if !matches!(value, Json::Object(_)) {
            self.report(path, format!("must be {what}, not {}", value.kind()));
        }
    }

    /// A collected value where an array of ids was expected.
    fn not_an_id_array(&mut self, value: &Json, path: &Path, what: &str) {
        self.tree(value, path);
        if !matches!(value, Json::Array(_)) {
            self.report(
                path,
                format!("must be an array of {what}, not {}", value.kind()),
            );
        }
    }

    /// Item `i` of the id array at `path`, of a shape other than a plain
    /// integer.
    fn id(&mut self, value: &Json, path: &Path, i: usize) -> Option<i64> {
        let problem = match value {
            Json::Num(Num::Int(n)) => return Some(*n),
            Json::Num(Num::Big(_)) => IdError::OutOfRange.to_string(),
            // The integer `-0` (serde_json reads it as -0.0), like "-0".
            Json::Num(Num::Float(x)) if *x == 0.0 && x.is_sign_negative() => {
                IdError::NegativeZero.to_string()
            }
            // serde_json reads an integer literal beyond u64 (or below
            // i64::MIN) as a float; 2^63 is the first float outside i64.
            Json::Num(Num::Float(x)) if x.fract() == 0.0 && x.abs() >= -(i64::MIN as f64) => {
                IdError::OutOfRange.to_string()
            }
            Json::Num(Num::Float(x)) if x.fract() == 0.0 => {
                "is not written as a plain integer (no decimal point or exponent)".to_owned()
            }
            Json::Num(Num::Float(_)) => "is not an integer".to_owned(),
            Json::Str(s) => match parse_id(s) {
                Ok(id) => return Some(id),
                Err(e) => e.to_string(),
            },
            other => format!(
                "must be an integer or a decimal string, not {}",
                other.kind()
            ),
        };
        self.report(
            &path.at(i),
            format!("{value} {problem}; ids are integers such as -1001234567890"),
        );
        None
    }

    fn version(&mut self, value: &Json, path: &Path) {
        match value {
            Json::Num(Num::Int(n)) if *n == FORMAT_VERSION as i64 => {}
            Json::Num(Num::Int(_)) => self.report(
                path,
                format!("{value} is not a supported format version; this library reads version {FORMAT_VERSION}"),
            ),
            other => self.report(
                path,
                format!("{other} is not a format version; write \"version\": {FORMAT_VERSION}"),
            ),
        }
    }

    /// One chat type in a flag's `chat_types`.
    fn chat_type(&mut self, item: &Json, path: &Path, chat_types: &mut Vec<ChatType>) {
        match item {
            Json::Str(s) => self.chat_type_name(s, path, chat_types),
            other => self.report(
                path,
                format!(
                    "must be a chat type (private, group, supergroup or channel), not {}",
                    other.kind()
                ),
            ),
        }
    }

    fn chat_type_name(&mut self, name: &str, path: &Path, chat_types: &mut Vec<ChatType>) {
        match name.parse::<ChatType>() {
            Ok(t) => chat_types.push(t),
            Err(_) => {
                let names = ChatType::ALL.map(ChatType::as_str);
                let hint = match nearest_name(name, names) {
                    Some(near) => format!("; did you mean {near:?}?"),
                    None => String::new(),
                };
                self.report(path, format!("{} is not a chat type; expected one of private, group, supergroup, channel{hint}", Quoted(name)));
            }
        }
    }

    /// One field of a flag, collected as a tree. (`exclude_chats` and, in
    /// a flag that is an object, `chat_types` are streamed instead.)
    fn field(&mut self, def: &mut FlagDef, key: &str, value: Json, path: &Path) {
        match key {
            "enabled" => match value {
                Json::Bool(b) => def.enabled = b,
                other => self.report(path, format!("must be true or false, not {}", other.kind())),
            },
            "rollout_percentage" => {
                if let Some(p) = self.percentage(&value, path) {
                    def.rollout_percentage = p;
                }
            }
            "user_groups" => {
                let Json::Array(items) = value else {
                    return self.report(
                        path,
                        format!("must be an array of group names, not {}", value.kind()),
                    );
                };
                for (i, item) in items.into_iter().enumerate() {
                    let path = path.at(i);
                    match item {
                        Json::Str(s) => {
                            if self.name(&path, &s) {
                                def.user_groups.push(s);
                            }
                        }
                        other => self.report(
                            &path,
                            format!("must be a group name (a string), not {}", other.kind()),
                        ),
                    }
                }
            }
            "chat_types" => {
                let Json::Array(items) = value else {
                    return self.report(
                        path,
                        format!("must be an array of chat types, not {}", value.kind()),
                    );
                };
                for (i, item) in items.iter().enumerate() {
                    self.chat_type(item, &path.at(i), &mut def.chat_types);
                }
            }
            "bucket_by" => match value {
                Json::Str(s) if s == "user" => def.bucket_by = BucketBy::User,
                Json::Str(s) if s == "chat" => def.bucket_by = BucketBy::Chat,
                other => self.report(
                    path,
                    format!("{other} is not valid; expected \"user\" or \"chat\""),
                ),
            },
            "salt" => match value {
                Json::Str(s) if !s.is_empty() => def.salt = Some(s),
                Json::Str(_) => self.report(
                    path,
                    "must not be empty; leave it out to use the flag's name",
                ),
                other => self.report(path, format!("must be a string, not {}", other.kind())),
            },
            "description" => match value {
                Json::Str(s) => def.description = Some(s),
                other => self.report(path, format!("must be a string, not {}", other.kind())),
            },
            _ => self.unknown_field(path, key, &FLAG_FIELDS),
        }
    }

    fn percentage(&mut self, value: &Json, path: &Path) -> Option<Percentage> {
        let number = match value {
            Json::Num(Num::Int(n)) => *n as f64,
            Json::Num(Num::Big(n)) => *n as f64,
            Json::Num(Num::Float(x)) => *x,
            Json::Str(s) if s.parse::<Percentage>().is_ok() => {
                self.report(
                    path,
                    format!("{value} is a string, not a number; write it without quotes"),
                );
                return None;
            }
            other => {
                self.report(
                    path,
                    format!(
                        "{other} is not a number; write a number from 0 to 100 such as 25 or 12.5"
                    ),
                );
                return None;
            }
        };
        match Percentage::from_f64(number) {
            Ok(p) => Some(p),
            Err(e) => {
                self.report(path, format!("{value} {e}"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both readers, and the problems' paths in order.
    fn paths_both_ways(text: &str) -> Vec<String> {
        let fast = validate_fast(text).expect("the fast reader takes this text");
        let slow = validate_with_serde_json(text).expect("valid JSON");
        assert_eq!(fast, slow, "the readers differ on {text}");
        fast.1.iter().map(|p| p.path.clone()).collect()
    }

    #[test]
    fn duplicates_come_first_parents_before_children() {
        // A streamed object learns its duplicates after its members'; they
        // must still be listed as a walk from the top finds them.
        let text = r#"{
            "flags": {
                "a": {"enabled": true, "x": {"k": 1, "k": 2}, "enabled": 1,
                      "exclude_chats": [[{"j": 1, "j": 2}], "bad"]},
                "a": {"enabled": true, "chat_types": [{"c": 1, "c": 2}]}
            },
            "groups": {"g": [1, {"h": 1, "h": 2}], "g": []},
            "version": 1,
            "version": 1
        }"#;
        assert_eq!(
            paths_both_ways(text),
            [
                "version",
                "flags.a",
                "flags.a.enabled",
                "flags.a.x.k",
                "flags.a.exclude_chats[0][0].j",
                "flags.a.chat_types[0].c",
                "groups.g",
                "groups.g[1].h",
                // Then validation's own problems, in file order.
                "flags.a.x",
                "flags.a.enabled",
                "flags.a.exclude_chats[0]",
                "flags.a.exclude_chats[1]",
                "flags.a.chat_types[0]",
                "groups.g[1]",
            ]
        );
    }

    #[test]
    fn both_readers_agree_on_valid_and_invalid_files() {
        for text in [
            r#"{"version": 1, "flags": {}}"#,
            r#"{"version": 1, "groups": {"b": [1, "2", -3]}, "flags": {"f": {"enabled": true,
                "rollout_percentage": 12.5, "chat_types": ["private"], "exclude_chats": ["-100", 5],
                "bucket_by": "chat", "salt": "s", "description": "caf\u00e9", "user_groups": ["b"]}}}"#,
            r#"{"version": 2, "flags": {"bad name": {"enabled": "yes", "rollout_percentage": "50",
                "bucket_by": "group", "salt": "", "description": 3, "chat_types": "private",
                "exclude_chats": {"a": 1}, "user_groups": [1], "enabld": true}}}"#,
            r#"[1, {"a": 1, "a": 2}]"#,
            r#"{"flags": [], "groups": 3, "version": "1", "extra": {"x": [1, 1]}}"#,
            r#"{"version": 1, "flags": {"f": {"enabled": true, "exclude_chats":
                [-0, 1.0, 1e2, 9223372036854775808, -9223372036854775809, 1e300, null]}}}"#,
        ] {
            paths_both_ways(text);
        }
    }

    /// Id arrays go through the fast reader's own loop when they hold
    /// only plain integers, and through the generic path otherwise: either
    /// way the ids, the problems and their paths are serde_json's.
    #[test]
    fn id_arrays_read_alike_on_both_paths() {
        for ids in [
            "[]",
            "[1, -2, 3]",
            "[\n        -1001234567890,\n        -1001234567891\n      ]",
            "[1,2,3,1,2,3]",
            "[-0, 0]",
            "[1e3, 1.0, 1.5, -1E+2]",
            "[9223372036854775807, -9223372036854775808]",
            "[9223372036854775808, -9223372036854775809, 18446744073709551616]",
            "[1234567890123456789, 123456789012345678, 1000000000000000]",
            "[\"12\", \"-0\", \"x\", \"9223372036854775808\"]",
            "[null, true, [1], {\"a\": 1, \"a\": 2}]",
            "[1, 2, [3, [4]], 5]",
            "{\"a\": [1]}",
            "7",
        ] {
            let text = format!(
                r#"{{"version": 1, "groups": {{"g": {ids}}},
                "flags": {{"f": {{"enabled": true, "user_groups": ["g"], "exclude_chats": {ids}}}}}}}"#
            );
            paths_both_ways(&text);
        }
        // Syntax errors inside an id array: the fast reader leaves the file
        // to serde_json, whose message names the place.
        for ids in ["[1,]", "[1 2]", "[01]", "[1,,2]", "[-]", "[1"] {
            let text = format!(
                r#"{{"version": 1, "flags": {{"f": {{"enabled": true, "exclude_chats": {ids}}}}}}}"#
            );
            assert!(validate_fast(&text).is_none(), "{ids}");
            assert!(validate_with_serde_json(&text).is_err(), "{ids}");
        }
    }

    #[test]
    fn paths_quote_unusual_keys() {
        let flags = Path::Root.key("flags");
        assert_eq!(flags.render(), "flags");
        assert_eq!(flags.key("a.b").render(), "flags[\"a.b\"]");
        let x = flags.key("x");
        let ids = x.key("exclude_chats");
        assert_eq!(ids.at(2).render(), "flags.x.exclude_chats[2]");
    }
}
