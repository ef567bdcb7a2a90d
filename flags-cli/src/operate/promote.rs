//! `--promote FLAG --from OTHER` (or `--promote --all --from OTHER`):
//! makes the flag here as it is in OTHER, shown first and applied only with
//! `--yes`, as one audited edit naming OTHER (its password masked).
//!
//! Only flag definitions move. Groups (their members differ by
//! environment: staging's testers are not production's) and plans (their
//! state belongs to each environment) stay; flags that only this source has
//! are kept. `--diff` shows what remains different.

use flags_core::FlagDef;
use serde_json::{Map, json};

use super::apply::converge;
use super::source;
use crate::Failure;
use crate::args::Cli;
use crate::edits::unknown_flag;
use crate::store;

type Out<'a> = dyn FnMut(&str) + 'a;

pub fn run(cli: &Cli, flag: Option<&str>, from: &str, out: &mut Out<'_>) -> Result<u8, Failure> {
    let all = cli.operate.all;
    match (flag, all) {
        (None, false) => {
            return Err(Failure::usage(
                "--promote needs a FLAG, or --all for every flag of --from",
            ));
        }
        (Some(_), true) => {
            return Err(Failure::usage("--promote takes a FLAG or --all, not both"));
        }
        _ => {}
    }
    if cli.dry_run {
        return Err(Failure::usage(
            "--promote only shows the change unless --yes: --dry-run is not needed",
        ));
    }
    let mut other = source::open("--from", from)?;
    let other = source::read(&mut *other)?;
    let targets: Vec<(String, FlagDef)> = match flag {
        Some(name) => {
            let def = other.flags.flag(name).ok_or_else(|| {
                Failure::new(format!(
                    "{} (in {})",
                    unknown_flag(&other.flags, name),
                    other.name
                ))
            })?;
            vec![(name.to_owned(), def.clone())]
        }
        None => other.flags.flags.clone(),
    };

    let mut store = store::open(cli)?;
    let names = (
        store.flags_name().to_owned(),
        store.rollouts_name().to_owned(),
    );
    // The audit names OTHER so that it can be found again: a file by its
    // absolute path, a database by its masked URL.
    let from_name = if source::is_connection_string(from) {
        other.name.clone()
    } else {
        std::fs::canonicalize(from).map_or_else(|_| other.name.clone(), |p| p.display().to_string())
    };
    let mut extra = Map::new();
    extra.insert("action".into(), json!("promote"));
    extra.insert("reason".into(), json!(format!("promoted from {from_name}")));
    extra.insert("from".into(), json!(from_name));

    let header = format!("{} <- {}", names.0.display(), other.name);
    if !cli.operate.yes {
        let docs = store.read()?;
        let done = converge((&names.0, &names.1), &docs, &targets, &extra)?;
        out(&format!("{header}\n"));
        print(&done.lines, out);
        if done.commit.is_some() {
            out("not applied: add --yes to apply it\n");
        }
        return Ok(0);
    }
    let mut lines = Vec::new();
    store.update(&mut |docs| {
        let done = converge((&names.0, &names.1), docs, &targets, &extra)?;
        lines = done.lines;
        Ok(done.commit)
    })?;
    out(&format!("{header}\n"));
    print(&lines, out);
    Ok(0)
}

fn print(lines: &[String], out: &mut Out<'_>) {
    if lines.is_empty() {
        out("nothing to change: the flags are already as in OTHER\n");
    }
    for line in lines {
        out(&format!("{line}\n"));
    }
}
