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

/// How many problems a report lists; the rest are counted. A file with a
/// million bad entries must not cost a million messages (docs/bots.md, "The
/// budget for a bad file").
pub const MAX_LISTED_PROBLEMS: usize = 100;

/// The problems of a rejected flag file: the first
/// [`MAX_LISTED_PROBLEMS`] in full, one per line when displayed, then
/// `... and N more problems` for the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems {
    listed: Vec<Problem>,
    unlisted: usize,
}

impl Problems {
    /// The report of `found` problems in all, of which `listed` are the
    /// first (at most [`MAX_LISTED_PROBLEMS`] are kept).
    pub fn new(mut listed: Vec<Problem>, found: usize) -> Problems {
        listed.truncate(MAX_LISTED_PROBLEMS);
        let unlisted = found.saturating_sub(listed.len());
        Problems { listed, unlisted }
    }

    /// One problem with the file as a whole (unreadable, not JSON).
    pub fn whole_file(message: impl Into<String>) -> Problems {
        Problems::new(
            vec![Problem {
                path: String::new(),
                message: message.into(),
            }],
            1,
        )
    }

    /// The listed problems, in the order they were found.
    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.listed.iter()
    }

    /// The listed problems.
    pub fn listed(&self) -> &[Problem] {
        &self.listed
    }

    /// How many more problems were found than are listed.
    pub fn unlisted(&self) -> usize {
        self.unlisted
    }

    /// How many problems were found, listed or not.
    pub fn len(&self) -> usize {
        self.listed.len() + self.unlisted
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The line that stands for the unlisted problems, if there are any.
    pub fn unlisted_line(&self) -> Option<String> {
        match self.unlisted {
            0 => None,
            1 => Some("... and 1 more problem".to_owned()),
            n => Some(format!("... and {n} more problems")),
        }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.listed.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        if let Some(line) = self.unlisted_line() {
            write!(f, "\n{line}")?;
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
