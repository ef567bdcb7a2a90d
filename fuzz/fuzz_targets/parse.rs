//! The flag file parser and validator, differential:
//!
//! - against serde_json on JSON syntax: whatever serde_json rejects is
//!   rejected; whatever is accepted, serde_json accepts too;
//! - against a reference model written straight from docs/spec.md "The flag file" over
//!   `serde_json::Value` (slow, obviously correct): accepted exactly when the
//!   reference accepts, with an equal model;
//! - an accepted file written back by `FlagFile::to_json_string` loads as
//!   the same model;
//! - a rejected file's report is bounded;
//! - no panic; memory bounded by libFuzzer's `-rss_limit_mb` and
//!   `-malloc_limit_mb` (scripts/fuzz.sh).
#![no_main]

use std::fmt;

use flags_core::{
    BucketBy, ChatType, FlagDef, FlagFile, MAX_LISTED_PROBLEMS, Percentage, parse_flag_file,
};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = parse_flag_file(text);
    // The one documented difference from plain JSON: a leading UTF-8 BOM
    // is skipped.
    let json = text.strip_prefix('\u{feff}').unwrap_or(text);
    let theirs: Option<Value> = serde_json::from_str(json).ok();
    match (&ours, &theirs) {
        (Ok(_), None) => panic!("accepted text serde_json rejects"),
        (Err(problems), _) => {
            assert!(problems.listed().len() <= MAX_LISTED_PROBLEMS);
            assert!(!problems.is_empty());
            for p in problems.iter() {
                assert!(p.path.chars().count() <= 256, "path {:?}", p.path);
                assert!(p.message.len() <= 1024, "message {:?}", p.message);
            }
        }
        (Ok(_), Some(_)) => {}
    }
    let Some(value) = theirs else { return };
    let reference = if has_duplicate_keys(json) {
        None
    } else {
        reference_model(&value)
    };
    match (ours, reference) {
        (Ok(file), Some(expected)) => {
            assert_eq!(file, expected);
            let again = parse_flag_file(&file.to_json_string()).expect("written back, loads");
            assert_eq!(again, file);
        }
        (Err(_), None) => {}
        (Ok(file), None) => panic!("accepted a file the reference rejects: {file:?}"),
        (Err(problems), Some(expected)) => {
            panic!("rejected a file the reference accepts ({expected:?}): {problems}")
        }
    }
});

/// Whether any object in `json` (valid JSON) repeats a key.
fn has_duplicate_keys(json: &str) -> bool {
    struct Check;
    impl<'de> Visitor<'de> for Check {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any value")
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
            let mut any = false;
            while let Some(d) = seq.next_element_seed(Seed)? {
                any |= d;
            }
            Ok(any)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut keys = std::collections::HashSet::new();
            let mut any = false;
            while let Some(key) = map.next_key::<String>()? {
                any |= !keys.insert(key);
                any |= map.next_value_seed(Seed)?;
            }
            Ok(any)
        }
    }
    struct Seed;
    impl<'de> de::DeserializeSeed<'de> for Seed {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_any(Check)
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    de::DeserializeSeed::deserialize(Seed, &mut de).expect("valid JSON")
}

/// docs/spec.md "The flag file", rule by rule, over a parsed value.
fn reference_model(value: &Value) -> Option<FlagFile> {
    let top = value.as_object()?;
    for key in top.keys() {
        if !["version", "flags", "groups"].contains(&key.as_str()) {
            return None;
        }
    }
    if top.get("version")?.as_u64()? != 1 {
        return None;
    }
    let mut groups = Vec::new();
    if let Some(g) = top.get("groups") {
        for (name, ids) in g.as_object()? {
            valid_name(name)?;
            groups.push((name.clone(), ids_of(ids)?));
        }
    }
    let mut flags = Vec::new();
    for (name, flag) in top.get("flags")?.as_object()? {
        valid_name(name)?;
        flags.push((name.clone(), flag_of(flag)?));
    }
    Some(FlagFile { groups, flags })
}

fn valid_name(name: &str) -> Option<()> {
    let ok = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    ok.then_some(())
}

fn ids_of(value: &Value) -> Option<Vec<i64>> {
    value.as_array()?.iter().map(id_of).collect()
}

fn id_of(value: &Value) -> Option<i64> {
    match value {
        // A JSON integer that fits; `-0` and anything with a fraction or
        // an exponent are floats to serde_json, and rejected.
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            if s.starts_with('-') && digits.bytes().all(|b| b == b'0') {
                return None;
            }
            s.parse().ok()
        }
        _ => None,
    }
}

fn flag_of(value: &Value) -> Option<FlagDef> {
    let fields = value.as_object()?;
    let mut def = FlagDef {
        enabled: fields.get("enabled")?.as_bool()?,
        ..FlagDef::default()
    };
    for (key, v) in fields {
        match key.as_str() {
            "enabled" => {}
            "rollout_percentage" => {
                let x = v.as_f64()?;
                if !(0.0..=100.0).contains(&x) {
                    return None;
                }
                // Exactly k/1000 for a whole k.
                let k = (x * 1000.0).round();
                if k / 1000.0 != x {
                    return None;
                }
                def.rollout_percentage = Percentage::from_millis(k as u32)?;
            }
            "user_groups" => {
                for g in v.as_array()? {
                    let g = g.as_str()?;
                    valid_name(g)?;
                    def.user_groups.push(g.to_owned());
                }
            }
            "chat_types" => {
                for t in v.as_array()? {
                    def.chat_types.push(match t.as_str()? {
                        "private" => ChatType::Private,
                        "group" => ChatType::Group,
                        "supergroup" => ChatType::Supergroup,
                        "channel" => ChatType::Channel,
                        _ => return None,
                    });
                }
            }
            "exclude_chats" => def.exclude_chats = ids_of(v)?,
            "bucket_by" => {
                def.bucket_by = match v.as_str()? {
                    "user" => BucketBy::User,
                    "chat" => BucketBy::Chat,
                    _ => return None,
                }
            }
            "salt" => {
                let s = v.as_str()?;
                if s.is_empty() {
                    return None;
                }
                def.salt = Some(s.to_owned());
            }
            "description" => def.description = Some(v.as_str()?.to_owned()),
            _ => return None,
        }
    }
    Some(def)
}
