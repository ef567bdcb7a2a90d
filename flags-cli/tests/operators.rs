//! The operators' commands across time, servers and environments, on files
//! and on real PostgreSQL databases (`flags_postgres::testing`): `--revert`
//! (a conflict, `--force`, typed twice), `--fleet` (one sync stopped),
//! `--diff` and `--promote` between a database and a file and between two
//! databases, each with bad input that leaves both sides as they were.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use flags_core::parse_flag_file;
use flags_postgres::testing::PASSWORD;
use serde_json::Value;

use crate::stores::{Kind, db, storetest};
use crate::util::{EXAMPLE, Env, Run, bin};

/// A fresh database with the schema (and the heartbeat table) and `text`
/// imported; its URL (password in it).
fn database_with(text: &str) -> String {
    Kind::Database.with(text).url()
}

fn export(url: &str) -> String {
    db(url, &["--export"]).ok().stdout.clone()
}

fn history_of(run: &Run) -> Vec<Value> {
    serde_json::from_str::<Value>(&run.ok().stdout)
        .expect("history is JSON")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The id of the newest entry that changed `flag`'s `field`.
fn last_id(history: &[Value], flag: &str, field: &str) -> u64 {
    history
        .iter()
        .rev()
        .find(|e| e["flag"] == flag && e["field"] == field)
        .and_then(|e| e["id"].as_u64())
        .unwrap_or_else(|| panic!("no {flag}.{field} entry with an id in {history:#?}"))
}

fn percentage(text: &str, flag: &str) -> String {
    parse_flag_file(text)
        .unwrap()
        .flag(flag)
        .unwrap()
        .rollout_percentage
        .to_string()
}

storetest!(
    revert_undoes_one_entry_refuses_a_conflict_and_is_harmless_twice,
    |kind| {
        let store = kind.example();
        store
            .run(&["--feature", "new_gpt_model", "--percentage", "50"])
            .ok();
        let history = store.history();
        let id = last_id(&history, "new_gpt_model", "rollout_percentage");
        if kind == Kind::File {
            assert_eq!(id, 1, "a file's entry id is its line number");
        }

        let run = store.run(&["--revert", &id.to_string()]);
        assert!(
            run.ok()
                .stdout
                .contains("new_gpt_model: rollout_percentage 50 -> 10"),
            "{run:?}"
        );
        assert_eq!(percentage(&store.text(), "new_gpt_model"), "10");
        let lines = store.history();
        let revert = lines.last().unwrap();
        assert_eq!(revert["reason"], format!("revert of entry {id}"));
        assert_eq!(revert["revert_of"], id);
        assert_eq!(revert["action"], "revert");

        // Typed twice: the value is already back, nothing is written.
        let before = store.text();
        let run = store.run(&["--revert", &id.to_string()]);
        assert!(run.ok().stdout.contains("nothing to do"), "{run:?}");
        assert_eq!(store.text(), before);
        assert_eq!(store.history().len(), lines.len());

        // Changed since the entry: refused with the value now, unless --force.
        store
            .run(&["--feature", "new_gpt_model", "--percentage", "50"])
            .ok();
        let to_50 = last_id(&store.history(), "new_gpt_model", "rollout_percentage").to_string();
        store
            .run(&["--feature", "new_gpt_model", "--percentage", "25"])
            .ok();
        let before = store.text();
        let line = store.run(&["--revert", &to_50]).fails(1).to_owned();
        assert!(
            line.contains("it is 25 now, the entry set it to 50"),
            "{line}"
        );
        assert_eq!(store.text(), before, "a refused revert writes nothing");
        let run = store.run(&["--revert", &to_50, "--force"]);
        assert!(
            run.ok().stdout.contains("rollout_percentage 25 -> 10"),
            "{run:?}"
        );
        assert_eq!(percentage(&store.text(), "new_gpt_model"), "10");
    }
);

storetest!(revert_refuses_what_it_cannot_undo_and_unknown_ids, |kind| {
    let store = kind.example();
    store
        .run(&["--group", "beta_testers", "--add-user", "5"])
        .ok();
    store.run(&["--group", "ops", "--add-user", "7"]).ok();
    let ids: Vec<String> = store
        .history()
        .iter()
        .map(|e| e["id"].to_string())
        .collect();
    let before = store.text();
    // A group's creation: the message says what to do instead.
    let line = store.run(&["--revert", &ids[1]]).fails(1).to_owned();
    assert!(line.contains("--group ops --delete"), "{line}");
    for id in ["99", "0"] {
        let line = store.run(&["--revert", id]).fails(1).to_owned();
        assert!(line.contains("no audit entry"), "{line}");
    }
    assert_eq!(store.text(), before);
    // A membership change is undone.
    let run = store.run(&["--revert", &ids[0]]);
    assert!(run.ok().stdout.contains("removed 5"), "{run:?}");
    assert!(!store.text().contains("222222222, 5"), "{}", store.text());
});

#[test]
fn revert_on_the_database_puts_a_deleted_flag_back_and_refuses_an_import() {
    let url = database_with(EXAMPLE);
    db(&url, &["--feature", "voice_replies", "--enable"]).ok();
    db(&url, &["--feature", "voice_replies", "--delete"]).ok();
    let history = history_of(&db(&url, &["--history", "--json"]));
    let import = history
        .iter()
        .find(|e| e["action"] == "import")
        .and_then(|e| e["id"].as_u64())
        .expect("the import entry has an id");
    let deleted = last_id(&history, "voice_replies", "flag");
    let enabled = last_id(&history, "voice_replies", "enabled");

    let before = export(&url);
    let line = db(&url, &["--revert", &import.to_string()])
        .fails(1)
        .to_owned();
    assert!(
        line.contains("cannot be reverted") && line.contains("import"),
        "{line}"
    );
    // The flag is gone: its field entry cannot be undone.
    let line = db(&url, &["--revert", &enabled.to_string()])
        .fails(1)
        .to_owned();
    assert!(line.contains("no longer exists"), "{line}");
    assert_eq!(export(&url), before);

    let run = db(&url, &["--revert", &deleted.to_string()]);
    assert!(
        run.ok().stdout.contains("voice_replies: created"),
        "{run:?}"
    );
    let flag = parse_flag_file(&export(&url)).unwrap();
    let def = flag.flag("voice_replies").expect("back");
    assert!(def.enabled, "as it was when deleted");
    assert_eq!(
        def.description.as_deref(),
        Some("Reply to voice messages with voice")
    );
    let history = history_of(&db(&url, &["--history", "--json"]));
    let last = history.last().unwrap();
    assert_eq!(last["reason"], format!("revert of entry {deleted}"));
    // Twice: nothing to do.
    let run = db(&url, &["--revert", &deleted.to_string()]);
    assert!(run.ok().stdout.contains("nothing to do"), "{run:?}");
    // Now reverting the enable works again (the flag exists, still enabled).
    db(&url, &["--revert", &enabled.to_string()]).ok();
    assert!(
        !parse_flag_file(&export(&url))
            .unwrap()
            .flag("voice_replies")
            .unwrap()
            .enabled
    );
}

const STAGING: &str = r#"{
  "version": 1,
  "groups": {
    "beta_testers": [111111111, 333333333]
  },
  "flags": {
    "new_gpt_model": {
      "description": "Answer with the new GPT model",
      "enabled": true,
      "rollout_percentage": 50,
      "user_groups": ["beta_testers"],
      "chat_types": ["private", "group"]
    },
    "enhanced_video_download": {"enabled": true, "rollout_percentage": 25, "exclude_chats": [-1001234567890], "bucket_by": "chat"},
    "voice_replies": {"description": "Reply to voice messages with voice", "enabled": false, "rollout_percentage": 0},
    "weather_v2": {"enabled": true, "rollout_percentage": 5}
  }
}
"#;

#[test]
fn diff_compares_a_database_with_a_file_and_with_another_database() {
    let production = database_with(EXAMPLE);
    let staging = database_with(STAGING);
    let same = Env::new();
    let staging_file = Env::with(STAGING);

    // The same flags written differently (ids as numbers) are the same.
    let run = db(&production, &["--diff", same.file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("the same flags, groups and plans"),
        "{run:?}"
    );

    for other in [staging.as_str(), staging_file.file.to_str().unwrap()] {
        let run = db(&production, &["--diff", other]);
        assert_eq!(run.code, 1, "{run:?}");
        for line in [
            "flag new_gpt_model: rollout_percentage 10 here, 50 in OTHER",
            "flag new_gpt_model: chat_types [\"private\"] here, [\"group\", \"private\"] in OTHER",
            "flag weather_v2: only in OTHER",
            "group beta_testers: 2 users here, 2 in OTHER (only here: 222222222; only in OTHER: 333333333)",
            "4 differences",
        ] {
            assert!(run.stdout.contains(line), "{line}: {run:?}");
        }
    }
    // Machine-readable, and from the file's side.
    let run = staging_file.run(&["--diff", &production, "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["same"], false);
    assert_eq!(value["differences"].as_array().unwrap().len(), 4);
    assert!(!run.stdout.contains(PASSWORD));

    // Trouble is exit 2, as diff(1): an unreadable or invalid OTHER.
    let broken = Env::with("{\"version\": 1, \"flags\": {\"x\": {\"enabled\": 3}}}");
    for other in [
        broken.file.to_str().unwrap().to_owned(),
        same.path("missing.json").display().to_string(),
        "postgres://flags@127.0.0.1:1/none?sslmode=disable&connect_timeout=2".to_owned(),
    ] {
        let line = db(&production, &["--diff", &other]).fails(2).to_owned();
        assert!(!line.contains(PASSWORD), "{line}");
    }
}

#[test]
fn promote_shows_then_applies_one_flag_or_all_between_databases_and_files() {
    let production = database_with(EXAMPLE);
    let staging = database_with(STAGING);
    let staging_file = Env::with(STAGING);
    let before = export(&production);
    let staging_before = export(&staging);

    // Without --yes: shown, not applied.
    let run = db(
        &production,
        &["--promote", "new_gpt_model", "--from", &staging],
    );
    let shown = run.ok().stdout.clone();
    assert!(
        shown.contains("new_gpt_model: rollout_percentage 10 -> 50"),
        "{shown}"
    );
    assert!(shown.contains("add --yes"), "{shown}");
    assert_eq!(export(&production), before);

    // Bad input: both sides stay as they were.
    let broken = Env::with("{\"version\": 1, \"flags\": {\"x\": {\"enabled\": 3}}}");
    let bad: [(&[&str], i32, &str); 5] = [
        (
            &["--promote", "new_gtp_model", "--from", &staging, "--yes"],
            1,
            "did you mean \"new_gpt_model\"",
        ),
        (
            &[
                "--promote",
                "new_gpt_model",
                "--from",
                broken.file.to_str().unwrap(),
                "--yes",
            ],
            1,
            "valid",
        ),
        (
            &[
                "--promote",
                "new_gpt_model",
                "--from",
                "/nonexistent/flags.json",
                "--yes",
            ],
            1,
            "cannot",
        ),
        (&["--promote", "--from", &staging, "--yes"], 2, "--all"),
        (
            &["--promote", "x", "--all", "--from", &staging, "--yes"],
            2,
            "not both",
        ),
    ];
    for (args, code, says) in bad {
        let line = db(&production, args).fails(code).to_owned();
        assert!(line.contains(says), "{args:?}: {line}");
    }
    assert_eq!(export(&production), before);
    assert_eq!(export(&staging), staging_before);
    assert_eq!(
        broken.text(),
        "{\"version\": 1, \"flags\": {\"x\": {\"enabled\": 3}}}"
    );
    // Into a file: an unknown flag of the database, or an invalid file here.
    let file = Env::new();
    let line = file
        .run(&["--promote", "nope", "--from", &production, "--yes"])
        .fails(1)
        .to_owned();
    assert!(line.contains("no flag named \"nope\""), "{line}");
    let line = broken
        .run(&["--promote", "new_gpt_model", "--from", &production, "--yes"])
        .fails(1)
        .to_owned();
    assert!(line.contains("not a valid flag file"), "{line}");
    assert_eq!(file.text(), EXAMPLE);
    assert_eq!(
        broken.text(),
        "{\"version\": 1, \"flags\": {\"x\": {\"enabled\": 3}}}"
    );
    assert!(file.audit_lines().is_empty() && broken.audit_lines().is_empty());
    assert_eq!(export(&production), before);

    // One flag, from the other database: one audited edit naming it, masked.
    let run = db(
        &production,
        &["--promote", "new_gpt_model", "--from", &staging, "--yes"],
    );
    assert!(
        run.ok().stdout.contains("rollout_percentage 10 -> 50"),
        "{run:?}"
    );
    let after = parse_flag_file(&export(&production)).unwrap();
    assert_eq!(after.flag("new_gpt_model").unwrap().chat_types.len(), 2);
    assert!(after.flag("weather_v2").is_none(), "one flag only");
    let history = history_of(&db(&production, &["--history", "--json"]));
    let last = history.last().unwrap();
    let reason = last["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("promoted from database postgres://flags:***@"),
        "{reason}"
    );
    assert_eq!(last["action"], "promote");
    assert_eq!(export(&staging), staging_before, "the source is only read");

    // Every flag, from a file into the database; then the database into a file.
    db(
        &production,
        &[
            "--promote",
            "--all",
            "--from",
            staging_file.file.to_str().unwrap(),
            "--yes",
        ],
    )
    .ok();
    let run = db(
        &production,
        &["--diff", staging_file.file.to_str().unwrap()],
    );
    // Groups are not promoted: their members differ by environment.
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("1 difference\n"), "{run:?}");
    assert!(run.stdout.contains("group beta_testers"), "{run:?}");

    let file = Env::new();
    let run = file.run(&["--promote", "--all", "--from", &production, "--yes"]);
    assert!(run.ok().stdout.contains("weather_v2: created"), "{run:?}");
    assert_eq!(file.run(&["--diff", &production]).code, 0);
    // Again: nothing to change.
    let run = file.run(&["--promote", "--all", "--from", &production, "--yes"]);
    assert!(run.ok().stdout.contains("nothing to change"), "{run:?}");
}

/// A sync of `url` into a new file beside `env`'s, polling every second.
fn start_sync(url: &str, env: &Env, name: &str) -> Child {
    bin()
        .arg("--database")
        .arg(url)
        .args(["--sync", "--poll", "1s", "--file"])
        .arg(env.path(name))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the sync")
}

fn fleet(url: &str) -> Value {
    let run = db(url, &["--fleet", "--stale-after", "3s", "--json"]);
    assert!(run.code == 0 || run.code == 1, "{run:?}");
    serde_json::from_str(&run.stdout).expect("fleet JSON")
}

fn sync_row<'v>(fleet: &'v Value, file: &str) -> Option<&'v Value> {
    fleet["syncs"]
        .as_array()?
        .iter()
        .find(|s| s["file"].as_str().is_some_and(|f| f.ends_with(file)))
}

/// Polls `--fleet` until `done` holds, at most `limit`.
fn wait_for(url: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> (Value, Duration) {
    let start = Instant::now();
    loop {
        let value = fleet(url);
        if done(&value) || start.elapsed() > limit {
            return (value, start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn fleet_shows_every_sync_and_marks_a_stopped_one_stale_within_a_poll_and_a_few_seconds() {
    let url = database_with(EXAMPLE);
    let env = Env::new();
    let mut one = start_sync(&url, &env, "one.json");
    let mut two = start_sync(&url, &env, "two.json");
    let healthy = |v: &Value, file: &str| sync_row(v, file).is_some_and(|s| s["stale"] == false);
    let (value, _) = wait_for(&url, Duration::from_secs(20), |v| {
        healthy(v, "one.json") && healthy(v, "two.json")
    });
    assert!(
        healthy(&value, "one.json") && healthy(&value, "two.json"),
        "{value:#}"
    );
    assert_eq!(sync_row(&value, "one.json").unwrap()["behind"], 0);
    let text = db(&url, &["--fleet"]);
    assert!(
        text.ok().stdout.contains("flag document version"),
        "{text:?}"
    );

    two.kill().expect("stop sync two");
    two.wait().ok();
    db(&url, &["--feature", "new_gpt_model", "--percentage", "50"]).ok();
    // Stale after 3 s without success; the poll is 1 s: seen within about 4 s.
    let (value, took) = wait_for(&url, Duration::from_secs(15), |v| {
        sync_row(v, "two.json").is_some_and(|s| s["stale"] == true)
    });
    let stopped = sync_row(&value, "two.json").unwrap();
    assert_eq!(stopped["stale"], true, "{value:#}");
    assert_eq!(stopped["behind"], 1, "{value:#}");
    assert!(took < Duration::from_secs(8), "seen after {took:?}");
    eprintln!(
        "fleet: a stopped sync (poll 1 s, --stale-after 3s) shown stale {took:.1?} after an edit"
    );
    let running = sync_row(&value, "one.json").unwrap();
    assert_eq!(running["stale"], false, "{value:#}");
    let run = db(&url, &["--fleet", "--stale-after", "3s"]);
    assert_eq!(run.code, 1, "a stale sync is exit 1: {run:?}");
    assert!(run.stdout.contains("STALE"), "{run:?}");

    one.kill().ok();
    one.wait().ok();
}

#[test]
fn check_on_a_mirrored_file_names_the_database_and_its_version() {
    let url = database_with(EXAMPLE);
    let env = Env::new();
    let mut sync = start_sync(&url, &env, "mirror.json");
    let marker = env.path("mirror.json.sync.json");
    let start = Instant::now();
    while !marker.exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    sync.kill().ok();
    sync.wait().ok();
    let run = env.run_on(&env.path("mirror.json"), &["--check"]);
    let out = &run.ok().stdout;
    assert!(
        out.contains("mirrored from database postgres://flags:***@"),
        "{out}"
    );
    assert!(out.contains("version 1"), "{out}");
}

/// Stops a child process at the end of a test, however it ends.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `feature_flags ARGS --listen 127.0.0.1:0` and returns it with
/// the first `http://…` address its output names.
fn serving(args: &[&str]) -> (Stopped, String) {
    use std::io::{BufRead, BufReader};
    let mut child = bin()
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start feature_flags");
    let stdout = child.stdout.take().unwrap();
    let child = Stopped(child);
    let mut lines = BufReader::new(stdout).lines();
    let url = lines
        .by_ref()
        .take(10)
        .map_while(Result::ok)
        .find_map(|line| {
            line.split_whitespace()
                .find(|w| w.starts_with("http://"))
                .map(|w| {
                    w.trim_end_matches('/')
                        .trim_end_matches("/metrics")
                        .to_owned()
                })
        })
        .expect("an address in the first lines");
    // Keep reading so that the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, url)
}

fn metrics(url: &str) -> String {
    let client = flags_cli::http::Client::new(Duration::from_secs(2), 1 << 20);
    client
        .get(&format!("{url}/metrics"), &[], "text/plain")
        .expect("metrics")
}

#[test]
fn the_guard_and_the_sync_label_every_series_with_their_environment() {
    let url = database_with(EXAMPLE);
    let env = Env::new();
    let mirror = env.path("mirror.json");
    // The sync: the database's own name by default.
    let (_sync, at) = serving(&[
        "--database",
        &url,
        "--sync",
        "--file",
        mirror.to_str().unwrap(),
    ]);
    let text = metrics(&at);
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(!samples.is_empty(), "{text}");
    for line in &samples {
        assert!(
            line.starts_with("feature_flags_sync_")
                && line.contains(&format!("{{environment=\"{name}\"")),
            "{line}"
        );
    }

    // The guard on a file: --environment names it.
    let (_guard, at) = serving(&[
        "--file",
        env.file.to_str().unwrap(),
        "--guard",
        "--scrape",
        "http://127.0.0.1:9/metrics",
        "--environment",
        "staging",
    ]);
    let text = metrics(&at);
    let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(!samples.is_empty(), "{text}");
    for line in samples {
        assert!(line.contains("{environment=\"staging\""), "{line}");
    }
    // A bad name is a usage error.
    let run = env.run(&[
        "--guard",
        "--scrape",
        "http://127.0.0.1:9/metrics",
        "--environment",
        "prod env",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
}
