//! The command line's dispatch: one function per command, each writing its
//! output through `out` and returning the exit status, or a [`Failure`].
//! Each opens the store it needs ([`crate::store::open`]) itself, so a
//! usage error never waits for a database.
//!
//! The commands that join several parts (an edit that also pauses a plan)
//! live here, above the parts, so that no part imports another's command.

mod edit;

use crate::Failure;
use crate::args::Cli;
use crate::{analysis, edits, fleet, guard, operate, plans, read};

type Out<'a> = dyn FnMut(&str) + 'a;

pub fn run(cli: &Cli, out: &mut Out<'_>) -> Result<u8, Failure> {
    if cli.listen.is_some() && !cli.guard && !cli.fleet.sync {
        return Err(Failure::usage(
            "--listen serves the metrics of --guard or --sync; give one of them",
        ));
    }
    if let Some(result) = fleet::run(cli, out) {
        return result;
    }
    if let Some(result) = operate::run(cli, out) {
        return result;
    }
    if cli.guard {
        return guard::command::run(cli, out);
    }
    // Plans and edits print text from the documents (reasons, names):
    // made inert for the terminal.
    let out = &mut |text: &str| out(&read::inert::inert_lines(text));
    // --status wins over --report, as it always has.
    if let Some(flag) = &cli.rollout.report
        && !cli.rollout.status
    {
        return analysis::run(cli, flag, out);
    }
    if let Some(result) = plans::commands::run(cli, out) {
        return result;
    }
    if cli.check {
        read::check(cli, out)
    } else if cli.list {
        read::list(cli, out)
    } else if cli.history {
        read::history(cli, out)
    } else if let Some(result) = edits::manage::run(cli, out) {
        result
    } else if let Some(request) = edit::edit_request(cli)? {
        edit::edit(cli, &request, out)
    } else if let Some(name) = &cli.feature {
        if cli.explain {
            read::explain(cli, name, out)
        } else {
            read::show_flag(cli, name, out)
        }
    } else {
        Err(Failure::usage(
            "nothing to do: give --list, --check, --feature NAME, --history or an edit (see --help)",
        ))
    }
}
