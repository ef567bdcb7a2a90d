//! Text surgery on located JSON values, in the style the file already uses.
//!
//! New members and array items copy the separators and indentation of their
//! neighbours, so an edit changes only the lines it has to.

use crate::jsonedit::span::Node;

/// `text` with `start..end` replaced by `with`.
pub fn replace(text: &str, start: usize, end: usize, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..start]);
    out.push_str(with);
    out.push_str(&text[end..]);
    out
}

/// How one object is laid out: `{` open member sep member close `}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectStyle {
    open: String,
    sep: String,
    colon: String,
    close: String,
}

impl ObjectStyle {
    /// The layout of `object`, if it has a member to learn it from.
    pub fn of(text: &str, object: &Node) -> Option<ObjectStyle> {
        let members = object.members()?;
        let first = members.first()?;
        let last = members.last()?;
        let open = text[object.start + 1..first.key_start].to_owned();
        let sep = match members.get(1) {
            Some(second) => text[first.value.end..second.key_start].to_owned(),
            None => default_sep(&open),
        };
        Some(ObjectStyle {
            colon: text[first.key_end..first.value.start].to_owned(),
            close: text[last.value.end..object.end - 1].to_owned(),
            open,
            sep,
        })
    }

    /// The layout for a new object nested one level inside the line at `at`.
    pub fn nested(text: &str, at: usize) -> ObjectStyle {
        if !text.contains('\n') {
            return ObjectStyle {
                open: String::new(),
                sep: ", ".into(),
                colon: ": ".into(),
                close: String::new(),
            };
        }
        let newline = newline(text);
        let unit = indent_unit(text);
        let outer = format!("{}{unit}", line_indent(text, at));
        let inner = format!("{newline}{outer}{unit}");
        ObjectStyle {
            sep: format!(",{inner}"),
            open: inner,
            colon: ": ".into(),
            close: format!("{newline}{outer}"),
        }
    }

    /// `{ "key": value, ... }` in this layout; `members` are JSON texts.
    pub fn render(&self, members: &[(String, String)]) -> String {
        let body: Vec<String> = members
            .iter()
            .map(|(key, value)| format!("{key}{}{value}", self.colon))
            .collect();
        format!("{{{}{}{}}}", self.open, body.join(&self.sep), self.close)
    }
}

/// Adds `"key": value` (both JSON texts) as the last member of `object`.
pub fn insert_member(text: &str, object: &Node, key: &str, value: &str) -> String {
    let members = object.members().unwrap_or(&[]);
    match members.last() {
        Some(last) => {
            let sep = match members.len().checked_sub(2).map(|i| &members[i]) {
                Some(before) => text[before.value.end..last.key_start].to_owned(),
                None => default_sep(&text[object.start + 1..last.key_start]),
            };
            let colon = &text[last.key_end..last.value.start];
            let insert = format!("{sep}{key}{colon}{value}");
            replace(text, last.value.end, last.value.end, &insert)
        }
        None => {
            let style = ObjectStyle::nested(text, object.start);
            let outer = ObjectStyle {
                open: style.close.clone(),
                close: match style.close.rfind('\n') {
                    // One level less than its members.
                    Some(nl) => {
                        format!("{}{}", &style.close[..=nl], line_indent(text, object.start))
                    }
                    None => String::new(),
                },
                ..style
            };
            let rendered = outer.render(&[(key.to_owned(), value.to_owned())]);
            replace(text, object.start, object.end, &rendered)
        }
    }
}

/// Appends `items` (JSON texts) to `array`, spaced like its current items.
pub fn append_items(text: &str, array: &Node, items: &[String]) -> String {
    let current = array.items().unwrap_or(&[]);
    match current.last() {
        Some(last) => {
            let sep = match current.len().checked_sub(2).map(|i| &current[i]) {
                Some(before) => text[before.end..last.start].to_owned(),
                None => default_sep(&text[array.start + 1..last.start]),
            };
            let insert: String = items.iter().map(|item| format!("{sep}{item}")).collect();
            replace(text, last.end, last.end, &insert)
        }
        None => replace(
            text,
            array.start,
            array.end,
            &format!("[{}]", items.join(", ")),
        ),
    }
}

/// Removes item `index` of `array` with one of its separators.
pub fn remove_item(text: &str, array: &Node, index: usize) -> String {
    let items = array.items().unwrap_or(&[]);
    let Some(item) = items.get(index) else {
        return text.to_owned();
    };
    if let Some(next) = items.get(index + 1) {
        replace(text, item.start, next.start, "")
    } else if let Some(before) = index.checked_sub(1).map(|i| &items[i]) {
        replace(text, before.end, item.end, "")
    } else {
        replace(text, array.start, array.end, "[]")
    }
}

/// The separator after a first member whose opening whitespace is `open`.
fn default_sep(open: &str) -> String {
    if open.contains('\n') {
        format!(",{open}")
    } else {
        ", ".into()
    }
}

fn newline(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

/// The leading whitespace of the line holding byte `at`.
fn line_indent(text: &str, at: usize) -> &str {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..];
    let width = line.len() - line.trim_start_matches([' ', '\t']).len();
    &line[..width]
}

/// One level of indentation: that of the first indented line, else 2 spaces.
fn indent_unit(text: &str) -> &str {
    text.lines()
        .map(|line| &line[..line.len() - line.trim_start_matches([' ', '\t']).len()])
        .find(|indent| !indent.is_empty())
        .unwrap_or("  ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonedit::span::locate;

    fn object_at<'n>(root: &'n Node, key: &str) -> &'n Node {
        &root.get(key).unwrap().value
    }

    #[test]
    fn inserts_members_like_their_neighbours() {
        let text = "{\n  \"a\": 1,\n  \"b\": 2\n}\n";
        let root = locate(text).unwrap();
        let out = insert_member(text, &root, "\"c\"", "3");
        assert_eq!(out, "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3\n}\n");

        let inline = r#"{"a":1}"#;
        let root = locate(inline).unwrap();
        assert_eq!(
            insert_member(inline, &root, "\"c\"", "3"),
            r#"{"a":1, "c":3}"#
        );
    }

    #[test]
    fn fills_an_empty_object_one_level_deeper() {
        let text = "{\n  \"flags\": {}\n}\n";
        let root = locate(text).unwrap();
        let out = insert_member(text, object_at(&root, "flags"), "\"x\"", "1");
        assert_eq!(out, "{\n  \"flags\": {\n    \"x\": 1\n  }\n}\n");
    }

    #[test]
    fn appends_and_removes_items_in_place() {
        let text = "[111, 222]";
        let root = locate(text).unwrap();
        assert_eq!(
            append_items(text, &root, &["333".into()]),
            "[111, 222, 333]"
        );
        assert_eq!(remove_item(text, &root, 0), "[222]");
        assert_eq!(remove_item(text, &root, 1), "[111]");

        let tall = "[\n    1\n  ]";
        let root = locate(tall).unwrap();
        assert_eq!(
            append_items(tall, &root, &["2".into()]),
            "[\n    1,\n    2\n  ]"
        );
        assert_eq!(remove_item(tall, &root, 0), "[]");

        let empty = "[ ]";
        let root = locate(empty).unwrap();
        assert_eq!(
            append_items(empty, &root, &["1".into(), "2".into()]),
            "[1, 2]"
        );
    }

    #[test]
    fn renders_objects_in_a_learned_style() {
        let text = "{\n  \"f\": {\n    \"a\": 1,\n    \"b\": 2\n  }\n}";
        let root = locate(text).unwrap();
        let style = ObjectStyle::of(text, object_at(&root, "f")).unwrap();
        let rendered = style.render(&[("\"x\"".into(), "true".into())]);
        assert_eq!(rendered, "{\n    \"x\": true\n  }");
        assert_eq!(
            ObjectStyle::nested(text, root.start).render(&[]),
            "{\n    \n  }"
        );
    }
}
