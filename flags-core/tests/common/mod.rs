//! Hostile flag files, made in code (a committed corpus would be megabytes):
//! the shapes a careless or hostile operator can write, each grown to about
//! `size` bytes.
//!
//! Shared by the tests that hold validation to its budget (tests/hostile.rs,
//! peak memory through a counting allocator) and the one that feeds them to a
//! running store under a memory limit (tests/hostile_store.rs).

#![allow(dead_code)]

/// One hostile file: a name for messages, and its text.
pub struct Shape {
    pub name: &'static str,
    pub text: String,
}

/// `count` copies of `item` joined by commas.
fn repeated(item: &str, count: usize) -> String {
    let mut out = String::with_capacity((item.len() + 1) * count);
    for i in 0..count {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out
}

/// A flag file with one flag named `name` whose fields are `fields`.
fn one_flag(name: &str, fields: &str) -> String {
    format!(r#"{{"version": 1, "flags": {{"{name}": {{"enabled": true, {fields}}}}}}}"#)
}

/// Every shape, each about `size` bytes (at least a few kilobytes).
pub fn all(size: usize) -> Vec<Shape> {
    let mb_string = "x".repeat(size);
    vec![
        // The issue's first finding: each invalid entry's path repeats the
        // long name, so building every path costs entries × name length.
        Shape {
            name: "long flag name, many invalid entries",
            text: {
                let name = "n".repeat(size / 6);
                let entries = (size - name.len()) / 5;
                one_flag(
                    &name,
                    &format!(r#""exclude_chats": [{}]"#, repeated("null", entries)),
                )
            },
        },
        // "Did you mean": an edit-distance table of key × candidate length.
        Shape {
            name: "huge unknown key in a flag",
            text: one_flag("f", &format!(r#""{mb_string}": 1"#)),
        },
        Shape {
            name: "huge unknown top-level key",
            text: format!(r#"{{"version": 1, "flags": {{}}, "{mb_string}": 1}}"#),
        },
        Shape {
            name: "huge chat type",
            text: one_flag("f", &format!(r#""chat_types": ["{mb_string}"]"#)),
        },
        // Values quoted in messages.
        Shape {
            name: "huge strings quoted in messages",
            text: {
                let s = "y".repeat(size / 8);
                format!(
                    r#"{{"version": "{s}", "groups": {{"{s}": ["{s}"]}}, "flags": {{"f": {{"enabled": true, "bucket_by": "{s}", "rollout_percentage": "{s}", "exclude_chats": ["{s}"]}}}}}}"#
                )
            },
        },
        Shape {
            name: "huge bad flag name",
            text: one_flag(&"!".repeat(size), r#""salt": "s""#),
        },
        // Many problems, each small.
        Shape {
            name: "a million small problems",
            text: one_flag(
                "f",
                &format!(r#""exclude_chats": [{}]"#, repeated("[]", size / 3)),
            ),
        },
        Shape {
            name: "many flags, several problems each",
            text: {
                let flag =
                    r#""f": {"enabled": 1, "rollout_percentage": 150, "bucket_by": "x", "nme": 1}"#;
                let count = size / (flag.len() + 1);
                format!(
                    r#"{{"version": 1, "flags": {{{}}}}}"#,
                    repeated(flag, count)
                )
            },
        },
        // Deep nesting: past serde_json's limit, and just under the fast
        // reader's, repeated.
        Shape {
            name: "nesting far too deep",
            text: format!(
                r#"{{"version": 1, "flags": {{}}, "groups": {{"g": {}{}}}}}"#,
                "[".repeat(size / 2),
                "]".repeat(size / 2)
            ),
        },
        Shape {
            name: "nested objects with long keys, repeated",
            text: {
                // The innermost object repeats a key: its path has 90 long
                // steps.
                let key = "k".repeat(100);
                let one = format!(
                    r#"{}{{"d": 1, "d": 2}}{}"#,
                    format!(r#"{{"{key}": "#).repeat(90),
                    "}".repeat(90)
                );
                let count = size / one.len() + 1;
                one_flag(
                    "f",
                    &format!(r#""exclude_chats": [{}]"#, repeated(&one, count)),
                )
            },
        },
        // Duplicate keys: one key many times, many keys twice, and inside a
        // tree of an unexpected shape.
        Shape {
            name: "one flag name many times",
            text: {
                let flag = r#""f": {"enabled": true}"#;
                format!(
                    r#"{{"version": 1, "flags": {{{}}}}}"#,
                    repeated(flag, size / (flag.len() + 1))
                )
            },
        },
        Shape {
            name: "many flag names twice each",
            text: {
                let count = size / 60;
                let flags: Vec<String> = (0..count)
                    .map(|i| format!(r#""flag_{i:08}": {{"enabled": true}}"#))
                    .flat_map(|flag| [flag.clone(), flag])
                    .collect();
                format!(r#"{{"version": 1, "flags": {{{}}}}}"#, flags.join(","))
            },
        },
        Shape {
            name: "many duplicate keys in an unknown field",
            text: {
                let count = size / 14;
                let members: Vec<String> =
                    (0..count).map(|i| format!(r#""{}":0"#, i / 2)).collect();
                format!(
                    r#"{{"version": 1, "flags": {{}}, "extra": {{{}}}}}"#,
                    members.join(",")
                )
            },
        },
        // A large value of an unexpected shape, collected whole.
        Shape {
            name: "flags is a huge array",
            text: format!(
                r#"{{"version": 1, "flags": [{}]}}"#,
                repeated("[]", size / 3)
            ),
        },
        // Many unknown fields, each asking for a suggestion.
        Shape {
            name: "many unknown fields",
            text: {
                let count = size / 24;
                let fields: Vec<String> = (0..count)
                    .map(|i| format!(r#""enabeld_{i:08}": 1"#))
                    .collect();
                one_flag("f", &fields.join(","))
            },
        },
    ]
}
