//! The other side of `--diff OTHER` and `--promote … --from OTHER`: a
//! connection string or a flag file, opened as a [`Store`] and only read.

use std::path::Path;

use flags_core::{FlagFile, parse_flag_file};
use flags_postgres::DatabaseUrl;
use flags_rollout::RolloutsFile;

use crate::Failure;
use crate::report::invalid_line;
use crate::store::database::DatabaseStore;
use crate::store::file::FileStore;
use crate::store::{Store, parse_rollouts};

/// Whether `text` names a database rather than a file: a `postgres://` or
/// `postgresql://` URL, or `key=value` text that is not an existing file.
pub fn is_connection_string(text: &str) -> bool {
    text.starts_with("postgres://")
        || text.starts_with("postgresql://")
        || (text.contains('=') && !Path::new(text).exists())
}

/// Opens OTHER (`what`: the option that named it, for messages). Nothing
/// is connected or read yet.
pub fn open(what: &str, text: &str) -> Result<Box<dyn Store>, Failure> {
    if is_connection_string(text) {
        // The parser's messages never quote a password.
        DatabaseUrl::parse(text).map_err(|e| Failure::usage(format!("{what}: {e}")))?;
        Ok(Box::new(DatabaseStore::new(text)?))
    } else {
        Ok(Box::new(FileStore::new(Path::new(text))))
    }
}

/// One side's documents, validated as an edit would validate them.
pub struct Side {
    pub name: String,
    pub flags: FlagFile,
    pub plans: RolloutsFile,
}

/// Reads and validates both documents of `store`.
pub fn read(store: &mut dyn Store) -> Result<Side, Failure> {
    let docs = store.read()?;
    let flags = parse_flag_file(&docs.flags)
        .map_err(|problems| Failure::new(invalid_line(store.flags_name(), &problems)))?;
    let plans = parse_rollouts(store.rollouts_name(), docs.rollouts.as_deref())?;
    Ok(Side {
        name: store.flags_name().display().to_string(),
        flags,
        plans,
    })
}

/// A database's own name (`bot` of `postgres://…/bot`) from its masked
/// form, which never holds a password: the default environment label.
pub fn database_name(url: &DatabaseUrl) -> String {
    let masked = url.masked();
    let after_hosts = masked
        .strip_prefix("postgres://")
        .and_then(|rest| rest.split_once('@'))
        .map_or("", |(_, rest)| rest);
    let path = after_hosts.split_once('?').map_or(after_hosts, |(p, _)| p);
    let name = path.rsplit_once('/').map_or("", |(_, name)| name);
    percent_decode(name)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_and_files_are_told_apart() {
        let table = [
            ("postgres://flags@db1/bot", true),
            ("postgresql://db1/bot", true),
            ("host=db1 dbname=bot", true),
            ("config/feature_flags.json", false),
            ("staging.json", false),
        ];
        for (text, is_db) in table {
            assert_eq!(is_connection_string(text), is_db, "{text}");
        }
    }

    #[test]
    fn the_database_name_is_read_from_the_masked_url() {
        let table = [
            ("postgres://flags:secret@db1,db2/bot?sslmode=require", "bot"),
            ("host=db1 dbname=staging user=flags password=x", "staging"),
            ("postgres://flags@db1/my%20db", "my db"),
        ];
        for (text, name) in table {
            let url = DatabaseUrl::parse(text).unwrap();
            assert_eq!(database_name(&url), name, "{text}");
        }
    }
}
