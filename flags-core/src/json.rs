//! A JSON tree that keeps what `serde_json::Value` throws away.
//!
//! `serde_json::Value` keeps only the last of two equal keys, so a file with
//! two `new_gpt_model` entries would silently lose one. This tree keeps every
//! entry of an object, in file order, so validation can report duplicates.
//!
//! Validation streams the parts of a file that have the expected shape
//! straight into the model; only values of another shape (and small
//! scalars) become trees, so a file's size never turns into a tree's size.
//!
//! Other files the tools read (the rollouts file) go through
//! [`parse_strict_json`]: the same reader and tree, then a
//! `serde_json::Value` once no object uses a key twice.

mod reader;

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

pub(crate) use reader::ID_ARRAY;
pub(crate) use reader::Reader;

/// A JSON number as the parser saw it: integers stay exact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    /// A non-negative integer above `i64::MAX`.
    Big(u64),
    Float(f64),
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Int(n) => write!(f, "{n}"),
            Num::Big(n) => write!(f, "{n}"),
            // Debug keeps the decimal point or exponent the file had, so a
            // message about `1.0` does not quote it as `1`.
            Num::Float(x) => write!(f, "{x:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Num(Num),
    Str(String),
    Array(Vec<Json>),
    /// Every entry in file order, duplicates included.
    Object(Vec<(String, Json)>),
}

impl Json {
    pub(crate) fn is_container(&self) -> bool {
        matches!(self, Json::Array(_) | Json::Object(_))
    }

    /// What a person would call this value's type, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Num(_) => "a number",
            Json::Str(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

impl fmt::Display for Json {
    /// A short rendering of the value, for quoting it in an error message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Num(n) => write!(f, "{n}"),
            Json::Str(s) => write!(f, "{}", crate::shorten::Quoted(s)),
            Json::Array(_) => f.write_str("[...]"),
            Json::Object(_) => f.write_str("{...}"),
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

/// Builds a [`Json`] tree; public to the crate so validation can collect a
/// value of an unexpected shape as a tree from the middle of a stream.
pub(crate) struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Num(Num::Int(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Num(match i64::try_from(v) {
            Ok(i) => Num::Int(i),
            Err(_) => Num::Big(v),
        }))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Num(Num::Float(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            entries.push((key, value));
        }
        Ok(Json::Object(entries))
    }
}

/// Parses UTF-8 JSON text into a tree that keeps duplicate keys. The fast
/// [`Reader`] takes nearly all text; what it leaves (a syntax error, deep
/// nesting) is read again by serde_json, whose errors users see.
pub(crate) fn parse(text: &str) -> Result<Json, serde_json::Error> {
    let mut reader = Reader::new(text);
    if let Ok(tree) = Json::deserialize(&mut reader)
        && reader.end().is_ok()
    {
        return Ok(tree);
    }
    serde_json::from_str(text)
}

/// Why text is not JSON that [`parse_strict_json`] takes.
#[derive(Debug)]
pub enum StrictJsonError {
    /// serde_json's message, with its line and column.
    Syntax(serde_json::Error),
    /// A key used twice in one object; `object` is that object's path.
    DuplicateKey { key: String, object: String },
}

impl fmt::Display for StrictJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictJsonError::Syntax(e) => write!(f, "{e}"),
            StrictJsonError::DuplicateKey { key, object } => {
                let object = if object.is_empty() {
                    "the top level"
                } else {
                    object
                };
                write!(
                    f,
                    "{key:?} appears twice in one object ({object}); JSON keeps only one, so remove or rename the other"
                )
            }
        }
    }
}

impl std::error::Error for StrictJsonError {}

/// Parses JSON text into a `serde_json::Value`, refusing a key used twice
/// in one object, which serde_json alone would silently drop but for the
/// last. The first duplicate in the text is the one named.
pub fn parse_strict_json(text: &str) -> Result<Value, StrictJsonError> {
    parse(text).map_err(StrictJsonError::Syntax)?.into_value("")
}

/// The path of `key` inside the object at `parent`, as problems name it:
/// `parent.key`, or `parent["a key"]` for a key that is not a plain word.
pub fn child_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    match (parent.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{key:?}]"),
    }
}

impl Json {
    /// The tree as a `serde_json::Value`; `path` is where it stands, for
    /// naming the object of a duplicate key. Only containers are given
    /// a path of their own: scalars cannot hold a duplicate.
    fn into_value(self, path: &str) -> Result<Value, StrictJsonError> {
        Ok(match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(b),
            Json::Num(Num::Int(n)) => Value::from(n),
            Json::Num(Num::Big(n)) => Value::from(n),
            Json::Num(Num::Float(x)) => Value::from(x),
            Json::Str(s) => Value::String(s),
            Json::Array(items) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let at = if item.is_container() {
                            format!("{path}[{i}]")
                        } else {
                            String::new()
                        };
                        item.into_value(&at)
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Json::Object(entries) => {
                let mut object = Map::with_capacity(entries.len());
                for (key, value) in entries {
                    // Checked before the value is read, as a reader
                    // refusing as it goes would: the first duplicate in
                    // the text is named, even when a later one is nested
                    // in this key's value.
                    if object.contains_key(&key) {
                        return Err(StrictJsonError::DuplicateKey {
                            key,
                            object: path.to_owned(),
                        });
                    }
                    let at = if value.is_container() {
                        child_path(path, &key)
                    } else {
                        String::new()
                    };
                    let value = value.into_value(&at)?;
                    object.insert(key, value);
                }
                Value::Object(object)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_duplicate_keys_in_order() {
        let tree = parse(r#"{"a": 1, "b": 2, "a": 3}"#).unwrap();
        let Json::Object(entries) = tree else {
            panic!("not an object")
        };
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "a"]);
        assert_eq!(entries[2].1, Json::Num(Num::Int(3)));
    }

    #[test]
    fn integers_stay_exact() {
        assert_eq!(
            parse("9223372036854775807").unwrap(),
            Json::Num(Num::Int(i64::MAX))
        );
        assert_eq!(
            parse("9223372036854775808").unwrap(),
            Json::Num(Num::Big(1 << 63))
        );
        assert_eq!(parse("-5").unwrap(), Json::Num(Num::Int(-5)));
        assert_eq!(parse("0.125").unwrap(), Json::Num(Num::Float(0.125)));
    }

    #[test]
    fn strict_json_refuses_duplicate_keys_and_reads_the_rest() {
        let e = parse_strict_json(r#"{"a": [{"b": 1, "b": 2}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"b\" appears twice in one object (a[0]); JSON keeps only one, so remove or rename the other"
        );
        let e = parse_strict_json(r#"{"x y": {}, "x y": 1}"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("\"x y\" appears twice in one object (the top level)"),
            "{e}"
        );
        // The first in the text, not the deepest.
        let e = parse_strict_json(r#"{"a": 1, "a": {"b": 1, "b": 2}}"#).unwrap_err();
        assert!(e.to_string().starts_with("\"a\" appears twice"), "{e}");
        let text =
            r#"{"a": [1, -2, 2.5, "x", null, true, -0, 18446744073709551615, 1e300], "b": {}}"#;
        let v = parse_strict_json(text).unwrap();
        assert_eq!(v["a"][2], 2.5);
        assert_eq!(v["a"][1], -2);
        assert_eq!(v, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn strict_json_syntax_errors_are_serde_jsons() {
        for text in ["{", "", "[1,]", "\u{feff}{}", &"[".repeat(200)] {
            let ours = parse_strict_json(text).unwrap_err().to_string();
            let theirs = serde_json::from_str::<Value>(text).unwrap_err().to_string();
            assert_eq!(ours, theirs, "{text}");
        }
    }

    #[test]
    fn child_paths_quote_keys_that_are_not_plain_words() {
        assert_eq!(child_path("", "rollouts"), "rollouts");
        assert_eq!(child_path("rollouts", "new-gpt_1"), "rollouts.new-gpt_1");
        assert_eq!(
            child_path("rollouts", "bad name!"),
            "rollouts[\"bad name!\"]"
        );
        assert_eq!(child_path("", ""), "[\"\"]");
    }

    #[test]
    fn floats_display_as_floats() {
        assert_eq!(parse("1.0").unwrap().to_string(), "1.0");
        assert_eq!(parse("5e18").unwrap().to_string(), "5e18");
        assert_eq!(parse("12.5").unwrap().to_string(), "12.5");
    }
}
