//! One write that makes some flags equal to given definitions (a revert of
//! a field, a promotion): each flag through the ordinary edit, a running
//! plan of a flag whose percentage or switch changes paused as a hand edit
//! pauses it, every change one audit line carrying why (`extra`).

use std::path::Path;

use flags_core::{FlagDef, parse_flag_file};
use serde_json::{Map, Value};

use super::converge;
use crate::Failure;
use crate::edits::{self, EditError};
use crate::plans::apply::pause_for_hand_edit;
use crate::report::invalid_line;
use crate::store::{Commit, Documents, audit};

/// What the write would do: the commit (None: nothing changes) and the
/// lines to print.
pub struct Converged {
    pub commit: Option<Commit>,
    pub lines: Vec<String>,
}

/// Makes each `(name, target)` of `targets` so in `docs`.
pub fn converge(
    names: (&Path, &Path),
    docs: &Documents,
    targets: &[(String, FlagDef)],
    extra: &Map<String, Value>,
) -> Result<Converged, Failure> {
    let (flags_name, rollouts_name) = names;
    let invalid = |e: EditError| match e {
        EditError::Invalid(problems) => Failure::new(invalid_line(flags_name, &problems)),
        other => Failure::new(other.to_string()),
    };
    let mut text = docs.flags.clone();
    let mut rollouts = docs.rollouts.clone();
    let mut lines = Vec::new();
    let mut audit_entries = Vec::new();
    let mut rollouts_changed = false;
    let operator = audit::operator();
    for (name, target) in targets {
        let file = parse_flag_file(&text)
            .map_err(|problems| Failure::new(invalid_line(flags_name, &problems)))?;
        let request = converge::request(name, file.flag(name), target);
        let edited = edits::apply(&text, &request).map_err(invalid)?;
        if edited.changes.is_empty() {
            continue;
        }
        // Restoring or copying a salt is the point of the command: the
        // impact is shown, not refused.
        let impact = edits::rebucket::check(&text, &edited, name, true)?;
        lines.extend(edited.changes.iter().map(ToString::to_string));
        lines.extend(impact);
        audit_entries.extend(audit::entries(&edited.changes, &operator, extra));
        if let Some(pause) = pause_for_hand_edit(rollouts_name, rollouts.as_deref(), &request)? {
            lines.extend(pause.changes.iter().map(ToString::to_string));
            lines.push(pause.note);
            audit_entries.extend(pause.audit);
            rollouts = Some(pause.rollouts);
            rollouts_changed = true;
        }
        text = edited.text;
    }
    if audit_entries.is_empty() {
        return Ok(Converged {
            commit: None,
            lines,
        });
    }
    Ok(Converged {
        commit: Some(Commit {
            flags: Some(text),
            rollouts: rollouts.filter(|_| rollouts_changed),
            audit: audit_entries,
        }),
        lines,
    })
}
