//! Surgical edits of a flag file's text addressed by key path
//! (`["groups", "beta_testers"]`): each locates the text afresh, so no byte
//! offset outlives the text it points into, and changes only the bytes of
//! the value, member or items it edits.

use serde_json::Value;

use crate::jsonedit::span::{self, Node};
use crate::jsonedit::splice::{self, ObjectStyle};

/// The node at `path` (object keys from the root), or why it is missing.
fn at<'n>(root: &'n Node, path: &[&str]) -> Result<&'n Node, String> {
    let mut node = root;
    for key in path {
        node = node
            .get(key)
            .map(|m| &m.value)
            .ok_or_else(|| format!("{} not found in the text", path.join(".")))?;
    }
    Ok(node)
}

/// The JSON text of a string.
pub fn json_string(s: &str) -> String {
    Value::from(s).to_string()
}

/// Whether the value at `path` exists.
pub fn has(text: &str, path: &[&str]) -> Result<bool, String> {
    let root = span::locate(text)?;
    Ok(at(&root, path).is_ok())
}

/// Sets `key` of the object at `object` to the JSON text `value`, adding
/// it as the object's last member if absent.
pub fn set_member(
    text: &mut String,
    object: &[&str],
    key: &str,
    value: &str,
) -> Result<(), String> {
    let root = span::locate(text)?;
    let node = at(&root, object)?;
    *text = match node.get(key) {
        Some(member) => splice::replace(text, member.value.start, member.value.end, value),
        None => splice::insert_member(text, node, &json_string(key), value),
    };
    Ok(())
}

/// How a new object is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One level deeper than its parent, in the file's own indentation.
    Nested,
    /// Like the last member of its parent that is itself an object (a new
    /// flag looks like the flag above it), else [`Layout::Nested`].
    LikeSiblings,
}

/// Adds `key` with an object of `members` (JSON texts) to the object at
/// `object`, laid out as `layout` says.
pub fn insert_object(
    text: &mut String,
    object: &[&str],
    key: &str,
    members: &[(String, String)],
    layout: Layout,
) -> Result<(), String> {
    let root = span::locate(text)?;
    let node = at(&root, object)?;
    let sibling_style = match layout {
        Layout::LikeSiblings => node
            .members()
            .into_iter()
            .flatten()
            .rev()
            .find_map(|m| ObjectStyle::of(text, &m.value)),
        Layout::Nested => None,
    };
    let style = sibling_style.unwrap_or_else(|| ObjectStyle::nested(text, node.start));
    let members: Vec<(String, String)> = members
        .iter()
        .map(|(k, v)| (json_string(k), v.clone()))
        .collect();
    let rendered = style.render(&members);
    *text = splice::insert_member(text, node, &json_string(key), &rendered);
    Ok(())
}

/// Removes `key` (and one of its separators) from the object at `object`;
/// `Ok(false)` if there was no such key.
pub fn remove_member(text: &mut String, object: &[&str], key: &str) -> Result<bool, String> {
    let root = span::locate(text)?;
    let node = at(&root, object)?;
    let members = node.members().ok_or("not an object")?;
    let Some(index) = members.iter().position(|m| m.key == key) else {
        return Ok(false);
    };
    let member = &members[index];
    *text = if let Some(next) = members.get(index + 1) {
        splice::replace(text, member.key_start, next.key_start, "")
    } else if let Some(before) = index.checked_sub(1).map(|i| &members[i]) {
        splice::replace(text, before.value.end, member.value.end, "")
    } else {
        splice::replace(text, node.start, node.end, "{}")
    };
    Ok(true)
}

/// Appends `items` (JSON texts) to the array at `array`.
pub fn append_items(text: &mut String, array: &[&str], items: &[String]) -> Result<(), String> {
    let root = span::locate(text)?;
    let node = at(&root, array)?;
    *text = splice::append_items(text, node, items);
    Ok(())
}

/// Removes the items of the array at `array` for which `doomed` holds, in
/// one pass: each with the separator after it, or, for a run of items at
/// the end, with the separator before the run.
pub fn remove_items(
    text: &mut String,
    array: &[&str],
    mut doomed: impl FnMut(&str) -> bool,
) -> Result<usize, String> {
    let root = span::locate(text)?;
    let node = at(&root, array)?;
    let items = node.items().ok_or("not an array")?;
    let remove: Vec<bool> = items
        .iter()
        .map(|item| doomed(&text[item.start..item.end]))
        .collect();
    let count = remove.iter().filter(|&&r| r).count();
    if count == 0 {
        return Ok(0);
    }
    if count == items.len() {
        *text = splice::replace(text, node.start, node.end, "[]");
        return Ok(count);
    }
    // Byte ranges to cut, in increasing order; all in the original text.
    let kept_last = remove.iter().rposition(|&r| !r).unwrap_or(0);
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if !remove[i] {
            continue;
        }
        if i < kept_last {
            cuts.push((item.start, items[i + 1].start));
        }
    }
    if kept_last + 1 < items.len() {
        cuts.push((items[kept_last].end, items[items.len() - 1].end));
    }
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for (start, end) in cuts {
        out.push_str(&text[from..start]);
        from = end;
    }
    out.push_str(&text[from..]);
    *text = out;
    Ok(count)
}

/// The id a JSON item's text stands for (`-100` or `"-100"`).
pub fn id_of(item: &str) -> Option<i64> {
    if item.starts_with('"') {
        return flags_core::parse_id(&string_of(item)?).ok();
    }
    item.parse().ok()
}

/// The string a JSON item's text stands for.
pub fn string_of(item: &str) -> Option<String> {
    serde_json::from_str(item).ok()
}

/// The JSON text of the value at `path`.
pub fn value_text(text: &str, path: &[&str]) -> Result<String, String> {
    let root = span::locate(text)?;
    let node = at(&root, path)?;
    Ok(text[node.start..node.end].to_owned())
}

/// The JSON text of the first item of the array at `array`, if any.
pub fn first_item(text: &str, array: &[&str]) -> Result<Option<String>, String> {
    let root = span::locate(text)?;
    let node = at(&root, array)?;
    let items = node.items().ok_or("not an array")?;
    Ok(items
        .first()
        .map(|item| text[item.start..item.end].to_owned()))
}

/// Items for `ids`, written as strings if the array's first item is one
/// (the file's own habit), as JSON integers otherwise.
pub fn id_items(first: Option<&str>, ids: &[i64]) -> Vec<String> {
    let quoted = first.is_some_and(|first| first.starts_with('"'));
    ids.iter()
        .map(|id| {
            if quoted {
                format!("\"{id}\"")
            } else {
                id.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn removed(text: &str, doomed: &[i64]) -> String {
        let mut text = text.to_owned();
        remove_items(&mut text, &["a"], |item| {
            id_of(item).is_some_and(|id| doomed.contains(&id))
        })
        .unwrap();
        text
    }

    #[test]
    fn removes_any_set_of_items_in_one_pass() {
        let text = r#"{"a": [1, 2, 3, 4]}"#;
        for (doomed, expected) in [
            (&[1][..], "[2, 3, 4]"),
            (&[4], "[1, 2, 3]"),
            (&[2, 3], "[1, 4]"),
            (&[3, 4], "[1, 2]"),
            (&[1, 2], "[3, 4]"),
            (&[1, 3], "[2, 4]"),
            (&[2, 4], "[1, 3]"),
            (&[1, 2, 3, 4], "[]"),
            (&[9], "[1, 2, 3, 4]"),
        ] {
            assert_eq!(
                removed(text, doomed),
                format!(r#"{{"a": {expected}}}"#),
                "{doomed:?}"
            );
        }
        let tall = "{\"a\": [\n  \"1\",\n  \"2\",\n  \"3\"\n]}";
        assert_eq!(removed(tall, &[3]), "{\"a\": [\n  \"1\",\n  \"2\"\n]}");
        assert_eq!(removed(tall, &[1]), "{\"a\": [\n  \"2\",\n  \"3\"\n]}");
    }

    #[test]
    fn removes_members_with_one_separator() {
        let text = "{\n  \"a\": 1,\n  \"b\": {\"x\": 2},\n  \"c\": 3\n}";
        let cases = [
            ("a", "{\n  \"b\": {\"x\": 2},\n  \"c\": 3\n}"),
            ("b", "{\n  \"a\": 1,\n  \"c\": 3\n}"),
            ("c", "{\n  \"a\": 1,\n  \"b\": {\"x\": 2}\n}"),
        ];
        for (key, expected) in cases {
            let mut edited = text.to_owned();
            assert!(remove_member(&mut edited, &[], key).unwrap());
            assert_eq!(edited, expected, "{key}");
        }
        let mut only = r#"{"f": {"x": 1}}"#.to_owned();
        assert!(remove_member(&mut only, &["f"], "x").unwrap());
        assert_eq!(only, r#"{"f": {}}"#);
        assert!(!remove_member(&mut only, &["f"], "x").unwrap());
    }

    #[test]
    fn ids_follow_the_arrays_habit() {
        assert_eq!(id_items(Some("\"1\""), &[-5]), ["\"-5\""]);
        assert_eq!(id_items(Some("1"), &[-5]), ["-5"]);
        assert_eq!(id_items(None, &[7]), ["7"]);
        assert_eq!(id_of("\"-12\""), Some(-12));
        assert_eq!(id_of("12"), Some(12));
        assert_eq!(id_of("true"), None);
    }
}
