//! `feature_flags`: inspect and safely edit a flag file that running bots
//! read. See `feature_flags --help` and docs/spec.md "The CLI".

use std::io::Write;
use std::process::ExitCode;

use clap::error::ErrorKind;

use flags_cli::args::Cli;
use flags_cli::commands;

fn main() -> ExitCode {
    let cli = match Cli::parse_from_env() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    let mut stdout = std::io::stdout().lock();
    let result = commands::run(&cli, &mut |text: &str| {
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            let mut stderr = std::io::stderr().lock();
            for line in &failure.lines {
                // Messages quote data (names, server text): inert.
                let _ = writeln!(stderr, "error: {}", flags_cli::read::inert::inert(line));
            }
            ExitCode::from(failure.code)
        }
    }
}

/// Help and version go to stdout as usual; a usage error becomes one line on
/// stderr (clap's first line, plus its tip if it has one) and exit status 2.
fn clap_exit(e: &clap::Error) -> ExitCode {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let rendered = e.render().to_string();
    // The first paragraph is the message (some span lines, such as the list
    // of missing arguments); later paragraphs are usage and tips.
    let paragraph: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let mut message = paragraph.join(" ");
    if message.is_empty() {
        message = "error: invalid arguments".into();
    }
    if let Some(tip) = rendered
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("tip:"))
    {
        message = format!("{message} ({tip})");
    }
    if !message.starts_with("error:") {
        message = format!("error: {message}");
    }
    let _ = writeln!(std::io::stderr(), "{message}");
    ExitCode::from(2)
}
