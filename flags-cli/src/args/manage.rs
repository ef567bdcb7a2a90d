//! The command line for everything else the file holds: user groups and
//! their members, a flag's targeting, rebucketing, and a flag's life cycle.
//! Flattened into [`crate::args::Cli`], so the option list stays one list.

use clap::{ArgGroup, Args};
use flags_core::{BucketBy, ChatType, check_name, nearest_name};

#[derive(Debug, Default, Args)]
// A flag's targeting: edits of --feature, like --percentage.
#[command(group(
    ArgGroup::new("targeting")
        .args(["add_user_group", "remove_user_group", "chat_types", "all_chat_types", "description", "bucket_by", "salt"])
        .multiple(true)
        .requires("feature")
        .conflicts_with_all(["action", "json"])
))]
// Membership edits of one --group.
#[command(group(
    ArgGroup::new("membership")
        .args(["add_user", "remove_user"])
        .multiple(true)
        .requires("group")
        .conflicts_with_all(["feature", "action", "json", "list_users"])
))]
// Everything that writes, so --dry-run can require one of them (clap groups
// cannot hold groups: keep this in step with the "edit" group in args.rs).
#[command(group(
    ArgGroup::new("writes")
        .args([
            "percentage", "exclude_chat", "include_chat", "disable", "enable", "create",
            "add_user_group", "remove_user_group", "chat_types", "all_chat_types", "description",
            "bucket_by", "salt", "add_user", "remove_user", "delete",
        ])
        .multiple(true)
))]
pub struct ManageArgs {
    /// Add this user id to --group (repeatable); the group is created on
    /// the first add. A user already in it is reported and left as is.
    #[arg(long, value_name = "ID", help_heading = "User groups", allow_hyphen_values = true, value_parser = user_id_arg)]
    pub add_user: Vec<i64>,

    /// Remove this user id from --group (repeatable); an id that is not in
    /// the group is an error. The group stays, perhaps empty.
    #[arg(long, value_name = "ID", help_heading = "User groups", allow_hyphen_values = true, value_parser = user_id_arg)]
    pub remove_user: Vec<i64>,

    /// Print the user ids of --group, one per line (--json: an array).
    #[arg(
        long,
        requires = "group",
        conflicts_with_all = ["feature", "action"],
        help_heading = "User groups"
    )]
    pub list_users: bool,

    /// Members of this group always get --feature (repeatable).
    #[arg(long, value_name = "GROUP", help_heading = "Targeting (with --feature NAME)", value_parser = group_name_arg)]
    pub add_user_group: Vec<String>,

    /// Stop targeting this group (repeatable).
    #[arg(long, value_name = "GROUP", help_heading = "Targeting (with --feature NAME)", value_parser = group_name_arg)]
    pub remove_user_group: Vec<String>,

    /// Turn --feature on only in these chat types (comma-separated:
    /// private, group, supergroup, channel).
    #[arg(long, value_name = "TYPES", value_delimiter = ',', conflicts_with = "all_chat_types", help_heading = "Targeting (with --feature NAME)", value_parser = chat_type_arg)]
    pub chat_types: Vec<ChatType>,

    /// Turn --feature on in every chat type (removes chat_types).
    #[arg(long, help_heading = "Targeting (with --feature NAME)")]
    pub all_chat_types: bool,

    /// Set the description (free text for people); "" removes it.
    #[arg(
        long,
        value_name = "TEXT",
        help_heading = "Targeting (with --feature NAME)"
    )]
    pub description: Option<String>,

    /// Hash the user id or the chat id for the percentage. Reshuffles who
    /// has the feature: needs --force; prints how many users would gain and
    /// lose it.
    #[arg(long, value_name = "user|chat", help_heading = "Rebucketing (with --feature NAME; needs --force)", value_parser = bucket_by_arg)]
    pub bucket_by: Option<BucketBy>,

    /// Set the hash salt. A new salt reshuffles who has the feature: needs
    /// --force; prints how many users would gain and lose it.
    #[arg(long, value_name = "TEXT", help_heading = "Rebucketing (with --feature NAME; needs --force)", value_parser = salt_arg)]
    pub salt: Option<String>,

    /// With --feature: remove the flag (bots then get their default for
    /// it); refused while a rollout plan runs for it. With --group: remove
    /// the group; refused while a flag targets it, unless --force.
    #[arg(long, conflicts_with_all = ["edit", "targeting", "membership", "action", "json", "list_users"], help_heading = "Life cycle")]
    pub delete: bool,

    /// Confirm an edit that reshuffles users (--bucket-by, --salt), or
    /// delete a group that flags target, removing it from their user_groups,
    /// or --revert an entry whose field changed since.
    #[arg(long, help_heading = "Life cycle")]
    pub force: bool,

    /// Refused, with the reason: bots name flags in their code. Create the
    /// new flag, move the callers, then --delete the old one.
    #[arg(
        long,
        value_name = "NEW",
        requires = "feature",
        help_heading = "Life cycle"
    )]
    pub rename: Option<String>,
}

impl ManageArgs {
    /// Whether any targeting edit of a flag is asked for.
    pub fn has_targeting(&self) -> bool {
        !self.add_user_group.is_empty()
            || !self.remove_user_group.is_empty()
            || !self.chat_types.is_empty()
            || self.all_chat_types
            || self.description.is_some()
            || self.bucket_by.is_some()
            || self.salt.is_some()
    }
}

fn user_id_arg(s: &str) -> Result<i64, String> {
    flags_core::parse_id(s).map_err(|e| format!("{e}; user ids are integers such as 123456789"))
}

/// A group name as the file allows it.
pub fn group_name_arg(s: &str) -> Result<String, String> {
    check_name(s)?;
    Ok(s.to_owned())
}

fn chat_type_arg(s: &str) -> Result<ChatType, String> {
    if s.is_empty() {
        return Err("give at least one chat type, or --all-chat-types for every type".into());
    }
    s.parse::<ChatType>().map_err(|e| {
        let names = ChatType::ALL.map(ChatType::as_str);
        match nearest_name(s, names) {
            Some(near) => format!("{e}; did you mean {near:?}?"),
            None => e.to_string(),
        }
    })
}

fn bucket_by_arg(s: &str) -> Result<BucketBy, String> {
    match s {
        "user" => Ok(BucketBy::User),
        "chat" => Ok(BucketBy::Chat),
        _ => Err(format!("{s:?} is not user or chat")),
    }
}

fn salt_arg(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("a salt must not be empty (the flag's name is the salt when none is set)".into())
    } else {
        Ok(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_type_typos_get_a_suggestion() {
        let message = chat_type_arg("privat").unwrap_err();
        assert!(message.ends_with("did you mean \"private\"?"), "{message}");
        assert!(chat_type_arg("").unwrap_err().contains("--all-chat-types"));
        assert_eq!(chat_type_arg("channel"), Ok(ChatType::Channel));
    }
}
