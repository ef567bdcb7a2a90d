//! A JSON tree that keeps what `serde_json::Value` throws away.
//!
//! `serde_json::Value` keeps only the last of two equal keys, so a file with
//! two `new_gpt_model` entries would silently lose one. This tree keeps every
//! entry of an object, in file order, so validation can report duplicates.
//!
//! Validation streams the parts of a file that have the expected shape
//! straight into the model; only values of another shape (and small
//! scalars) become trees, so a file's size never turns into a tree's size.

mod reader;

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

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

/// Parses UTF-8 JSON text into a tree that keeps duplicate keys.
#[cfg(test)]
pub(crate) fn parse(text: &str) -> Result<Json, serde_json::Error> {
    serde_json::from_str(text)
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
    fn floats_display_as_floats() {
        assert_eq!(parse("1.0").unwrap().to_string(), "1.0");
        assert_eq!(parse("5e18").unwrap().to_string(), "5e18");
        assert_eq!(parse("12.5").unwrap().to_string(), "12.5");
    }
}
