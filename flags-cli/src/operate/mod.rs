//! The operators' commands across time, servers and environments:
//! `--revert ENTRY` (undo one audit entry), `--fleet` (every sync's state),
//! `--diff OTHER` and `--promote FLAG --from OTHER` (staging → production).

pub mod apply;
pub mod converge;
pub mod diff;
pub mod entry;
pub mod environment;
pub mod fleet_view;
pub mod promote;
pub mod revert;
pub mod source;

use crate::Failure;
use crate::args::Cli;
use crate::store;

type Out<'a> = dyn FnMut(&str) + 'a;

/// `--diff OTHER`, exiting as diff(1) does: 0 the same, 1 different, 2
/// trouble.
pub fn run_diff(cli: &Cli, other: &str, out: &mut Out<'_>) -> Result<u8, Failure> {
    diff_command(cli, other, out).map_err(|mut f| {
        f.code = 2;
        f
    })
}

fn diff_command(cli: &Cli, other: &str, out: &mut Out<'_>) -> Result<u8, Failure> {
    let mut here = store::open(cli)?;
    let mut there = source::open("--diff", other)?;
    let here = source::read(&mut *here)?;
    let there = source::read(&mut *there)?;
    let found = diff::differences(&here, &there);
    if cli.json {
        let value = serde_json::json!({
            "here": here.name,
            "other": there.name,
            "same": found.is_empty(),
            "differences": found.iter().map(diff::Difference::json).collect::<Vec<_>>(),
        });
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        ));
    } else {
        out(&format!("here:  {}\nOTHER: {}\n", here.name, there.name));
        for d in &found {
            out(&format!("{}\n", d.text()));
        }
        match found.len() {
            0 => out("the same flags, groups and plans\n"),
            1 => out("1 difference\n"),
            n => out(&format!("{n} differences\n")),
        }
    }
    Ok(u8::from(!found.is_empty()))
}

/// For `--check` of a file that a sync mirrors: where it comes from, from
/// its marker (`; mirrored from database URL, version N`); empty otherwise.
pub fn mirror_note(cli: &Cli) -> String {
    if cli.fleet.database.is_some() {
        return String::new();
    }
    let file = crate::store::file::Target::resolve(&cli.file).file;
    match crate::store::marker::Marker::read(&file) {
        Ok(Some(m)) => format!(
            "; mirrored from database {}, version {}",
            m.database, m.version
        ),
        _ => String::new(),
    }
}
