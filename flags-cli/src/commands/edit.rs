//! The edit command: `--feature NAME` with `--percentage`, `--enable`,
//! `--disable`, chats, targeting, `--create`: one update of the store that
//! also pauses the flag's running plan.

use std::path::Path;

use crate::Failure;
use crate::args::{Cli, refuse_in_both};
use crate::edits::{self, EditError, EditRequest};
use crate::plans::apply::pause_for_hand_edit;
use crate::report::invalid_line;
use crate::store::{self, Commit, audit};

type Out<'a> = dyn FnMut(&str) + 'a;

/// The edit of `flag` the command line asks for ([`Command::Edit`]:
/// `--enable` and `--disable` together were refused already).
///
/// [`Command::Edit`]: crate::args::command::Command::Edit
pub fn edit_request(cli: &Cli, flag: &str) -> Result<EditRequest, Failure> {
    let enabled = match (cli.enable, cli.disable) {
        (true, _) => Some(true),
        (false, true) => Some(false),
        (false, false) => None,
    };
    refuse_in_both(
        "chat",
        (&cli.exclude_chat, "--exclude-chat"),
        (&cli.include_chat, "--include-chat"),
    )?;
    Ok(EditRequest {
        flag: flag.to_owned(),
        create: cli.create,
        enabled,
        percentage: cli.percentage,
        exclude_chats: cli.exclude_chat.clone(),
        include_chats: cli.include_chat.clone(),
        targeting: crate::edits::targeting::Targeting::from_args(&cli.manage)
            .map_err(Failure::usage)?,
    })
}

fn edit_failure(path: &Path, error: EditError) -> Failure {
    match error {
        EditError::Invalid(problems) => Failure::new(invalid_line(path, &problems)),
        other => Failure::new(other.to_string()),
    }
}

pub fn edit(cli: &Cli, request: &EditRequest, out: &mut Out<'_>) -> Result<u8, Failure> {
    let mut store = store::open(cli)?;
    let flags_name = store.flags_name().to_owned();
    let rollouts_name = store.rollouts_name().to_owned();

    if cli.dry_run {
        let text = store.read()?.flags;
        let edited = edits::apply(&text, request).map_err(|e| edit_failure(&flags_name, e))?;
        let impact = crate::edits::rebucket::check(&text, &edited, &request.flag, true)?;
        print_outcome(&edited, out);
        if let Some(line) = &impact {
            out(&format!("{line}\n"));
        }
        out("dry run: nothing written\n");
        return Ok(0);
    }

    let mut printed = String::new();
    store.update(&mut |docs| {
        printed.clear();
        let edited =
            edits::apply(&docs.flags, request).map_err(|e| edit_failure(&flags_name, e))?;
        let impact =
            crate::edits::rebucket::check(&docs.flags, &edited, &request.flag, cli.manage.force)?;
        print_outcome(&edited, &mut |line| printed.push_str(line));
        if edited.changes.is_empty() {
            printed.push_str("nothing to change\n");
            return Ok(None);
        }
        if let Some(line) = &impact {
            printed.push_str(line);
            printed.push('\n');
        }
        let mut commit = Commit {
            audit: audit::entries(&edited.changes, &audit::operator(), &Default::default()),
            flags: Some(edited.text),
            rollouts: None,
        };
        // In the same commit: a running plan of the flag is paused.
        if let Some(pause) = pause_for_hand_edit(&rollouts_name, docs.rollouts.as_deref(), request)?
        {
            for change in &pause.changes {
                printed.push_str(&format!("{change}\n"));
            }
            printed.push_str(&pause.note);
            printed.push('\n');
            commit.rollouts = Some(pause.rollouts);
            commit.audit.extend(pause.audit);
        }
        Ok(Some(commit))
    })?;
    out(&printed);
    Ok(0)
}

fn print_outcome(edited: &edits::Edited, out: &mut Out<'_>) {
    for note in &edited.already {
        out(&format!("{note}\n"));
    }
    for change in &edited.changes {
        out(&format!("{change}\n"));
    }
}
