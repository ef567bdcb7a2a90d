//! One locked, validated, audited write for the commands that are not edits
//! of one flag's fields (group membership, deleting a group or a flag): the
//! same steps as the flag edits, through the same [`Store::update`].

use serde_json::{Map, Value};

use super::{Commit, Documents, Store, audit};
use crate::Failure;

/// What a command would do to the documents.
#[derive(Debug, Default)]
pub struct PendingWrite {
    /// The flag document's new text.
    pub text: String,
    /// What to print: notes first, then what changed.
    pub lines: Vec<String>,
    /// Audit entries (without time and operator); none means nothing
    /// changes and nothing is written.
    pub entries: Vec<Map<String, Value>>,
    /// The rollouts document's new text, when it changes too (a deleted
    /// flag's finished plan goes with it).
    pub rollouts: Option<String>,
}

type Out<'a> = dyn FnMut(&str) + 'a;

/// Runs `plan` on the documents and writes its result: under the store's
/// lock, on the documents as read under it, with its audit entries. A dry
/// run reads without the lock and writes nothing.
pub fn write(
    store: &mut dyn Store,
    dry_run: bool,
    out: &mut Out<'_>,
    plan: &mut dyn FnMut(&Documents) -> Result<PendingWrite, Failure>,
) -> Result<u8, Failure> {
    let print = |planned: &PendingWrite, out: &mut Out<'_>| {
        for line in &planned.lines {
            out(&format!("{line}\n"));
        }
    };

    if dry_run {
        let planned = plan(&store.read()?)?;
        print(&planned, out);
        out("dry run: nothing written\n");
        return Ok(0);
    }

    let mut done = None;
    store.update(&mut |docs| {
        let planned = plan(docs)?;
        let commit = (!planned.entries.is_empty()).then(|| Commit {
            flags: Some(planned.text.clone()),
            rollouts: planned.rollouts.clone(),
            audit: audit::stamp(planned.entries.clone(), &audit::operator()),
        });
        done = Some(planned);
        Ok(commit)
    })?;
    let planned = done.unwrap_or_default();
    print(&planned, out);
    if planned.entries.is_empty() {
        out("nothing to change\n");
    }
    Ok(0)
}
