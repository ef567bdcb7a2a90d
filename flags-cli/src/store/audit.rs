//! The audit trail: one JSON object per change, as a line of the audit log
//! beside the flag file (and as a row of the database's audit table).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use jiff::Timestamp;

use serde_json::{Map, Value, json};

use crate::change::Change;

/// The audit log, opened for appending before the flag file is replaced so a
/// log that cannot be written stops the edit instead of going missing.
pub struct AuditLog {
    file: File,
}

impl AuditLog {
    pub fn open(path: &Path) -> Result<AuditLog, String> {
        OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map(|file| AuditLog { file })
            .map_err(|e| format!("cannot open audit log {}: {e}", path.display()))
    }

    /// Appends `entries`, one line each, all in one write, and syncs.
    pub fn write(&mut self, entries: &[Map<String, Value>]) -> io::Result<()> {
        let mut lines = String::new();
        for entry in entries {
            lines.push_str(&Value::Object(entry.clone()).to_string());
            lines.push('\n');
        }
        self.file.write_all(lines.as_bytes())?;
        self.file.sync_all()
    }
}

/// One audit entry per change by `user` (an operator, or `guard`), each
/// stamped with the same time and also carrying the fields of `extra`
/// (why it was made).
pub fn entries(
    changes: &[Change],
    user: &str,
    extra: &Map<String, Value>,
) -> Vec<Map<String, Value>> {
    stamp(changes.iter().map(change_entry).collect(), user)
        .into_iter()
        .map(|mut entry| {
            for (key, value) in extra {
                entry.entry(key.clone()).or_insert_with(|| value.clone());
            }
            entry
        })
        .collect()
}

/// `entries` (group edits, deletions) stamped first with the time and
/// `user`.
pub fn stamp(entries: Vec<Map<String, Value>>, user: &str) -> Vec<Map<String, Value>> {
    let time = rfc3339_utc(SystemTime::now());
    entries
        .into_iter()
        .map(|entry| {
            let mut line = Map::new();
            line.insert("time".into(), json!(time));
            line.insert("user".into(), json!(user));
            line.extend(entry);
            line
        })
        .collect()
}

/// A flag's change as an audit entry (without time and operator).
pub fn change_entry(change: &Change) -> Map<String, Value> {
    let mut entry = Map::new();
    entry.insert("flag".into(), json!(change.flag));
    entry.insert("field".into(), json!(change.field));
    entry.insert("old".into(), change.old.clone());
    entry.insert("new".into(), change.new.clone());
    entry
}

/// Who made the change: the person behind sudo if any, else the login user,
/// else (no `$USER`: systemd services, containers, cron) the name of the
/// process's user id, or the id itself (`uid 1000`) when it has no name.
pub fn operator() -> String {
    ["SUDO_USER", "USER"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|name| !name.is_empty())
        .unwrap_or_else(process_user)
}

/// The process's user, from the owner of `/proc/self` (its effective uid;
/// no `unsafe` call to getuid outside flags-ffi) named by `/etc/passwd`.
/// Users that only a directory service (LDAP, sssd) knows stay a number.
fn process_user() -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return "unknown".into();
    };
    passwd_name(uid).unwrap_or_else(|| format!("uid {uid}"))
}

/// The name of `uid` in `/etc/passwd`, read up to 4 MiB.
fn passwd_name(uid: u32) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open("/etc/passwd")
        .ok()?
        .take(4 << 20)
        .read_to_string(&mut text)
        .ok()?;
    name_in_passwd(&text, uid)
}

/// `name:password:uid:...` lines; the first with `uid` and a name wins.
fn name_in_passwd(text: &str, uid: u32) -> Option<String> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (!name.is_empty() && id.parse() == Ok(uid)).then(|| name.to_owned())
    })
}

/// The audit log as read: its entries (each with its `id`: on a file its
/// 1-based line number, in the database its row id), and a note for each
/// line that is not a JSON object (reported with its line number, not
/// dropped silently).
#[derive(Debug, Default)]
pub struct History {
    pub entries: Vec<Map<String, Value>>,
    pub unreadable: Vec<String>,
}

/// Reads the log; a missing log is an empty history.
pub fn read(path: &Path) -> Result<History, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(History::default()),
        Err(e) => return Err(format!("cannot read audit log {}: {e}", path.display())),
    };
    let mut entries = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(mut entry)) => {
                // Its id (for --revert): the line number, stable in an
                // append-only log.
                entry.insert("id".into(), json!(i + 1));
                entries.push(entry);
            }
            _ => bad.push(format!(
                "{}:{}: not a JSON object; skipped",
                path.display(),
                i + 1
            )),
        }
    }
    Ok(History {
        entries,
        unreadable: bad,
    })
}

/// `time` as RFC 3339 in UTC with milliseconds (`2026-11-27T11:27:52.123Z`),
/// truncated like the sync's log stamps. A clock before 1970 reads as 1970,
/// one past jiff's range (the year 9999) as its end.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let at = Timestamp::try_from(time.max(UNIX_EPOCH)).unwrap_or(Timestamp::MAX);
    format!("{at:.3}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_uid_is_named_by_its_passwd_line() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      # a comment\n\
                      broken\n\
                      :x:5:5::/:/bin/sh\n\
                      bot:x:1000:1000:Bot,,,:/srv/bot:/usr/sbin/nologin\n\
                      again:x:1000:1000::/:/bin/sh\n";
        assert_eq!(name_in_passwd(passwd, 0).as_deref(), Some("root"));
        assert_eq!(name_in_passwd(passwd, 1000).as_deref(), Some("bot"));
        assert_eq!(name_in_passwd(passwd, 5), None, "an empty name is no name");
        assert_eq!(name_in_passwd(passwd, 42), None);
        assert_eq!(name_in_passwd("", 0), None);
    }

    /// The hand-rolled formatter jiff replaced (Howard Hinnant's
    /// `civil_from_days`): the output must stay the same bytes.
    fn reference(time: SystemTime) -> String {
        let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since_epoch.as_secs();
        let z = (secs / 86_400) as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        let rem = secs % 86_400;
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
            since_epoch.subsec_millis()
        )
    }

    proptest::proptest! {
        #[test]
        fn jiff_writes_the_same_bytes_as_the_hand_rolled_formatter(
            // 1970 to the end of 9998, to the nanosecond.
            secs in 0u64..253_370_764_800,
            nanos in 0u32..1_000_000_000,
        ) {
            let time = UNIX_EPOCH + Duration::new(secs, nanos);
            proptest::prop_assert_eq!(rfc3339_utc(time), reference(time));
        }
    }

    #[test]
    fn a_clock_before_1970_reads_as_1970() {
        let before = UNIX_EPOCH - Duration::from_secs(86_400);
        assert_eq!(rfc3339_utc(before), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_utc(before), reference(before));
    }

    #[test]
    fn formats_known_instants() {
        let at = |secs: u64, millis: u64| {
            rfc3339_utc(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_798_761_599, 999), "2026-12-31T23:59:59.999Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
    }
}
