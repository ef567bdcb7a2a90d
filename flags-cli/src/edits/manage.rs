//! The commands of `args/manage.rs` that are not field edits of one flag:
//! `--group NAME` (show, `--list-users`, membership, `--delete`), a flag's
//! `--delete`. Called from `commands::run`.

use flags_rollout::Status;

use crate::Failure;
use crate::args::manage::group_name_arg;
use crate::args::{Cli, refuse_in_both};
use crate::edits::{groups, lifecycle};
use crate::store::locked::{self, PendingWrite};
use crate::store::{self, parse_rollouts};

type Out<'a> = dyn FnMut(&str) + 'a;

pub fn group_command(cli: &Cli, out: &mut Out<'_>) -> Result<u8, Failure> {
    let args = &cli.manage;
    if cli.feature.is_some() {
        return Err(Failure::usage(if args.delete {
            "--delete takes --feature NAME or --group NAME, not both"
        } else {
            "--group with --feature needs --explain (a group the bot knows the user to be in); to manage a group, give --group NAME without --feature"
        }));
    }
    let [group] = cli.group.as_slice() else {
        return Err(Failure::usage("give one --group NAME to manage"));
    };
    group_name_arg(group).map_err(|e| Failure::usage(format!("--group: {e}")))?;
    let mut store = store::open(cli)?;
    let path = store.flags_name().to_owned();
    let path = path.as_path();

    if args.delete {
        return locked::write(&mut *store, cli.dry_run, out, &mut |docs| {
            groups::delete(path, &docs.flags, group, args.force)
        });
    }
    if !args.add_user.is_empty() || !args.remove_user.is_empty() {
        refuse_in_both(
            "user",
            (&args.add_user, "--add-user"),
            (&args.remove_user, "--remove-user"),
        )?;
        return locked::write(&mut *store, cli.dry_run, out, &mut |docs| {
            groups::edit_members(path, &docs.flags, group, &args.add_user, &args.remove_user)
        });
    }
    let text = store.read()?.flags;
    let shown = if args.list_users {
        groups::list_users(path, &text, group, cli.json)?
    } else {
        groups::show(path, &text, group, cli.json)?
    };
    out(&shown);
    Ok(0)
}

pub fn delete_flag(cli: &Cli, name: &str, out: &mut Out<'_>) -> Result<u8, Failure> {
    let mut store = store::open(cli)?;
    let path = store.flags_name().to_owned();
    let rollouts_name = store.rollouts_name().to_owned();
    locked::write(&mut *store, cli.dry_run, out, &mut |docs| {
        let mut planned: PendingWrite = lifecycle::delete(&path, &docs.flags, name)?;
        // Read under the lock: plans are started under it too. A paused
        // plan counts: --resume would carry on with a flag that is gone.
        let mut rollouts = parse_rollouts(&rollouts_name, docs.rollouts.as_deref())?;
        if let Some(rollout) = rollouts.rollouts.remove(name) {
            let status = rollout.state.status;
            if matches!(status, Status::Running | Status::Paused) {
                return Err(Failure::new(format!(
                    "a rollout plan for {name} is {status}; --feature {name} --abort it first (see --status)"
                )));
            }
            // A finished plan goes with its flag, so a new flag of the same
            // name never inherits it (--resume would pick it up).
            planned
                .lines
                .push(format!("{name}: its {status} rollout plan is removed too"));
            planned.entries.push(
                serde_json::json!({
                    "flag": name, "field": "plan.state", "old": status.to_string(), "new": null
                })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            );
            planned.rollouts = Some(rollouts.to_text());
        }
        Ok(planned)
    })
}
