//! Running the binary in a temporary folder, and checking what it left.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// The flag file the spec shows (a copy of `examples/feature_flags.json`
/// at the time of writing, kept here so that tests do not depend on later
/// changes to the example).
pub const EXAMPLE: &str = r#"{
  "version": 1,
  "groups": {
    "beta_testers": [111111111, 222222222]
  },
  "flags": {
    "new_gpt_model": {
      "description": "Answer with the new GPT model",
      "enabled": true,
      "rollout_percentage": 10,
      "user_groups": ["beta_testers"],
      "chat_types": ["private"]
    },
    "enhanced_video_download": {
      "enabled": true,
      "rollout_percentage": 25,
      "exclude_chats": ["-1001234567890"],
      "bucket_by": "chat"
    },
    "voice_replies": {
      "description": "Reply to voice messages with voice",
      "enabled": false,
      "rollout_percentage": 0
    }
  }
}
"#;

pub const FILE_NAME: &str = "feature_flags.json";

/// The binary, with an environment that does not leak from the caller.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_feature_flags"));
    cmd.env_remove("FEATURE_FLAGS_FILE")
        .env_remove("SUDO_USER")
        .env_remove("FEATURE_FLAGS_DATABASE_URL")
        .env_remove("PGPASSWORD")
        .env("USER", "tester")
        // A panic would print a backtrace; the tests check that none does.
        .env("RUST_BACKTRACE", "1");
    cmd
}

/// A temporary folder holding one flag file.
pub struct Env {
    pub dir: TempDir,
    pub file: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        Env::with(EXAMPLE)
    }

    pub fn with(text: &str) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join(FILE_NAME);
        fs::write(&file, text).expect("write flag file");
        Env { dir, file }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `feature_flags --file FILE args...`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_on(&self.file, args)
    }

    pub fn run_on(&self, file: &Path, args: &[&str]) -> Run {
        let output = bin()
            .arg("--file")
            .arg(file)
            .args(args)
            .output()
            .expect("run feature_flags");
        Run::from(output)
    }

    pub fn text(&self) -> String {
        fs::read_to_string(&self.file).expect("read flag file")
    }

    pub fn audit_lines(&self) -> Vec<serde_json::Value> {
        let log = self.path(&format!("{FILE_NAME}.audit.jsonl"));
        match fs::read_to_string(log) {
            Ok(text) => text
                .lines()
                .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The names in the folder, sorted.
    pub fn listing(&self) -> Vec<String> {
        listing(self.dir.path())
    }
}

pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn ok(&self) -> &Run {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    /// Asserts exit status `code` with exactly one `error: ` line on stderr
    /// and no panic; returns that line.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "exit status: {self:#?}");
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("backtrace"),
            "{self:#?}"
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr: {self:#?}");
        assert!(lines[0].starts_with("error: "), "{self:#?}");
        lines[0]
    }
}

/// The lines of `after` that differ from `before`, as (before, after) pairs;
/// lines only on one side show up with an empty other side.
pub fn changed_lines(before: &str, after: &str) -> Vec<(String, String)> {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let old = &a[prefix..a.len() - suffix];
    let new = &b[prefix..b.len() - suffix];
    (0..old.len().max(new.len()))
        .map(|i| {
            (
                old.get(i).copied().unwrap_or_default().to_owned(),
                new.get(i).copied().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Whether this process can create files in a folder without write
/// permission (root can): then permission bits cannot simulate a read-only
/// folder.
pub fn permissions_are_ignored() -> bool {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let locked = dir.path().join("locked");
    fs::create_dir(&locked).expect("mkdir");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).expect("chmod");
    let ignored = fs::write(locked.join("probe"), "x").is_ok();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).expect("chmod back");
    ignored
}

/// A reading that trips `error_rate` (20 % errors in the `on` cohort
/// against 0.5 % in `off`, 1,000 samples in the phase) and nothing else.
pub fn error_rate_trips() -> flags_rollout::measure::Measurements {
    use flags_rollout::measure::{CohortWindow, FlagWindow, Measurements, MemoryReading};
    let window = |ok: f64, errors: f64| CohortWindow {
        ok,
        errors,
        duration_le: [ok + errors; 10],
    };
    Measurements {
        flag: Ok(FlagWindow {
            on: window(800.0, 200.0),
            off: window(19_900.0, 100.0),
            complaints_last_hour: 0.0,
            on_outcomes_in_phase: 1000.0,
            bad: Vec::new(),
        }),
        memory: Ok(Some(MemoryReading {
            max_ratio: 0.1,
            processes: 1,
        })),
        evidence: None,
    }
}
