//! The flag file as a [`Store`]: where an edit writes, the lock that
//! serializes edits, and the atomic replacement of each file.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use flags_rollout::file::MAX_FILE_BYTES;

use super::audit::{self, AuditLog};
use super::{Change, Documents, Store};
use crate::Failure;

/// The real flag file behind the path given, and the files kept beside it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The file itself, symlinks resolved: a rename replaces the target
    /// of a symlink, never the link.
    pub file: PathBuf,
    pub lock: PathBuf,
    pub audit: PathBuf,
    /// `FILE.rollouts.json`: plans and their state.
    pub rollouts: PathBuf,
    /// `FILE.sync.json`: present when a sync mirrors the file from a
    /// database (`feature_flags --sync`).
    pub sync_marker: PathBuf,
}

impl Target {
    /// Resolves `path`; a path that does not exist (yet) is taken as given.
    pub fn resolve(path: &Path) -> Target {
        let file = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        Target {
            lock: sibling(&file, ".lock"),
            audit: sibling(&file, ".audit.jsonl"),
            rollouts: sibling(&file, ".rollouts.json"),
            sync_marker: sibling(&file, ".sync.json"),
            file,
        }
    }
}

fn temp_beside(file: &Path) -> PathBuf {
    let name = file.file_name().unwrap_or_default();
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(".tmp");
    file.with_file_name(temp)
}

fn folder_of(file: &Path) -> &Path {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn sibling(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// An exclusive lock on the target's lock file, held until dropped.
///
/// The lock is on a separate file that is never deleted or renamed, so every
/// editor locks the same inode; locking the flag file itself would lock the
/// inode that the rename throws away.
pub struct EditLock {
    _file: File,
}

impl EditLock {
    /// Waits for the lock; `on_wait` runs once if another edit holds it.
    pub fn acquire(target: &Target, on_wait: impl FnOnce()) -> Result<EditLock, String> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&target.lock)
            .map_err(|e| {
                let hint = match e.kind() {
                    io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied => {
                        " (a read-only folder, such as a ConfigMap mount, is edited at its source)"
                    }
                    _ => "",
                };
                format!(
                    "cannot create lock file {}: {e}{hint}",
                    target.lock.display()
                )
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                on_wait();
                file.lock()
                    .map_err(|e| format!("cannot lock {}: {e}", target.lock.display()))?;
            }
            Err(TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", target.lock.display()));
            }
        }
        Ok(EditLock { _file: file })
    }
}

/// Replaces the target file with `contents` atomically: a reader sees the
/// old file or the new one, never a mix, and a crash leaves one of the two.
/// The new file keeps the old one's permissions (and owner, where allowed).
pub fn replace_file(target: &Target, contents: &[u8]) -> Result<(), String> {
    replace_file_like(&target.file, contents, &target.file)
}

/// [`replace_file`] of `file`, the new file taking the permissions and
/// owner of `like` (which may be the file itself, or, for a file that does
/// not exist yet, the flag file beside it). Call it only under the lock:
/// the temporary file's name is fixed.
pub fn replace_file_like(file: &Path, contents: &[u8], like: &Path) -> Result<(), String> {
    let context =
        |what: &str, path: &Path, e: io::Error| format!("cannot {what} {}: {e}", path.display());
    let original = fs::metadata(like).map_err(|e| context("read", like, e))?;
    let temp_path = temp_beside(file);
    // A temp file left by a killed edit is ours to replace: we hold the lock.
    match fs::remove_file(&temp_path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(context("remove stale temporary file", &temp_path, e)),
    }
    let mut temp = TempFile {
        file: OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(original.mode() & 0o7777)
            .open(&temp_path)
            .map_err(|e| context("create temporary file", &temp_path, e))?,
        path: Some(temp_path),
    };
    let path = temp.path.clone().unwrap_or_default();
    temp.file
        .set_permissions(original.permissions())
        .map_err(|e| context("set permissions of", &path, e))?;
    // Only root may give a file away; anyone else keeps their own ownership.
    let _ = std::os::unix::fs::fchown(&temp.file, Some(original.uid()), Some(original.gid()));
    temp.file
        .write_all(contents)
        .and_then(|()| temp.file.sync_all())
        .map_err(|e| context("write", &path, e))?;
    fs::rename(&path, file).map_err(|e| context("replace", file, e))?;
    temp.path = None;
    // The rename is durable only once the folder's entry is on disk.
    File::open(folder_of(file))
        .and_then(|dir| dir.sync_all())
        .map_err(|e| context("sync folder", folder_of(file), e))
}

/// A temporary file that removes itself unless it was renamed into place.
struct TempFile {
    file: File,
    path: Option<PathBuf>,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = fs::remove_file(path);
        }
    }
}

/// The flag file, its rollouts file and its audit log, serialized by the
/// lock on `FILE.lock`.
pub struct FileStore {
    /// The path as given, for messages.
    given: PathBuf,
    target: Target,
}

impl FileStore {
    pub fn new(path: &Path) -> FileStore {
        FileStore {
            given: path.to_owned(),
            target: Target::resolve(path),
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    fn cannot_read(&self, why: impl std::fmt::Display) -> Failure {
        Failure::new(format!(
            "cannot read flag file {}: {why}",
            self.given.display()
        ))
    }

    /// A missing or unreadable path fails before a lock file is left
    /// beside it.
    fn check_regular(&self) -> Result<(), Failure> {
        let metadata = fs::metadata(&self.target.file).map_err(|e| self.cannot_read(e))?;
        if metadata.is_file() {
            Ok(())
        } else {
            Err(self.cannot_read("not a regular file"))
        }
    }

    /// A file a sync mirrors from the database is edited there: a hand
    /// edit here would be overwritten by the next sync.
    fn refuse_mirrored(&self) -> Result<(), Failure> {
        let Ok(text) = fs::read_to_string(&self.target.sync_marker) else {
            return Ok(());
        };
        let database = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("database")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| "its database".into());
        Err(Failure::new(format!(
            "{} is mirrored from the database {database} by `feature_flags --sync` \
             (marker {}); edit the database instead: feature_flags --database URL …",
            self.given.display(),
            self.target.sync_marker.display()
        )))
    }

    fn read_flags(&self) -> Result<String, Failure> {
        fs::read_to_string(&self.target.file).map_err(|e| self.cannot_read(e))
    }

    /// The rollouts file's text; a missing file is none. A file over
    /// [`MAX_FILE_BYTES`] is refused without reading it all.
    fn read_rollouts(&self) -> Result<Option<String>, Failure> {
        use std::io::Read;
        let path = &self.target.rollouts;
        let cannot = |e: io::Error| {
            Failure::new(format!("cannot read rollouts file {}: {e}", path.display()))
        };
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(cannot(e)),
        };
        let mut text = String::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(cannot)?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(Failure::new(format!(
                "cannot read rollouts file {}: larger than {MAX_FILE_BYTES} bytes",
                path.display()
            )));
        }
        Ok(Some(text))
    }
}

impl Store for FileStore {
    fn flags_name(&self) -> &Path {
        &self.given
    }

    fn rollouts_name(&self) -> &Path {
        &self.target.rollouts
    }

    fn audit_name(&self) -> String {
        self.target.audit.display().to_string()
    }

    fn read(&mut self) -> Result<Documents, Failure> {
        Ok(Documents {
            flags: self.read_flags()?,
            rollouts: self.read_rollouts()?,
        })
    }

    fn update(&mut self, change: &mut Change<'_>) -> Result<(), Failure> {
        self.check_regular()?;
        self.refuse_mirrored()?;
        let target = &self.target;
        let _lock = EditLock::acquire(target, || {
            eprintln!(
                "note: waiting for another edit to finish (lock {})",
                target.lock.display()
            );
        })
        .map_err(Failure::new)?;
        // Read only under the lock: an edit that finished while we waited
        // is part of what we edit, never overwritten by a stale copy.
        let before = Documents {
            flags: self.read_flags()?,
            rollouts: self.read_rollouts()?,
        };
        let Some(commit) = change(&before)? else {
            return Ok(());
        };
        let flags = commit.flags.filter(|text| *text != before.flags);
        let rollouts = commit
            .rollouts
            .filter(|text| before.rollouts.as_ref() != Some(text));
        if flags.is_none() && rollouts.is_none() && commit.audit.is_empty() {
            return Ok(());
        }
        // Opened first: a log that cannot be written stops the edit
        // instead of going missing.
        let mut log = if commit.audit.is_empty() {
            None
        } else {
            Some(AuditLog::open(&target.audit).map_err(Failure::new)?)
        };
        // The flag file first: what the bots read (a rollback lands before
        // anything else); a crash between the two leaves the plan's record
        // one step behind its flag, which the next command sees.
        if let Some(text) = &flags {
            replace_file(target, text.as_bytes()).map_err(Failure::new)?;
        }
        if let Some(text) = &rollouts {
            let like = if before.rollouts.is_some() {
                &target.rollouts
            } else {
                &target.file
            };
            replace_file_like(&target.rollouts, text.as_bytes(), like).map_err(Failure::new)?;
        }
        if let Some(log) = &mut log {
            log.write(&commit.audit).map_err(|e| {
                let what = if flags.is_some() && rollouts.is_some() {
                    "the files were changed"
                } else {
                    "the file was changed"
                };
                Failure::new(format!(
                    "{what}, but the audit log {} could not be written: {e}",
                    target.audit.display()
                ))
            })?;
        }
        Ok(())
    }

    fn history(&mut self) -> Result<audit::History, Failure> {
        audit::read(&self.target.audit).map_err(Failure::new)
    }

    fn cannot_write(&mut self) -> Option<String> {
        let readonly: Vec<String> = [&self.target.file, &self.target.rollouts]
            .into_iter()
            .filter(|p| fs::metadata(p).is_ok_and(|m| m.permissions().readonly()))
            .map(|p| format!("{} is read-only: the guard cannot act", p.display()))
            .collect();
        (!readonly.is_empty()).then(|| readonly.join("; "))
    }
}
