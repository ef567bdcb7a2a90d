//! How problems with a flag file are told to the operator.

use std::path::Path;

use flags_core::Problems;

/// `--check`'s lines for an invalid file: one per listed problem, naming
/// the file (like a compiler), then the count of the rest, if any.
pub fn problem_lines(path: &Path, problems: &Problems) -> Vec<String> {
    problems
        .iter()
        .map(|p| format!("{}: {p}", path.display()))
        .chain(problems.unlisted_line())
        .collect()
}

/// One line for an edit or a read that met an invalid file; `--check` lists
/// every problem.
pub fn invalid_line(path: &Path, problems: &Problems) -> String {
    let first = problems
        .iter()
        .next()
        .map(ToString::to_string)
        .unwrap_or_default();
    match problems.len() {
        0 | 1 => format!("{} is not a valid flag file: {first}", path.display()),
        n => format!(
            "{} is not a valid flag file: {first} (and {} more; --check lists them)",
            path.display(),
            n - 1
        ),
    }
}
