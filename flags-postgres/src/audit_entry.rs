//! One audit row by its id, for `feature_flags --revert ENTRY`.

use crate::{AuditEntry, Database, Error};

impl Database {
    /// The audit entry with table id `id`, as `history` returns entries
    /// (with its `id`); `None` when there is no such row.
    pub fn audit_entry(&mut self, id: u64) -> Result<Option<AuditEntry>, Error> {
        let Ok(id) = i64::try_from(id) else {
            return Ok(None);
        };
        let rows = self
            .client
            .query(
                "SELECT (entry || jsonb_build_object('id', id))::text FROM feature_flags.audit WHERE id = $1",
                &[&id],
            )
            .map_err(|e| self.fail(e))?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let text: String = row.get(0);
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Query(format!("audit entry {id}: {e}")))
    }
}
