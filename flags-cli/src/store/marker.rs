//! `FILE.sync.json`, written beside a mirrored flag file after each write
//! of it: which database the file comes from, at which version, and the
//! fingerprint of the bytes written (a different fingerprint later means a
//! hand change). The CLI's file store refuses edits while it exists.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// A marker is a few hundred bytes; anything larger is not ours.
const MAX_MARKER_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The masked URL (never a password).
    pub database: String,
    pub database_id: String,
    pub version: i64,
    /// 16 hex digits: xxh3-64 of the file's bytes, as flags-core computes it.
    pub fingerprint: String,
}

/// `FILE.sync.json` for `FILE`.
pub fn marker_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".sync.json");
    PathBuf::from(name)
}

/// The fingerprint of a file's bytes, as the marker records it.
pub fn fingerprint(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

impl Marker {
    /// The marker beside `file`: Ok(None) when there is none, Err when one
    /// exists but cannot be read as a marker.
    pub fn read(file: &Path) -> Result<Option<Marker>, String> {
        let path = marker_path(file);
        let mut text = String::new();
        match std::fs::File::open(&path) {
            Ok(f) => f
                .take(MAX_MARKER_BYTES)
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let bad = || format!("{} is not a sync marker", path.display());
        let value: Value = serde_json::from_str(&text).map_err(|_| bad())?;
        let text_field = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(Some(Marker {
            database: text_field("database").ok_or_else(bad)?,
            database_id: text_field("database_id").ok_or_else(bad)?,
            version: value
                .get("version")
                .and_then(Value::as_i64)
                .ok_or_else(bad)?,
            fingerprint: text_field("fingerprint").ok_or_else(bad)?,
        }))
    }

    pub fn to_json(&self) -> String {
        let mut text = json!({
            "database": self.database,
            "database_id": self.database_id,
            "version": self.version,
            "fingerprint": self.fingerprint,
        })
        .to_string();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_round_trips_and_junk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flags.json");
        assert_eq!(Marker::read(&file).unwrap(), None);
        let marker = Marker {
            database: "postgres://flags:***@db1/bot".into(),
            database_id: "id".into(),
            version: 12,
            fingerprint: fingerprint(b"{}"),
        };
        std::fs::write(marker_path(&file), marker.to_json()).unwrap();
        assert_eq!(Marker::read(&file).unwrap(), Some(marker));
        assert_eq!(
            marker_path(&file).file_name().unwrap(),
            "flags.json.sync.json"
        );
        std::fs::write(marker_path(&file), "{\"version\": \"x\"}").unwrap();
        assert!(Marker::read(&file).is_err());
        assert_eq!(fingerprint(b"").len(), 16);
    }
}
