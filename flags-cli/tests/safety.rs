//! Edits against each other and against readers: the lock, re-reading under
//! it, atomic replacement, symlinks and permissions.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use flags_core::parse_flag_file;

use crate::util::{EXAMPLE, Env, bin, listing};

#[test]
fn forty_parallel_exclusions_all_land() {
    let env = Env::new();
    let ids: Vec<i64> = (0..40).map(|i| -1_000_000_000_000 - i).collect();
    let children: Vec<_> = ids
        .iter()
        .map(|id| {
            bin()
                .arg("--file")
                .arg(&env.file)
                .args([
                    "--feature",
                    "enhanced_video_download",
                    "--exclude-chat",
                    &id.to_string(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let file = parse_flag_file(&env.text()).expect("valid after the race");
    let excluded = &file.flag("enhanced_video_download").unwrap().exclude_chats;
    assert_eq!(excluded.len(), 41, "{excluded:?}");
    assert!(excluded.contains(&-1_001_234_567_890));
    for id in &ids {
        assert!(excluded.contains(id), "{id} lost");
    }
    assert_eq!(env.audit_lines().len(), 40);
    assert_eq!(
        env.listing(),
        [
            "feature_flags.json",
            "feature_flags.json.audit.jsonl",
            "feature_flags.json.lock"
        ]
    );
}

#[test]
fn forty_parallel_adds_to_one_group_lose_no_id() {
    let env = Env::new();
    let ids: Vec<i64> = (0..40).map(|i| 500_000_000 + i).collect();
    let children: Vec<_> = ids
        .iter()
        .map(|id| {
            bin()
                .arg("--file")
                .arg(&env.file)
                .args(["--group", "beta_testers", "--add-user", &id.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let file = parse_flag_file(&env.text()).expect("valid after the race");
    let (name, members) = &file.groups[0];
    assert_eq!(name, "beta_testers");
    assert_eq!(members.len(), 42, "{members:?}");
    for id in ids.iter().chain(&[111_111_111, 222_222_222]) {
        assert!(members.contains(id), "{id} lost");
    }
    assert_eq!(env.audit_lines().len(), 40);
}

/// An edit that has to wait for the lock applies itself to the file as it is
/// once the lock is free, not as it was when the command started.
#[test]
fn a_waiting_edit_applies_to_the_newest_file() {
    let env = Env::new();
    let lock = File::create(env.path("feature_flags.json.lock")).unwrap();
    lock.lock().unwrap();

    let mut child = bin()
        .arg("--file")
        .arg(&env.file)
        .args(["--feature", "new_gpt_model", "--percentage", "50"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let note = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the edit reports that it waits");
    assert!(note.contains("waiting for another edit"), "{note}");

    // Another writer changes the file while the edit waits.
    let newer = EXAMPLE.replace("\"rollout_percentage\": 25", "\"rollout_percentage\": 77");
    fs::write(&env.file, &newer).unwrap();
    lock.unlock().unwrap();

    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        env.text(),
        newer.replace("\"rollout_percentage\": 10", "\"rollout_percentage\": 50"),
        "both the other writer's change and ours are kept"
    );
}

/// A file large enough that a non-atomic write would be seen half done.
fn big_flag_file() -> String {
    let flags: Vec<String> = (0..400)
        .map(|i| {
            format!(
                "    \"flag_{i}\": {{\n      \"description\": \"{}\",\n      \"enabled\": true,\n      \"rollout_percentage\": {}\n    }}",
                "x".repeat(100),
                i % 100
            )
        })
        .collect();
    format!(
        "{{\n  \"version\": 1,\n  \"flags\": {{\n{}\n  }}\n}}\n",
        flags.join(",\n")
    )
}

#[test]
fn readers_never_see_a_partial_file() {
    let env = Env::with(&big_flag_file());
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = Arc::clone(&done);
        let path = env.file.clone();
        thread::spawn(move || {
            let mut reads = 0u32;
            while !done.load(Ordering::Relaxed) || reads == 0 {
                let text = fs::read_to_string(&path).expect("the file is always there");
                if let Err(problems) = parse_flag_file(&text) {
                    return Err(format!("read {reads}: {problems}"));
                }
                reads += 1;
            }
            Ok(reads)
        })
    };
    for i in 0..20 {
        let percentage = (i * 5 + 1).to_string();
        env.run(&["--feature", "flag_399", "--percentage", &percentage])
            .ok();
    }
    done.store(true, Ordering::Relaxed);
    let reads = reader.join().unwrap().expect("every read parses");
    assert!(reads > 0);
    assert!(env.text().contains("\"rollout_percentage\": 96\n"));
}

#[test]
fn a_symlinked_file_has_its_target_replaced() {
    let env = Env::new();
    let real_dir = env.path("data");
    fs::create_dir(&real_dir).unwrap();
    let real = real_dir.join("flags.json");
    fs::rename(&env.file, &real).unwrap();
    std::os::unix::fs::symlink("data/flags.json", &env.file).unwrap();

    env.run(&["--feature", "new_gpt_model", "--percentage", "50"])
        .ok();
    assert!(
        fs::symlink_metadata(&env.file)
            .unwrap()
            .file_type()
            .is_symlink(),
        "still a link"
    );
    assert_eq!(
        fs::read_link(&env.file).unwrap(),
        std::path::Path::new("data/flags.json")
    );
    assert!(
        fs::read_to_string(&real)
            .unwrap()
            .contains("\"rollout_percentage\": 50")
    );
    assert_eq!(
        listing(&real_dir),
        ["flags.json", "flags.json.audit.jsonl", "flags.json.lock"],
        "lock and audit log live beside the real file"
    );
    // History through the link finds the same log.
    assert!(env.run(&["--history"]).ok().stdout.contains("10 -> 50"));
}

#[test]
fn permissions_survive_an_edit() {
    let env = Env::new();
    fs::set_permissions(&env.file, fs::Permissions::from_mode(0o640)).unwrap();
    let before = fs::metadata(&env.file).unwrap();
    env.run(&["--feature", "new_gpt_model", "--disable"]).ok();
    let after = fs::metadata(&env.file).unwrap();
    assert_ne!(before.ino(), after.ino(), "replaced by rename");
    assert_eq!(after.mode() & 0o7777, 0o640);
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
}
