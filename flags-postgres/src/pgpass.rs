//! The password file (`~/.pgpass`, `passfile`, `$PGPASSFILE`) as libpq
//! reads it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A password file larger than this is not read (it is a few lines).
const MAX_PASSFILE_BYTES: u64 = 1 << 20;

/// The password file's text, or None when it is missing, unreadable or
/// open to the group or others. Such a file is ignored with libpq's warning
/// on stderr (once per file and process: a sync retries every few seconds).
pub(crate) fn read_passfile(path: &Path) -> Option<String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            warn_once(path);
            return None;
        }
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_PASSFILE_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

#[cfg(unix)]
fn warn_once(path: &Path) {
    static WARNED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
    if !warned.iter().any(|p| p == path) {
        warned.push(path.to_owned());
        eprintln!("{}", loose_permissions_warning(path));
    }
}

/// libpq's words for a password file that others can read.
pub(crate) fn loose_permissions_warning(path: &Path) -> String {
    format!(
        "WARNING: password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
        path.display()
    )
}

/// libpq's `.pgpass` rules: `host:port:database:user:password` lines, the
/// first match wins, `*` matches anything in the first four fields, `\`
/// escapes `:` and `\`, `#` starts a comment line.
pub fn pgpass_lookup(
    text: &str,
    host: &str,
    port: &str,
    dbname: &str,
    user: &str,
) -> Option<String> {
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split_escaped(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = |(field, literal): &(String, bool), want: &str| {
            (field == "*" && !literal) || field == want
        };
        if matches(&fields[0], host)
            && matches(&fields[1], port)
            && matches(&fields[2], dbname)
            && matches(&fields[3], user)
        {
            return Some(fields[4].0.clone());
        }
    }
    None
}

/// Splits at unescaped `:`; each field with whether its `*` was escaped.
fn split_escaped(line: &str) -> Vec<(String, bool)> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut escaped_star = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => {
                    if n == '*' {
                        escaped_star = true;
                    }
                    field.push(n);
                }
                None => field.push('\\'),
            },
            ':' => fields.push((
                std::mem::take(&mut field),
                std::mem::take(&mut escaped_star),
            )),
            _ => field.push(c),
        }
    }
    fields.push((field, escaped_star));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_follows_libpq() {
        let text = "# comment\n\
                    other:*:*:*:wrong\n\
                    db1:5432:bot:flags:first\n\
                    db1:5432:bot:flags:second\n\
                    *:5433:*:flags:any\\:host\n\
                    db\\:x:*:*:*:escaped\n\
                    \\*:*:*:*:literal-star\n\
                    *:*:*:*:last\\\\";
        let t = |h, p, d, u| pgpass_lookup(text, h, p, d, u);
        assert_eq!(t("db1", "5432", "bot", "flags").as_deref(), Some("first"));
        assert_eq!(t("db2", "5433", "x", "flags").as_deref(), Some("any:host"));
        assert_eq!(t("db:x", "1", "y", "z").as_deref(), Some("escaped"));
        assert_eq!(t("*", "1", "y", "z").as_deref(), Some("literal-star"));
        assert_eq!(t("db2", "5432", "bot", "flags").as_deref(), Some("last\\"));
        assert_eq!(pgpass_lookup("a:b:c\n", "a", "b", "c", "d"), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "*:*:*:*:pw\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_passfile(&file).as_deref(), Some("*:*:*:*:pw\n"));
        for mode in [0o640, 0o604, 0o660] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(read_passfile(&file), None, "mode {mode:o}");
        }
        assert!(loose_permissions_warning(&file).starts_with("WARNING: password file \""));
    }

    fn escape(field: &str) -> String {
        // A bare `*` field is the wildcard: a literal star is escaped.
        field
            .replace('\\', "\\\\")
            .replace(':', "\\:")
            .replace('*', "\\*")
    }

    proptest::proptest! {
        /// A .pgpass line with escaped fields matches exactly its values.
        #[test]
        fn pgpass_escapes_round_trip(
            host in "[a-z:\\\\*]{1,6}", db in "[a-z:\\\\]{1,6}", pw in "[a-z:\\\\]{1,8}",
        ) {
            let line = format!("{}:5432:{}:u:{}", escape(&host), escape(&db), escape(&pw));
            proptest::prop_assert_eq!(pgpass_lookup(&line, &host, "5432", &db, "u"), Some(pw));
            let other = format!("{host}x");
            proptest::prop_assert_eq!(pgpass_lookup(&line, &other, "5432", &db, "u"), None);
        }
    }
}
