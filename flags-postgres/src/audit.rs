//! Audit rows: written through `feature_flags.append_audit` (which a
//! trigger stamps with the writing role and the server's time), read back
//! as the entry the client declared with the database's stamps over it.

use crate::client::Transaction;
use serde_json::{Map, Value, json};

use crate::rights::Action;
use crate::{Database, Error};

/// One audit line as the file audit log writes it (time, user, host, flag,
/// field, old, new; the guard's action, reason, trigger, value, threshold,
/// samples). Stored whole (jsonb `entry`) and in columns.
pub type AuditEntry = serde_json::Map<String, serde_json::Value>;

/// One row, `version` the flag document's version after the change;
/// `imported` rows come from a file's audit log.
pub(crate) fn append(
    tx: &mut Transaction<'_>,
    entry: &AuditEntry,
    version: Option<i64>,
    imported: bool,
) -> Result<(), postgres::Error> {
    let whole = Value::Object(entry.clone()).to_string();
    tx.execute(
        "SELECT feature_flags.append_audit($1::text::jsonb, $2, $3)",
        &[&whole, &version, &imported],
    )?;
    Ok(())
}

/// The entries as one JSON array, for `feature_flags.write_documents`.
pub(crate) fn entries_json(entries: &[AuditEntry]) -> String {
    Value::Array(entries.iter().cloned().map(Value::Object).collect()).to_string()
}

impl Database {
    /// Audit entries, oldest first, optionally one flag's; the `limit`
    /// newest. Each is the entry as its client declared it (`user`,
    /// `host`, …) with the database's own fields over it: `id`; for a row
    /// written since schema version 2, `role` (the writing connection's
    /// `session_user`), `time` (the server's; the client's own is kept as
    /// `declared_time`) and `version` (the flag document's after the
    /// change); for a row brought in by `--import`, `imported` (`role` and
    /// `time` of the import) and the file's own `time`.
    pub fn history(&mut self, flag: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.client.query(
            "SELECT id, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
                    role::text, version, imported, entry::text \
             FROM (SELECT * FROM feature_flags.audit \
                   WHERE $1::text IS NULL OR flag = $1 ORDER BY id DESC LIMIT $2) t ORDER BY id",
            &[&flag, &limit],
        );
        let rows = rows.map_err(|e| self.fail_as(e, Action::History))?;
        rows.iter()
            .map(|row| {
                let text: String = row.get(5);
                let declared: Map<String, Value> = serde_json::from_str(&text)
                    .map_err(|e| Error::Query(format!("audit entry: {e}")))?;
                Ok(stamped(
                    declared,
                    Stamp {
                        id: row.get(0),
                        time: row.get(1),
                        role: row.get(2),
                        version: row.get(3),
                        imported: row.get(4),
                    },
                ))
            })
            .collect()
    }
}

/// What the database itself recorded about a row.
struct Stamp {
    id: i64,
    time: String,
    /// None: written before schema version 2 (its time is the client's).
    role: Option<String>,
    version: Option<i64>,
    imported: bool,
}

fn stamped(mut entry: AuditEntry, stamp: Stamp) -> AuditEntry {
    entry.insert("id".into(), json!(stamp.id));
    // Only the database names a role or a version: one an entry claims
    // is dropped from what is shown (the row keeps it).
    entry.remove("role");
    entry.remove("version");
    let Some(role) = stamp.role else {
        return entry;
    };
    if stamp.imported {
        entry.insert(
            "imported".into(),
            json!({ "role": role, "time": stamp.time }),
        );
        return entry;
    }
    if let Some(declared) = entry.remove("time") {
        entry.insert("declared_time".into(), declared);
    }
    entry.insert("time".into(), json!(stamp.time));
    entry.insert("role".into(), json!(role));
    if let Some(v) = stamp.version {
        entry.insert("version".into(), json!(v));
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(v: Value) -> AuditEntry {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_database_stamps_override_what_the_client_declared() {
        let declared = entry(json!({"time": "2020-01-01T00:00:00Z", "user": "guard",
            "role": "postgres", "id": 1, "version": 99, "flag": "a"}));
        let stamp = |role: Option<&str>, imported| Stamp {
            id: 7,
            time: "2026-12-07T08:00:00.000Z".into(),
            role: role.map(str::to_owned),
            version: Some(3),
            imported,
        };
        let cases = [
            (
                stamp(Some("bot_a"), false),
                json!({"id": 7, "time": "2026-12-07T08:00:00.000Z",
                       "declared_time": "2020-01-01T00:00:00Z", "user": "guard",
                       "role": "bot_a", "version": 3, "flag": "a"}),
            ),
            (
                stamp(Some("owner"), true),
                json!({"id": 7, "time": "2020-01-01T00:00:00Z", "user": "guard", "flag": "a",
                       "imported": {"role": "owner", "time": "2026-12-07T08:00:00.000Z"}}),
            ),
            // Before schema version 2 the row is what the client wrote.
            (
                stamp(None, false),
                json!({"id": 7, "time": "2020-01-01T00:00:00Z", "user": "guard", "flag": "a"}),
            ),
        ];
        for (stamp, want) in cases {
            assert_eq!(Value::Object(stamped(declared.clone(), stamp)), want);
        }
    }
}
