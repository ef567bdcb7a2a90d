//! The two group roles and what each may do: a refused statement explained
//! by which role connected, which of the group roles it holds, and the
//! grant the command needs.

use postgres::error::SqlState;

use crate::{Database, Error};

/// The group role of the bot servers' syncs.
pub const READER: &str = "feature_flags_reader";
/// The group role of operators and the guard.
pub const EDITOR: &str = "feature_flags_editor";

/// What a refused statement was for: names the right it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Read,
    Edit,
    Import,
    History,
    Init,
    Heartbeat,
    Syncs,
}

impl Database {
    /// `e` as an [`Error`]; a refusal for lack of a right becomes
    /// [`Error::PermissionDenied`] naming the role and what `action` needs.
    pub(crate) fn fail_as(&mut self, e: postgres::Error, action: Action) -> Error {
        if e.code() != Some(&SqlState::INSUFFICIENT_PRIVILEGE) || self.client.is_closed() {
            return self.fail(e);
        }
        // A refusal the schema itself raises (the append-only audit) is
        // already its own explanation.
        let server = e.as_db_error().map(|d| d.message().to_owned());
        if server
            .as_deref()
            .is_some_and(|m| !m.starts_with("permission denied"))
        {
            return self.fail(e);
        }
        match self.who() {
            Ok(who) => Error::PermissionDenied(explain(&who, action)),
            Err(_) => self.fail(e),
        }
    }

    fn who(&mut self) -> Result<Who, postgres::Error> {
        let row = self.client.query_one(
            "SELECT session_user::text, quote_ident(session_user), \
               ARRAY(SELECT r.rolname::text FROM pg_roles r \
                     WHERE r.rolname IN ($1, $2) AND pg_has_role(session_user, r.oid, 'USAGE') \
                     ORDER BY r.rolname DESC), \
               (SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = 'feature_flags')",
            &[&READER, &EDITOR],
        )?;
        Ok(Who {
            role: row.get(0),
            quoted: row.get(1),
            holds: row.get(2),
            owner: row.get(3),
        })
    }
}

/// The connecting role as the database sees it.
struct Who {
    role: String,
    /// The role's name as SQL needs it in a GRANT.
    quoted: String,
    /// Which of the group roles it holds (editor first).
    holds: Vec<String>,
    /// The schema's owner, if there is a schema.
    owner: Option<String>,
}

/// `role bot_a is a feature_flags_reader; edits need feature_flags_editor
/// (GRANT feature_flags_editor TO bot_a)`.
fn explain(who: &Who, action: Action) -> String {
    let is = match who.holds.as_slice() {
        [] => format!("role {} holds neither {READER} nor {EDITOR}", who.role),
        [one] => format!("role {} is a {one}", who.role),
        _ => format!("role {} is a {EDITOR} and a {READER}", who.role),
    };
    let group = |what: &str, group: &str| {
        format!(
            "{is}; {what} need {group} (GRANT {group} TO {})",
            who.quoted
        )
    };
    let owner = |what: &str| match &who.owner {
        Some(owner) => {
            format!("{is}; {what} only the owner of schema feature_flags ({owner}) may run")
        }
        None => format!("{is}; {what} needs a role that may create a schema in this database"),
    };
    match action {
        Action::Read => group("reading the flag document and listening", READER),
        Action::Heartbeat => group("sync heartbeats", READER),
        Action::Edit => group("edits, plans and the guard", EDITOR),
        Action::History => group("--history and --fleet", EDITOR),
        Action::Syncs => group("--history and --fleet", EDITOR),
        Action::Import => owner("--import and --import --replace"),
        Action::Init => owner("--init (migrations and grants)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(holds: &[&str]) -> Who {
        Who {
            role: "bot-a".into(),
            quoted: "\"bot-a\"".into(),
            holds: holds.iter().map(|s| (*s).to_owned()).collect(),
            owner: Some("flags".into()),
        }
    }

    #[test]
    fn a_refusal_names_the_role_and_the_grant() {
        let cases = [
            (
                who(&[READER]),
                Action::Edit,
                "role bot-a is a feature_flags_reader; edits, plans and the guard need feature_flags_editor (GRANT feature_flags_editor TO \"bot-a\")",
            ),
            (
                who(&[]),
                Action::Read,
                "role bot-a holds neither feature_flags_reader nor feature_flags_editor; reading the flag document and listening need feature_flags_reader (GRANT feature_flags_reader TO \"bot-a\")",
            ),
            (
                who(&[EDITOR]),
                Action::Import,
                "role bot-a is a feature_flags_editor; --import and --import --replace only the owner of schema feature_flags (flags) may run",
            ),
        ];
        for (who, action, want) in cases {
            assert_eq!(explain(&who, action), want);
        }
    }
}
