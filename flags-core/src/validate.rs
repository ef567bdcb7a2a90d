//! Flag file text → [`FlagFile`], or every problem with its path.
//!
//! Validation walks the whole file and collects problems instead of stopping
//! at the first, so an operator fixes a file in one round.

use std::collections::{HashMap, HashSet};

use crate::error::{Problem, Problems};
use crate::json::{self, Json, Num};
use crate::model::{
    BucketBy, ChatType, FORMAT_VERSION, FlagDef, FlagFile, IdError, Percentage, parse_id,
};
use crate::suggest::nearest_name;

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
    let mut v = Validator::default();
    let file = v.file(text);
    if v.problems.is_empty() {
        Ok(file)
    } else {
        Err(Problems(v.problems))
    }
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
            "{name:?} contains {c:?}; names may use only A-Z a-z 0-9 _ . -"
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

/// The path of `key` inside the object at `parent`.
fn child(parent: &str, key: &str) -> String {
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

fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

#[derive(Default)]
struct Validator {
    problems: Vec<Problem>,
}

impl Validator {
    fn report(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn file(&mut self, text: &str) -> FlagFile {
        let mut file = FlagFile {
            groups: Vec::new(),
            flags: Vec::new(),
        };
        if text.trim().is_empty() {
            self.report(
                "",
                "the file is empty; a flag file is a JSON object with \"version\": 1 and \"flags\"",
            );
            return file;
        }
        let tree = match json::parse(text) {
            Ok(tree) => tree,
            Err(e) => {
                self.report("", format!("not valid JSON: {e}"));
                return file;
            }
        };
        self.duplicates(&tree, "");
        let Json::Object(top) = &tree else {
            self.report(
                "",
                format!("the file must be a JSON object, not {}", tree.kind()),
            );
            return file;
        };

        let mut version_seen = false;
        let mut flags_seen = false;
        for (key, value) in top {
            let path = child("", key);
            match key.as_str() {
                "version" => {
                    version_seen = true;
                    match value {
                        Json::Num(Num::Int(n)) if *n == FORMAT_VERSION as i64 => {}
                        Json::Num(Num::Int(_)) => self.report(path, format!("{value} is not a supported format version; this library reads version {FORMAT_VERSION}")),
                        other => self.report(path, format!("{other} is not a format version; write \"version\": {FORMAT_VERSION}")),
                    }
                }
                "groups" => file.groups = self.groups(value, &path),
                "flags" => {
                    flags_seen = true;
                    file.flags = self.flags(value, &path);
                }
                _ => self.unknown_field(&path, key, &TOP_FIELDS),
            }
        }
        if !version_seen {
            self.report(
                "version",
                format!("missing; add \"version\": {FORMAT_VERSION}"),
            );
        }
        if !flags_seen {
            self.report("flags", "missing; add \"flags\": {} (it may be empty)");
        }
        file
    }

    /// Reports every key that appears more than once in one object.
    fn duplicates(&mut self, value: &Json, path: &str) {
        match value {
            Json::Object(entries) => {
                // Small objects (a flag's fields) are scanned directly; large
                // ones (thousands of flags) are counted with a map so the
                // check stays linear.
                if entries.len() <= 16 {
                    for (i, (key, _)) in entries.iter().enumerate() {
                        let seen_before = entries[..i].iter().any(|(k, _)| k == key);
                        if !seen_before {
                            let count = entries[i..].iter().filter(|(k, _)| k == key).count();
                            if count > 1 {
                                self.report_duplicate(path, key, count);
                            }
                        }
                    }
                } else {
                    let mut times: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
                    for (key, _) in entries {
                        *times.entry(key.as_str()).or_default() += 1;
                    }
                    let mut reported: HashSet<&str> = HashSet::new();
                    for (key, _) in entries {
                        let count = times[key.as_str()];
                        if count > 1 && reported.insert(key.as_str()) {
                            self.report_duplicate(path, key, count);
                        }
                    }
                }
                for (key, inner) in entries {
                    if inner.is_container() {
                        self.duplicates(inner, &child(path, key));
                    }
                }
            }
            Json::Array(items) => {
                // Paths are built only for nested containers: an id list of
                // a million entries costs no allocation here.
                for (i, item) in items.iter().enumerate() {
                    if item.is_container() {
                        self.duplicates(item, &index(path, i));
                    }
                }
            }
            _ => {}
        }
    }

    fn report_duplicate(&mut self, path: &str, key: &str, count: usize) {
        self.report(
            child(path, key),
            format!("appears {count} times in one object; JSON keeps only one, so remove or rename the others"),
        );
    }

    fn unknown_field(&mut self, path: &str, key: &str, known: &[&str]) {
        let hint = match nearest_name(key, known.iter().copied()) {
            Some(near) => format!("unknown field; did you mean {near:?}?"),
            None => format!("unknown field; expected one of {}", known.join(", ")),
        };
        self.report(path, hint);
    }

    fn name(&mut self, path: &str, name: &str) -> bool {
        match check_name(name) {
            Ok(()) => true,
            Err(msg) => {
                self.report(path, msg);
                false
            }
        }
    }

    fn object<'j>(&mut self, value: &'j Json, path: &str, what: &str) -> &'j [(String, Json)] {
        match value {
            Json::Object(entries) => entries,
            other => {
                self.report(path, format!("must be {what}, not {}", other.kind()));
                &[]
            }
        }
    }

    fn array<'j>(&mut self, value: &'j Json, path: &str, what: &str) -> &'j [Json] {
        match value {
            Json::Array(items) => items,
            other => {
                self.report(
                    path,
                    format!("must be an array of {what}, not {}", other.kind()),
                );
                &[]
            }
        }
    }

    fn groups(&mut self, value: &Json, path: &str) -> Vec<(String, Vec<i64>)> {
        let entries = self.object(value, path, "an object of group name → array of user ids");
        let mut groups = Vec::with_capacity(entries.len());
        for (name, members) in entries {
            let path = child(path, name);
            self.name(&path, name);
            let ids = self.ids(members, &path, "user ids");
            groups.push((name.clone(), ids));
        }
        groups
    }

    fn ids(&mut self, value: &Json, path: &str, what: &str) -> Vec<i64> {
        let items = self.array(value, path, what);
        let mut ids = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some(id) = self.id(item, path, i) {
                ids.push(id);
            }
        }
        ids
    }

    /// Item `i` of the id array at `path`; the item's path is only built
    /// when there is a problem to report.
    fn id(&mut self, value: &Json, path: &str, i: usize) -> Option<i64> {
        let problem = match value {
            Json::Num(Num::Int(n)) => return Some(*n),
            Json::Num(Num::Big(_)) => IdError::OutOfRange.to_string(),
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
            index(path, i),
            format!("{value} {problem}; ids are integers such as -1001234567890"),
        );
        None
    }

    fn flags(&mut self, value: &Json, path: &str) -> Vec<(String, FlagDef)> {
        let entries = self.object(value, path, "an object of flag name → flag");
        let mut flags = Vec::with_capacity(entries.len());
        for (name, def) in entries {
            let path = child(path, name);
            self.name(&path, name);
            flags.push((name.clone(), self.flag(def, &path)));
        }
        flags
    }

    fn flag(&mut self, value: &Json, path: &str) -> FlagDef {
        let mut def = FlagDef::default();
        let fields = self.object(value, path, "an object");
        if !matches!(value, Json::Object(_)) {
            return def;
        }
        let mut enabled_seen = false;
        for (key, value) in fields {
            let path = child(path, key);
            match key.as_str() {
                "enabled" => {
                    enabled_seen = true;
                    match value {
                        Json::Bool(b) => def.enabled = *b,
                        other => self
                            .report(path, format!("must be true or false, not {}", other.kind())),
                    }
                }
                "rollout_percentage" => {
                    if let Some(p) = self.percentage(value, &path) {
                        def.rollout_percentage = p;
                    }
                }
                "user_groups" => {
                    let items = self.array(value, &path, "group names");
                    for (i, item) in items.iter().enumerate() {
                        let path = index(&path, i);
                        match item {
                            Json::Str(s) => {
                                if self.name(&path, s) {
                                    def.user_groups.push(s.clone());
                                }
                            }
                            other => self.report(
                                path,
                                format!("must be a group name (a string), not {}", other.kind()),
                            ),
                        }
                    }
                }
                "chat_types" => {
                    let items = self.array(value, &path, "chat types");
                    for (i, item) in items.iter().enumerate() {
                        let path = index(&path, i);
                        match item {
                            Json::Str(s) => match s.parse::<ChatType>() {
                                Ok(t) => def.chat_types.push(t),
                                Err(_) => {
                                    let names = ChatType::ALL.map(ChatType::as_str);
                                    let hint = match nearest_name(s, names) {
                                        Some(near) => format!("; did you mean {near:?}?"),
                                        None => String::new(),
                                    };
                                    self.report(path, format!("{s:?} is not a chat type; expected one of private, group, supergroup, channel{hint}"));
                                }
                            },
                            other => self.report(path, format!("must be a chat type (private, group, supergroup or channel), not {}", other.kind())),
                        }
                    }
                }
                "exclude_chats" => def.exclude_chats = self.ids(value, &path, "chat ids"),
                "bucket_by" => match value {
                    Json::Str(s) if s == "user" => def.bucket_by = BucketBy::User,
                    Json::Str(s) if s == "chat" => def.bucket_by = BucketBy::Chat,
                    other => self.report(
                        path,
                        format!("{other} is not valid; expected \"user\" or \"chat\""),
                    ),
                },
                "salt" => match value {
                    Json::Str(s) if !s.is_empty() => def.salt = Some(s.clone()),
                    Json::Str(_) => self.report(
                        path,
                        "must not be empty; leave it out to use the flag's name",
                    ),
                    other => self.report(path, format!("must be a string, not {}", other.kind())),
                },
                "description" => match value {
                    Json::Str(s) => def.description = Some(s.clone()),
                    other => self.report(path, format!("must be a string, not {}", other.kind())),
                },
                _ => self.unknown_field(&path, key, &FLAG_FIELDS),
            }
        }
        if !enabled_seen {
            self.report(
                child(path, "enabled"),
                "missing; every flag needs \"enabled\": true or false",
            );
        }
        def
    }

    fn percentage(&mut self, value: &Json, path: &str) -> Option<Percentage> {
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

    #[test]
    fn paths_quote_unusual_keys() {
        assert_eq!(child("", "flags"), "flags");
        assert_eq!(child("flags", "a.b"), "flags[\"a.b\"]");
        assert_eq!(
            index("flags.x.exclude_chats", 2),
            "flags.x.exclude_chats[2]"
        );
    }
}
