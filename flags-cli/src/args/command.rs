//! The one thing a command line asks for, decided once from the parsed
//! options: [`crate::commands::run`] is a single `match` over it.
//!
//! Where clap lets options stand together (`--report F --status`), the
//! first command checked wins, in the order of [`Cli::requested_command`],
//! and each usage error is found at its point of that order.

use std::path::PathBuf;

use crate::Failure;
use crate::args::Cli;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `--database URL --init`.
    Init { database: String },
    /// `--database URL --import FILE`.
    Import { database: String, file: PathBuf },
    /// `--database URL --export`.
    Export { database: String },
    /// `--database URL --sync`.
    Sync { database: String },
    /// `--revert ENTRY`.
    Revert { entry: u64 },
    /// `--database URL --fleet` (without a database, `--fleet` is passed
    /// over, and so are `--diff` and `--promote`).
    FleetView { database: String },
    /// `--diff OTHER`.
    Diff { other: String },
    /// `--promote [FLAG] --from ENV`.
    Promote { flag: Option<String>, from: String },
    /// `--guard`.
    Guard,
    /// `--report FLAG` (not with `--status`, which wins).
    Report { flag: String },
    /// `--status`, or a plan option (`--plan`, `--start`, …) with
    /// `--feature NAME`: the rollout plan commands.
    Plans,
    /// `--check`.
    Check,
    /// `--list`.
    List,
    /// `--history`.
    History,
    /// `--feature NAME --rename NEW`: refused with the way to do it.
    Rename { flag: String, new: String },
    /// `--group NAME` (without `--explain`): a user group shown or managed.
    Group,
    /// `--feature NAME --delete`.
    DeleteFlag { flag: String },
    /// `--feature NAME` with a field, chat or targeting change, or
    /// `--create`.
    Edit { flag: String },
    /// `--feature NAME --explain`.
    Explain { flag: String },
    /// `--feature NAME` alone.
    Show { flag: String },
}

impl Cli {
    /// The command this line asks for, or the usage error it makes.
    pub fn requested_command(&self) -> Result<Command, Failure> {
        if self.listen.is_some() && !self.guard && !self.fleet.sync {
            return Err(Failure::usage(
                "--listen serves the metrics of --guard or --sync; give one of them",
            ));
        }
        if let Some(command) = self.fleet_command() {
            return Ok(command);
        }
        if let Some(command) = self.operate_command() {
            return Ok(command);
        }
        if self.guard {
            return Ok(Command::Guard);
        }
        if let Some(command) = self.plan_command() {
            return Ok(command);
        }
        if self.check {
            return Ok(Command::Check);
        }
        if self.list {
            return Ok(Command::List);
        }
        if self.history {
            return Ok(Command::History);
        }
        if let Some(command) = self.manage_command()? {
            return Ok(command);
        }
        if let Some(flag) = self.edited_flag()? {
            return Ok(Command::Edit { flag });
        }
        match &self.feature {
            Some(flag) if self.explain => Ok(Command::Explain { flag: flag.clone() }),
            Some(flag) => Ok(Command::Show { flag: flag.clone() }),
            None => Err(Failure::usage(
                "nothing to do: give --list, --check, --feature NAME, --history or an edit (see --help)",
            )),
        }
    }

    fn fleet_command(&self) -> Option<Command> {
        let fleet = &self.fleet;
        let database = fleet.database.clone()?;
        if fleet.init {
            Some(Command::Init { database })
        } else if let Some(file) = &fleet.import {
            Some(Command::Import {
                database,
                file: file.clone(),
            })
        } else if fleet.export {
            Some(Command::Export { database })
        } else if fleet.sync {
            Some(Command::Sync { database })
        } else {
            None
        }
    }

    fn operate_command(&self) -> Option<Command> {
        let args = &self.operate;
        if let Some(entry) = args.revert {
            return Some(Command::Revert { entry });
        }
        if args.fleet_view {
            // Without a database, --fleet ends this group of commands.
            let database = self.fleet.database.clone()?;
            return Some(Command::FleetView { database });
        }
        if let Some(other) = &args.diff {
            return Some(Command::Diff {
                other: other.clone(),
            });
        }
        if let Some(flag) = &args.promote {
            return Some(Command::Promote {
                flag: flag.clone(),
                from: args.from.clone().unwrap_or_default(),
            });
        }
        None
    }

    fn plan_command(&self) -> Option<Command> {
        let rollout = &self.rollout;
        if let Some(flag) = &rollout.report
            && !rollout.status
        {
            return Some(Command::Report { flag: flag.clone() });
        }
        if rollout.status || (rollout.is_edit() && self.feature.is_some()) {
            return Some(Command::Plans);
        }
        None
    }

    fn manage_command(&self) -> Result<Option<Command>, Failure> {
        let args = &self.manage;
        if let (Some(flag), Some(new)) = (&self.feature, &args.rename) {
            return Ok(Some(Command::Rename {
                flag: flag.clone(),
                new: new.clone(),
            }));
        }
        if args.force && !(args.delete || args.bucket_by.is_some() || args.salt.is_some()) {
            return Err(Failure::usage(
                "--force only confirms --delete, --bucket-by or --salt",
            ));
        }
        if !self.group.is_empty() && !self.explain {
            return Ok(Some(Command::Group));
        }
        if args.delete {
            return match &self.feature {
                Some(_) if args.force => Err(Failure::usage(
                    "--force does not apply to deleting a flag (a running rollout plan is finished or aborted first)",
                )),
                Some(flag) => Ok(Some(Command::DeleteFlag { flag: flag.clone() })),
                None => Err(Failure::usage(
                    "--delete needs --feature NAME (a flag) or --group NAME (a user group)",
                )),
            };
        }
        Ok(None)
    }

    /// The flag an edit of fields, chats or targeting names, if the line
    /// asks for one.
    fn edited_flag(&self) -> Result<Option<String>, Failure> {
        if self.enable && self.disable {
            return Err(Failure::usage(
                "--enable and --disable contradict each other",
            ));
        }
        let is_edit = self.create
            || self.enable
            || self.disable
            || self.percentage.is_some()
            || !self.exclude_chat.is_empty()
            || !self.include_chat.is_empty()
            || self.manage.has_targeting();
        Ok(self.feature.clone().filter(|_| is_edit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requested(args: &[&str]) -> Result<Command, String> {
        let line = std::iter::once("feature_flags").chain(args.iter().copied());
        let cli = Cli::parse_args(line).unwrap_or_else(|e| panic!("{args:?}: {}", e.kind()));
        cli.requested_command()
            .map_err(|f| format!("{} {}", f.code, f.lines.join("; ")))
    }

    #[test]
    fn each_line_asks_for_one_command_or_one_usage_error() {
        let flag = || "f".to_owned();
        let database = || "postgres://h/db".to_owned();
        let cases: Vec<(&[&str], Result<Command, &str>)> = vec![
            (&[], Err("2 nothing to do")),
            (&["--listen", "127.0.0.1:1"], Err("2 --listen serves")),
            (
                &["--database", "postgres://h/db", "--init"],
                Ok(Command::Init {
                    database: database(),
                }),
            ),
            (
                &["--database", "postgres://h/db", "--sync"],
                Ok(Command::Sync {
                    database: database(),
                }),
            ),
            (
                &["--database", "postgres://h/db", "--fleet"],
                Ok(Command::FleetView {
                    database: database(),
                }),
            ),
            (&["--revert", "4"], Ok(Command::Revert { entry: 4 })),
            (&["--guard"], Ok(Command::Guard)),
            (&["--report", "f"], Ok(Command::Report { flag: flag() })),
            (&["--status"], Ok(Command::Plans)),
            (&["--feature", "f", "--start"], Ok(Command::Plans)),
            (&["--check"], Ok(Command::Check)),
            (&["--history", "--feature", "f"], Ok(Command::History)),
            (
                &["--feature", "f", "--rename", "g"],
                Ok(Command::Rename {
                    flag: flag(),
                    new: "g".into(),
                }),
            ),
            (&["--group", "beta"], Ok(Command::Group)),
            (&["--delete"], Err("2 --delete needs --feature NAME")),
            (
                &["--feature", "f", "--delete"],
                Ok(Command::DeleteFlag { flag: flag() }),
            ),
            (
                &["--feature", "f", "--delete", "--force"],
                Err("2 --force does not apply to deleting a flag"),
            ),
            (
                &["--feature", "f", "--enable"],
                Ok(Command::Edit { flag: flag() }),
            ),
            (
                &["--feature", "f", "--percentage", "5"],
                Ok(Command::Edit { flag: flag() }),
            ),
            (
                &["--feature", "f", "--explain"],
                Ok(Command::Explain { flag: flag() }),
            ),
            (&["--feature", "f"], Ok(Command::Show { flag: flag() })),
        ];
        for (args, expected) in cases {
            match (requested(args), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{args:?}"),
                (Err(got), Err(want)) => assert!(got.starts_with(want), "{args:?}: {got}"),
                (got, want) => panic!("{args:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
