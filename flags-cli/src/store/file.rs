//! Where an edit writes, the lock that serializes edits, and the atomic
//! replacement of the file.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The real flag file behind the path given, and the files kept beside it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The file itself, symlinks resolved: a rename replaces the target
    /// of a symlink, never the link.
    pub file: PathBuf,
    pub lock: PathBuf,
    pub audit: PathBuf,
}

impl Target {
    /// Resolves `path`; a path that does not exist (yet) is taken as given.
    pub fn resolve(path: &Path) -> Target {
        let file = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        Target {
            lock: sibling(&file, ".lock"),
            audit: sibling(&file, ".audit.jsonl"),
            file,
        }
    }

    fn temp(&self) -> PathBuf {
        let name = self.file.file_name().unwrap_or_default();
        let mut temp = OsString::from(".");
        temp.push(name);
        temp.push(".tmp");
        self.file.with_file_name(temp)
    }

    fn folder(&self) -> &Path {
        match self.file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
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
    replace_file_like(target, contents, &target.file)
}

/// [`replace_file`], the new file taking the permissions and owner of
/// `like` (which may be the target itself, or, for a file that does not
/// exist yet, the flag file beside it).
pub fn replace_file_like(target: &Target, contents: &[u8], like: &Path) -> Result<(), String> {
    let context =
        |what: &str, path: &Path, e: io::Error| format!("cannot {what} {}: {e}", path.display());
    let original = fs::metadata(like).map_err(|e| context("read", like, e))?;
    let temp_path = target.temp();
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
    fs::rename(&path, &target.file).map_err(|e| context("replace", &target.file, e))?;
    temp.path = None;
    // The rename is durable only once the folder's entry is on disk.
    File::open(target.folder())
        .and_then(|dir| dir.sync_all())
        .map_err(|e| context("sync folder", target.folder(), e))
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
