//! A flag's life cycle beyond `--create`: deleting it, and why it cannot be
//! renamed.

use std::path::Path;

use flags_core::parse_flag_file;
use serde_json::Value;

use crate::Failure;
use crate::edits::{Change, unknown_flag};
use crate::jsonedit::patch;
use crate::report::invalid_line;
use crate::store::audit::change_entry;
use crate::store::locked::PendingWrite;

/// `--feature NAME --delete`: the file without the flag. The audit entry
/// keeps the whole definition, so the flag can be put back.
pub fn delete(path: &Path, text: &str, name: &str) -> Result<PendingWrite, Failure> {
    let before =
        parse_flag_file(text).map_err(|problems| Failure::new(invalid_line(path, &problems)))?;
    if before.flag(name).is_none() {
        return Err(Failure::new(unknown_flag(&before, name).to_string()));
    }
    let internal = |why: String| Failure::new(format!("refusing to write: {why}; this is a bug"));
    let old_text = patch::value_text(text, &["flags", name]).map_err(internal)?;
    let old: Value = serde_json::from_str(&old_text).map_err(|e| internal(e.to_string()))?;
    let mut edited = text.to_owned();
    patch::remove_member(&mut edited, &["flags"], name).map_err(internal)?;

    let mut expected = before.clone();
    expected.flags.retain(|(n, _)| n != name);
    match parse_flag_file(&edited) {
        Ok(after) if after == expected => {}
        Ok(_) => {
            return Err(internal(
                "the result differs from the requested change".into(),
            ));
        }
        Err(problems) => return Err(internal(problems.to_string())),
    }
    let change = Change {
        flag: name.to_owned(),
        field: "flag".into(),
        old,
        new: Value::Null,
    };
    Ok(PendingWrite {
        text: edited,
        lines: vec![
            change.to_string(),
            format!(
                "bots asking for {name} now get the default their code passes (false if none; reason unknown_flag)"
            ),
        ],
        entries: vec![change_entry(&change)],
        rollouts: None,
    })
}

/// Why `--rename` is refused.
pub fn rename_refusal(name: &str, new: &str) -> Failure {
    Failure::usage(format!(
        "flags cannot be renamed: bots ask for {name:?} by name in their code and would get their default once it is gone; create {new:?} (--feature {new} --create), move the callers to it, then --feature {name} --delete"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_removes_only_the_flag() {
        let text = "{\n  \"version\": 1,\n  \"flags\": {\n    \"a\": {\"enabled\": true},\n    \"b\": {\"enabled\": false}\n  }\n}\n";
        let planned = delete(Path::new("f"), text, "a").unwrap();
        assert_eq!(
            planned.text,
            text.replace("    \"a\": {\"enabled\": true},\n", "")
        );
        assert_eq!(planned.lines[0], "a: deleted");
        assert_eq!(
            planned.entries[0]["old"],
            serde_json::json!({"enabled": true})
        );
        let planned = delete(Path::new("f"), &planned.text, "b").unwrap();
        assert!(planned.text.contains("\"flags\": {}"), "{}", planned.text);
        let failure = delete(Path::new("f"), text, "c").unwrap_err();
        assert!(failure.lines[0].starts_with("no flag named \"c\""));
    }
}
