//! The command line's dispatch: one `match` over the [`Command`] that
//! `args` made of it, one function per command, each writing its output
//! through `out` and returning the exit status, or a [`Failure`].
//! Each opens the store it needs ([`crate::store::open`]) itself, so a
//! usage error never waits for a database.
//!
//! The commands that join several parts (an edit that also pauses a plan)
//! live here, above the parts, so that no part imports another's command.

mod edit;

use crate::Failure;
use crate::args::Cli;
use crate::args::command::Command;
use crate::edits::{lifecycle, manage};
use crate::{analysis, fleet, guard, operate, plans, read};

type Out<'a> = dyn FnMut(&str) + 'a;

pub fn run(cli: &Cli, out: &mut Out<'_>) -> Result<u8, Failure> {
    let command = cli.requested_command()?;
    // What prints text from the documents (reasons, names) prints it made
    // inert for the terminal.
    let inert = &mut |text: &str| out(&read::inert::inert_lines(text));
    match command {
        Command::Init { database } => fleet::init(cli, &database, out),
        Command::Import { database, file } => fleet::import(cli, &database, &file, out),
        Command::Export { database } => fleet::export(cli, &database, out),
        Command::Sync { database } => crate::sync::command::run(cli, &database, out),
        Command::Revert { entry } => operate::revert::run(cli, entry, out),
        Command::FleetView { database } => operate::fleet_view::run(cli, &database, out),
        Command::Diff { other } => operate::run_diff(cli, &other, out),
        Command::Promote { flag, from } => operate::promote::run(cli, flag.as_deref(), &from, out),
        Command::Guard => guard::command::run(cli, out),
        Command::Report { flag } => analysis::run(cli, &flag, inert),
        Command::Plans => plans::commands::run(cli, inert).unwrap_or_else(|| {
            Err(Failure::usage(
                "nothing to do: give --list, --check, --feature NAME, --history or an edit (see --help)",
            ))
        }),
        Command::Check => read::check(cli, inert),
        Command::List => read::list(cli, inert),
        Command::History => read::history(cli, inert),
        Command::Rename { flag, new } => Err(lifecycle::rename_refusal(&flag, &new)),
        Command::Group => manage::group_command(cli, inert),
        Command::DeleteFlag { flag } => manage::delete_flag(cli, &flag, inert),
        Command::Edit { flag } => edit::edit(cli, &edit::edit_request(cli, &flag)?, inert),
        Command::Explain { flag } => read::explain(cli, &flag, inert),
        Command::Show { flag } => read::show_flag(cli, &flag, inert),
    }
}
