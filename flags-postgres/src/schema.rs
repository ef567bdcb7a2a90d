//! `--init`: the schema's migrations, the two group roles and their rights.
//!
//! The role that runs `--init` owns schema `feature_flags` and everything
//! in it. `feature_flags_reader` (bot servers' syncs) and
//! `feature_flags_editor` (operators, the guard) are NOLOGIN group roles
//! that own nothing; what each may do is granted by `migrations/grants.sql`.

use postgres::error::SqlState;

use crate::rights::{Action, EDITOR, READER};
use crate::{Database, Error};

/// The schema this build creates and understands.
pub const SCHEMA_VERSION: u32 = 2;

/// Migration `n` (1-based) brings the schema from version n-1 to n.
const MIGRATIONS: [&str; 2] = [
    include_str!("../migrations/V1__initial.sql"),
    include_str!("../migrations/V2__least_privilege.sql"),
];

/// The group roles' rights, granted again by every `--init`.
const GRANTS: &str = include_str!("../migrations/grants.sql");

/// Key of the advisory lock that serialises `init` (any constant; "ffsc").
const INIT_LOCK: i64 = 0x6666_7363;

/// What `--init` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// The schema version found (0: none) and the one left.
    pub from: u32,
    pub to: u32,
    pub roles: Roles,
}

/// The group roles after `--init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roles {
    /// Both exist and hold their rights; `created` names those this run made.
    Granted { created: Vec<String> },
    /// Some are missing and `role` may not create roles: what an
    /// administrator runs, before `--init` again grants them their rights.
    Missing {
        role: String,
        statements: Vec<String>,
    },
    /// Both exist, but only the schema's owner grants them rights.
    NotOwner { role: String, owner: String },
}

impl Database {
    /// As [`Database::setup`], the schema versions only.
    pub fn init(&mut self) -> Result<(u32, u32), Error> {
        self.setup().map(|s| (s.from, s.to))
    }

    /// Creates or migrates schema `feature_flags` (idempotent; refuses a
    /// schema newer than this build knows), creates the group roles when
    /// this role may (else says what an administrator must run) and grants
    /// them their rights. The schema is migrated even when the roles cannot
    /// be made: the owner can work, and a later `--init` grants the rights.
    pub fn setup(&mut self) -> Result<Setup, Error> {
        let (from, to) = self.migrate()?;
        let roles = self.roles()?;
        Ok(Setup { from, to, roles })
    }

    /// Every pending migration in one transaction, under an advisory lock:
    /// all or nothing, and a racing `--init` waits and finds it done.
    fn migrate(&mut self) -> Result<(u32, u32), Error> {
        match self.migrate_in_one() {
            Ok(done) => Ok(done),
            Err(Step::Db(e)) => Err(self.fail_as(e, Action::Init)),
            Err(Step::Other(e)) => Err(e),
        }
    }

    fn migrate_in_one(&mut self) -> Result<(u32, u32), Step> {
        let mut tx = self.client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INIT_LOCK])?;
        let exists: bool = tx
            .query_one(
                "SELECT to_regclass('feature_flags.schema_version') IS NOT NULL",
                &[],
            )?
            .get(0);
        let version: i32 = if exists {
            tx.query_one("SELECT version FROM feature_flags.schema_version", &[])?
                .get(0)
        } else {
            0
        };
        let from = version.max(0) as u32;
        if from > SCHEMA_VERSION {
            return Err(Step::Other(Error::NewerSchema {
                found: from,
                known: SCHEMA_VERSION,
            }));
        }
        if from == SCHEMA_VERSION {
            return Ok((from, from));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
            tx.batch_execute(sql)?;
            tx.execute(
                "UPDATE feature_flags.schema_version SET version = $1",
                &[&(i as i32 + 1)],
            )?;
        }
        tx.commit()?;
        Ok((from, SCHEMA_VERSION))
    }

    /// Creates the missing group roles if this role may, then grants them
    /// their rights if this role owns the schema.
    fn roles(&mut self) -> Result<Roles, Error> {
        let row = self
            .client
            .query_one(
                "SELECT session_user::text, \
                   (SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user), \
                   ARRAY(SELECT rolname::text FROM pg_roles WHERE rolname IN ($1, $2)), \
                   (SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = 'feature_flags'), \
                   (SELECT pg_has_role(session_user, nspowner, 'USAGE') FROM pg_namespace WHERE nspname = 'feature_flags')",
                &[&READER, &EDITOR],
            )
            .map_err(|e| self.fail(e))?;
        let role: String = row.get(0);
        let may_create: bool = row.get::<_, Option<bool>>(1).unwrap_or(false);
        let existing: Vec<String> = row.get(2);
        let owner: String = row.get::<_, Option<String>>(3).unwrap_or_default();
        let owns: bool = row.get::<_, Option<bool>>(4).unwrap_or(false);
        let missing: Vec<&str> = [READER, EDITOR]
            .into_iter()
            .filter(|r| !existing.iter().any(|e| e == r))
            .collect();
        if !missing.is_empty() && !may_create {
            return Ok(Roles::Missing {
                role,
                statements: missing
                    .iter()
                    .map(|r| format!("CREATE ROLE {r} NOLOGIN;"))
                    .collect(),
            });
        }
        let mut created = Vec::new();
        for name in missing {
            match self
                .client
                .batch_execute(&format!("CREATE ROLE {name} NOLOGIN"))
            {
                Ok(()) => created.push(name.to_owned()),
                // Roles are cluster-wide: another database's --init may
                // have made it a moment ago.
                Err(e)
                    if e.code() == Some(&SqlState::DUPLICATE_OBJECT)
                        || e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {}
                Err(e) => return Err(self.fail(e)),
            }
        }
        if !owns {
            return Ok(Roles::NotOwner { role, owner });
        }
        let granted = self.client.transaction().and_then(|mut tx| {
            tx.batch_execute(GRANTS)?;
            tx.commit()
        });
        granted.map_err(|e| self.fail(e))?;
        Ok(Roles::Granted { created })
    }
}

/// Why a migration step failed.
enum Step {
    Db(postgres::Error),
    Other(Error),
}

impl From<postgres::Error> for Step {
    fn from(e: postgres::Error) -> Step {
        Step::Db(e)
    }
}
