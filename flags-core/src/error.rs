//! Errors a person can act on without reading the code.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with a flag file, located by its JSON path
/// (`flags.new_gpt_model.rollout_percentage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where in the file; empty for the file as a whole (unreadable JSON).
    pub path: String,
    /// What is wrong, including a suggestion where one helps.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a rejected flag file, one per line when displayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Why a flag file could not be loaded or reloaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read (missing, no permission, not UTF-8 …).
    #[error("cannot read flag file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid flag file; every problem listed.
    #[error("invalid flag file:\n{0}")]
    Invalid(#[from] Problems),
    /// `reload()` on a store made from a string, which has no file.
    #[error("this flag store was not opened from a file, so there is nothing to reload")]
    NoFile,
    /// The file watcher could not be set up.
    #[error("cannot watch flag file {}: {message}", path.display())]
    Watch { path: PathBuf, message: String },
}

impl Error {
    /// The problems of an invalid file, if that is what this is.
    pub fn problems(&self) -> Option<&Problems> {
        match self {
            Error::Invalid(p) => Some(p),
            _ => None,
        }
    }
}
