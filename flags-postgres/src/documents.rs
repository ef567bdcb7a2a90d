//! The two documents: read as one snapshot, changed in one transaction
//! with their audit rows (an editor's edit through the schema's functions,
//! the owner's import and replace directly).

use crate::client::Transaction;
use crate::notify::CHANNEL;
use crate::rights::Action;
use crate::schema::SCHEMA_VERSION;
use crate::{AuditEntry, Database, Error, audit};

/// The largest document read or written (a flag file is a few KiB).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// Both documents as one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Documents {
    pub flags: String,
    pub flags_version: i64,
    /// None: no plans (like a missing rollouts file).
    pub rollouts: Option<String>,
    pub rollouts_version: i64,
    /// Random id made by `init`: a sync that sees another id knows the
    /// database was replaced, and takes its document even if its version is
    /// lower than the file's.
    pub database_id: String,
}

/// What an edit writes: each document that is Some and differs, and the
/// audit rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub flags: Option<String>,
    pub rollouts: Option<String>,
    pub audit: Vec<AuditEntry>,
}

impl Database {
    /// Both documents and their versions, one snapshot, no locks.
    pub fn read(&mut self) -> Result<Documents, Error> {
        let rows = self
            .client
            .query(READ_DOCUMENTS, &[&(MAX_DOCUMENT_BYTES as i64)]);
        let rows = rows.map_err(|e| self.fail_as(e, Action::Read))?;
        documents(rows)
    }

    /// One transaction: lock both document rows, re-read, call `f`;
    /// `Ok((None, t))` changes nothing; `Ok((Some(update), t))` writes each
    /// document that is Some and differs (its version + 1), the audit rows,
    /// NOTIFY, and commits. Any error: nothing written. Locking and writing
    /// go through the schema's functions (`lock_documents`,
    /// `write_documents`), so that an editor, who may not write a table,
    /// changes documents only together with their audit rows.
    pub fn edit<T, E: From<Error>>(
        &mut self,
        f: impl FnOnce(&Documents) -> Result<(Option<Update>, T), E>,
    ) -> Result<T, E> {
        match self.edit_once(f) {
            Ok(value) => Ok(value),
            Err(Failed::Db(e)) => Err(E::from(self.fail_as(e, Action::Edit))),
            Err(Failed::Other(e)) => Err(e),
        }
    }

    fn edit_once<T, E: From<Error>>(
        &mut self,
        f: impl FnOnce(&Documents) -> Result<(Option<Update>, T), E>,
    ) -> Result<T, Failed<E>> {
        let mut tx = self.client.transaction().map_err(Failed::Db)?;
        let rows = tx
            .query(
                "SELECT * FROM feature_flags.lock_documents($1)",
                &[&(MAX_DOCUMENT_BYTES as i64)],
            )
            .map_err(Failed::Db)?;
        let current = documents(rows).map_err(|e| Failed::Other(E::from(e)))?;
        let (update, value) = f(&current).map_err(Failed::Other)?;
        let Some(update) = update else {
            return Ok(value);
        };
        let flags = update.flags.as_ref().filter(|t| **t != current.flags);
        let rollouts = update
            .rollouts
            .as_ref()
            .filter(|t| Some(*t) != current.rollouts.as_ref());
        for body in flags.iter().chain(rollouts.iter()) {
            if body.len() > MAX_DOCUMENT_BYTES {
                return Err(Failed::Other(E::from(Error::TooLarge {
                    bytes: body.len() as u64,
                })));
            }
        }
        if flags.is_none() && rollouts.is_none() && update.audit.is_empty() {
            return Ok(value);
        }
        tx.execute(
            "SELECT feature_flags.write_documents($1, $2, $3, $4, $5::text::jsonb)",
            &[
                &flags,
                &rollouts,
                &current.flags_version,
                &current.rollouts_version,
                &audit::entries_json(&update.audit),
            ],
        )
        .map_err(Failed::Db)?;
        tx.commit().map_err(Failed::Db)?;
        Ok(value)
    }

    /// Fills a database that has no flag document yet (else NotEmpty);
    /// `audit` rows are this import's own.
    pub fn import(
        &mut self,
        flags: &str,
        rollouts: Option<&str>,
        audit: &[AuditEntry],
    ) -> Result<Documents, Error> {
        self.put(flags, rollouts, &[], audit, true)
    }

    /// As [`Database::import`], with `history` (a file's audit log) before
    /// the import's own rows, each marked imported: the database vouches
    /// only for who imported it and when.
    pub fn import_with_history(
        &mut self,
        flags: &str,
        rollouts: Option<&str>,
        history: &[AuditEntry],
        audit: &[AuditEntry],
    ) -> Result<Documents, Error> {
        self.put(flags, rollouts, history, audit, true)
    }

    /// Writes the documents whatever the database holds now, without
    /// reading the old ones: the repair after a document written by hand
    /// that cannot be edited (invalid, or over [`MAX_DOCUMENT_BYTES`]).
    /// `rollouts` None leaves the rollouts document as it is.
    pub fn replace(
        &mut self,
        flags: &str,
        rollouts: Option<&str>,
        audit: &[AuditEntry],
    ) -> Result<Documents, Error> {
        self.put(flags, rollouts, &[], audit, false)
    }

    /// The owner's write (import, replace): tables directly, which only the
    /// schema's owner may.
    fn put(
        &mut self,
        flags: &str,
        rollouts: Option<&str>,
        history: &[AuditEntry],
        audit: &[AuditEntry],
        only_if_empty: bool,
    ) -> Result<Documents, Error> {
        let update = Update {
            flags: Some(flags.to_owned()),
            rollouts: rollouts.map(str::to_owned),
            audit: audit.to_vec(),
        };
        match self.put_once(&update, history, only_if_empty) {
            Ok(docs) => Ok(docs),
            Err(Failed::Db(e)) => Err(self.fail_as(e, Action::Import)),
            Err(Failed::Other(e)) => Err(e),
        }
    }

    fn put_once(
        &mut self,
        update: &Update,
        history: &[AuditEntry],
        only_if_empty: bool,
    ) -> Result<Documents, Failed<Error>> {
        let mut tx = self.client.transaction().map_err(Failed::Db)?;
        // Lock both rows without fetching a body that may be huge.
        let rows = tx
            .query(
                "SELECT name, body IS NOT NULL FROM feature_flags.documents ORDER BY name FOR UPDATE",
                &[],
            )
            .map_err(Failed::Db)?;
        let has_flags = rows
            .iter()
            .any(|r| r.get::<_, &str>(0) == "flags" && r.get::<_, bool>(1));
        if only_if_empty && has_flags {
            return Err(Failed::Other(Error::NotEmpty));
        }
        let current = empty_documents(&mut tx).map_err(Failed::Db)?;
        for entry in history {
            audit::append(&mut tx, entry, None, true).map_err(Failed::Db)?;
        }
        write_update(&mut tx, &current, update)?;
        let rows = tx
            .query(READ_DOCUMENTS, &[&(MAX_DOCUMENT_BYTES as i64)])
            .map_err(Failed::Db)?;
        let docs = documents(rows).map_err(Failed::Other)?;
        tx.commit().map_err(Failed::Db)?;
        Ok(docs)
    }
}

const READ_DOCUMENTS: &str = "SELECT d.name, d.version, octet_length(d.body)::bigint, \
     CASE WHEN octet_length(d.body) <= $1::bigint THEN d.body END, s.version, s.database_id \
     FROM feature_flags.documents d CROSS JOIN feature_flags.schema_version s";

/// Why a transaction failed: the database (mapped once the transaction
/// has ended and the connection is free to explain a refusal), or not.
enum Failed<E> {
    Db(postgres::Error),
    Other(E),
}

/// The documents from [`READ_DOCUMENTS`] rows; NoDocument when the flag
/// document was never imported.
fn documents(rows: Vec<postgres::Row>) -> Result<Documents, Error> {
    let mut docs = Documents {
        flags: String::new(),
        flags_version: 0,
        rollouts: None,
        rollouts_version: 0,
        database_id: String::new(),
    };
    let mut have_flags = false;
    for row in &rows {
        let schema: i32 = row.get(4);
        if schema.max(0) as u32 > SCHEMA_VERSION {
            return Err(Error::NewerSchema {
                found: schema as u32,
                known: SCHEMA_VERSION,
            });
        }
        docs.database_id = row.get(5);
        let name: &str = row.get(0);
        let version: i64 = row.get(1);
        let bytes: Option<i64> = row.get(2);
        let body: Option<String> = row.get(3);
        if let Some(n) = bytes
            && body.is_none()
        {
            return Err(Error::TooLarge { bytes: n as u64 });
        }
        match name {
            "flags" => {
                docs.flags_version = version;
                if let Some(b) = body {
                    docs.flags = b;
                    have_flags = true;
                }
            }
            _ => {
                docs.rollouts_version = version;
                docs.rollouts = body;
            }
        }
    }
    if !have_flags {
        return Err(Error::NoDocument);
    }
    Ok(docs)
}

fn empty_documents(tx: &mut Transaction<'_>) -> Result<Documents, postgres::Error> {
    let row = tx.query_one(
        "SELECT (SELECT version FROM feature_flags.documents WHERE name = 'flags'), \
                (SELECT version FROM feature_flags.documents WHERE name = 'rollouts'), \
                (SELECT database_id FROM feature_flags.schema_version)",
        &[],
    )?;
    Ok(Documents {
        flags: String::new(),
        flags_version: row.get(0),
        rollouts: None,
        rollouts_version: row.get(1),
        database_id: row.get(2),
    })
}

/// The owner's write of [`Database::put`]: documents, audit rows, notify.
fn write_update(
    tx: &mut Transaction<'_>,
    current: &Documents,
    update: &Update,
) -> Result<(), Failed<Error>> {
    let mut flags_version = current.flags_version;
    let mut changed = false;
    let mut documents = Vec::new();
    // Version 0 is "never imported" (and import/replace pass an empty
    // placeholder): the document is written even if it equals it.
    if let Some(flags) = &update.flags
        && (*flags != current.flags || current.flags_version == 0)
    {
        documents.push(("flags", flags));
        flags_version += 1;
    }
    if let Some(rollouts) = &update.rollouts
        && Some(rollouts) != current.rollouts.as_ref()
    {
        documents.push(("rollouts", rollouts));
    }
    for (name, body) in documents {
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(Failed::Other(Error::TooLarge {
                bytes: body.len() as u64,
            }));
        }
        tx.execute(
            "UPDATE feature_flags.documents SET body = $1, version = version + 1, \
             updated_at = now() WHERE name = $2",
            &[body, &name],
        )
        .map_err(Failed::Db)?;
        changed = true;
    }
    for entry in &update.audit {
        audit::append(tx, entry, Some(flags_version), false).map_err(Failed::Db)?;
    }
    if changed {
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&CHANNEL, &flags_version.to_string()],
        )
        .map_err(Failed::Db)?;
    }
    Ok(())
}
