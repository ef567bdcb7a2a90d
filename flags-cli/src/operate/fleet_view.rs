//! `--fleet`: the database's document version and every sync that reports
//! to it, from the heartbeat each sync records after every poll
//! ([`heartbeat`]): its server, file, version, last success, and how far
//! behind it is (versions, and the age of its last success). A sync whose
//! last success is older than `--stale-after` (default: the default poll
//! interval plus 5 s) is marked stale: stopped, or cut off from the
//! database.

use std::path::Path;
use std::time::Duration;

use flags_postgres::{Database, SyncRow};
use serde_json::{Value, json};

use crate::Failure;
use crate::args::Cli;
use crate::store::database::DatabaseStore;
use crate::store::{Store, audit::rfc3339_utc};

type Out<'a> = dyn FnMut(&str) + 'a;

/// The default `--stale-after`: the default poll interval, plus a margin
/// for a slow query.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(10);

/// Records a sync's state in the database after a poll: the file's
/// version, and the failure it is in, if any (`None`: the file is
/// current). Needs no right beyond the reader's: the database's function
/// writes only the caller's own row.
pub fn heartbeat(
    db: &mut Database,
    file: &Path,
    version: Option<i64>,
    failure: Option<&str>,
) -> Result<(), String> {
    let host = host_name();
    let file = file.display().to_string();
    db.sync_heartbeat(&host, &file, version, failure)
        .map_err(|e| {
            format!(
                "the fleet's heartbeat was not recorded ({e}); --fleet will not show this server"
            )
        })
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// How one sync stands.
struct Row {
    sync: SyncRow,
    behind: i64,
    age: Option<Duration>,
    stale: bool,
}

pub fn run(cli: &Cli, url: &str, out: &mut Out<'_>) -> Result<u8, Failure> {
    crate::store::refuse_file_with_database(cli)?;
    let stale_after = cli.operate.stale_after.unwrap_or(DEFAULT_STALE_AFTER);
    let mut store = DatabaseStore::new(url)?;
    let name = store.flags_name().display().to_string();
    let version = store.database()?.read().map(|d| d.flags_version);
    let version = version.map_err(|e| store.failure(e))?;
    let syncs = store.database()?.syncs();
    let syncs = syncs.map_err(|e| store.failure(e))?;
    let rows: Vec<Row> = syncs
        .into_iter()
        .map(|sync| {
            // The database's clock: no skew between this machine and the syncs'.
            let age = sync.since_success;
            Row {
                behind: (version - sync.version.unwrap_or(0)).max(0),
                stale: age.is_none_or(|a| a > stale_after),
                age,
                sync,
            }
        })
        .collect();
    let stale = rows.iter().filter(|r| r.stale).count();
    if cli.json {
        let syncs: Vec<Value> = rows.iter().map(row_json).collect();
        let value = json!({
            "database": name,
            "version": version,
            "stale_after_seconds": stale_after.as_secs_f64(),
            "syncs": syncs,
        });
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        ));
    } else {
        out(&text(&name, version, &rows, stale_after));
    }
    Ok(u8::from(stale > 0))
}

fn row_json(r: &Row) -> Value {
    json!({
        "role": r.sync.role,
        "host": r.sync.host,
        "file": r.sync.file,
        "version": r.sync.version,
        "database_id": r.sync.database_id,
        "behind": r.behind,
        "last_success": r.sync.last_success.map(rfc3339_utc),
        "age_seconds": r.age.map(|a| a.as_secs_f64()),
        "stale": r.stale,
        "last_error": r.sync.last_error,
    })
}

fn text(name: &str, version: i64, rows: &[Row], stale_after: Duration) -> String {
    let mut out = format!("{name}: flag document version {version}\n");
    if rows.is_empty() {
        out.push_str(
            "no sync has reported to this database (each --sync reports after every poll)\n",
        );
        return out;
    }
    let mut table = vec![
        [
            "HOST",
            "FILE",
            "VERSION",
            "BEHIND",
            "LAST SUCCESS",
            "AGE",
            "STATE",
            "ROLE",
            "LAST ERROR",
        ]
        .map(String::from),
    ];
    for r in rows {
        let state = match (r.stale, r.behind) {
            (true, _) => "STALE",
            (false, 0) => "ok",
            (false, _) => "behind",
        };
        table.push([
            escape(&r.sync.host),
            escape(&r.sync.file),
            r.sync.version.map_or_else(|| "-".into(), |v| v.to_string()),
            r.behind.to_string(),
            r.sync
                .last_success
                .map_or_else(|| "never".into(), rfc3339_utc),
            r.age.map_or_else(|| "-".into(), age_text),
            state.into(),
            escape(&r.sync.role),
            r.sync
                .last_error
                .as_deref()
                .map_or_else(|| "-".into(), escape),
        ]);
    }
    let widths: Vec<usize> = (0..9)
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &table {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    let stale = rows.iter().filter(|r| r.stale).count();
    if stale > 0 {
        out.push_str(&format!(
            "{stale} stale: no success for over {} (systemctl status feature-flags-sync on that host, and its journal)\n",
            age_text(stale_after)
        ));
    }
    out
}

fn age_text(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Text from the database is printed inert: control characters escaped.
fn escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_people_say_them() {
        let table = [
            (0, "0s"),
            (59, "59s"),
            (61, "1m 1s"),
            (3700, "1h 1m"),
            (90_000, "1d 1h"),
        ];
        for (secs, text) in table {
            assert_eq!(age_text(Duration::from_secs(secs)), text);
        }
        assert_eq!(escape("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
    }
}
