//! One audit entry by its id, as `--history --json` shows it: on the
//! database the audit table's id, on a file the entry's 1-based line number
//! in FILE.audit.jsonl (the log is only appended to, so a number never
//! changes).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::{Map, Value};

use crate::Failure;
use crate::args::Cli;
use crate::store::database::DatabaseStore;
use crate::store::file::Target;
use crate::store::{self, Store};

/// A line of the audit log longer than this is not one of ours.
const MAX_ENTRY_BYTES: u64 = 64 << 20;

/// The audit entry `id` of the command line's store.
pub fn find(cli: &Cli, id: u64) -> Result<Map<String, Value>, Failure> {
    let missing = |place: String| {
        Failure::new(format!(
            "no audit entry {id} in {place}; --history --json shows the entries' ids"
        ))
    };
    if let Some(url) = &cli.fleet.database {
        store::refuse_file_with_database(cli)?;
        let mut store = DatabaseStore::new(url)?;
        let found = store.database()?.audit_entry(id);
        let found = found.map_err(|e| store.failure(e))?;
        return found.ok_or_else(|| missing(format!("the audit table of {}", store_name(&store))));
    }
    let target = Target::resolve(&cli.file);
    let place = target.audit.display().to_string();
    line_entry(&target.audit, id)?.ok_or_else(|| missing(place))
}

fn store_name(store: &DatabaseStore) -> String {
    store.flags_name().display().to_string()
}

/// Line `id` (1-based) of the audit log, as an entry.
fn line_entry(path: &Path, id: u64) -> Result<Option<Map<String, Value>>, Failure> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Failure::new(format!(
                "cannot read audit log {}: {e}",
                path.display()
            )));
        }
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    for n in 1..=id {
        line.clear();
        let read = (&mut reader)
            .take(MAX_ENTRY_BYTES)
            .read_until(b'\n', &mut line)
            .map_err(|e| Failure::new(format!("cannot read audit log {}: {e}", path.display())))?;
        if read == 0 {
            return Ok(None);
        }
        if read as u64 == MAX_ENTRY_BYTES && !line.ends_with(b"\n") {
            return Err(Failure::new(format!(
                "{}:{n}: a line over {MAX_ENTRY_BYTES} bytes is not an audit entry; cannot count the lines after it",
                path.display()
            )));
        }
        if n < id {
            continue;
        }
        return match serde_json::from_slice::<Value>(&line) {
            Ok(Value::Object(entry)) => Ok(Some(entry)),
            _ => Err(Failure::new(format!(
                "{}:{id}: not an audit entry (not a JSON object)",
                path.display()
            ))),
        };
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_found_by_its_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json.audit.jsonl");
        std::fs::write(&path, "{\"n\": 1}\nnot json\n{\"n\": 3}\n").unwrap();
        assert_eq!(line_entry(&path, 1).unwrap().unwrap()["n"], 1);
        assert_eq!(line_entry(&path, 3).unwrap().unwrap()["n"], 3);
        assert!(line_entry(&path, 2).is_err());
        assert!(line_entry(&path, 4).unwrap().is_none());
        assert!(line_entry(&path, 0).unwrap().is_none());
        assert!(line_entry(&dir.path().join("none"), 1).unwrap().is_none());
    }
}
