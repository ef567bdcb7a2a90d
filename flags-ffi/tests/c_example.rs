//! examples/c/bot.c, compiled with the system C compiler against the
//! committed header and both built libraries, must run and print what
//! flags-core decides for the same messages. Also checks that C sees the
//! same struct layouts as Rust, and that the header compiles as C++.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flags_core::{ChatType, Context, FlagStore};
use flags_ffi::{ff_context, ff_decision, ff_str};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Where cargo put libflags_ffi.so and libflags_ffi.a: `cargo test -p
/// flags-ffi` builds them into target/<profile>/deps/ beside this test
/// (and copies them up to target/<profile>/ on a fresh build).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let candidates = [deps, deps.parent().unwrap()];
    candidates
        .iter()
        .find(|dir| dir.join("libflags_ffi.so").is_file() && dir.join("libflags_ffi.a").is_file())
        .unwrap_or_else(|| {
            panic!(
                "no libflags_ffi.so and libflags_ffi.a in {candidates:?}; \
                 run this through `cargo test -p flags-ffi`, which builds them"
            )
        })
        .to_path_buf()
}

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn cc() -> Command {
    let mut command = Command::new(std::env::var_os("CC").unwrap_or("cc".into()));
    command
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
        .arg(repo_root().join("flags-ffi/include"));
    command
}

/// The decision lines bot.c prints for its messages, computed by flags-core.
fn expected_decisions() -> Vec<String> {
    let store = FlagStore::options()
        .watch(false)
        .open(repo_root().join("examples/feature_flags.json"))
        .unwrap();
    let beta: &[&str] = &["beta_testers"];
    let messages = [
        Context::new()
            .user(111111111)
            .chat(111111111, ChatType::Private),
        Context::new()
            .user(42)
            .chat(-1001234567890, ChatType::Supergroup),
        Context::new()
            .user(7)
            .chat(7, ChatType::Private)
            .groups(beta),
        Context::new().user(42).chat(-100101, ChatType::Group),
        Context::new().chat(-100555, ChatType::Channel),
    ];
    let snapshot = store.snapshot();
    let mut lines = Vec::new();
    for (i, ctx) in messages.iter().enumerate() {
        lines.push(format!("message {}:", i + 1));
        for name in snapshot.flag_names() {
            let d = snapshot.evaluate(name, ctx);
            let mut line = format!(
                "  {name:<24} {:<3} {}",
                if d.enabled { "on" } else { "off" },
                d.reason
            );
            if let Some(bucket) = d.bucket {
                line.push_str(&format!(" bucket {bucket}"));
            }
            lines.push(line);
        }
    }
    lines
}

fn check_bot_output(output: &Output) {
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let printed: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with("message ") || l.starts_with("  "))
        .map(|l| match l.find(':') {
            Some(colon) if l.starts_with("message ") => l[..=colon].to_owned(),
            _ => l.to_owned(),
        })
        .collect();
    assert_eq!(printed, expected_decisions(), "{stdout}");
    // At least one flag of each kind shows up, so the comparison means something.
    for needle in [
        " on  group",
        " on  rollout bucket",
        "off chat_excluded",
        "off disabled",
    ] {
        assert!(stdout.contains(needle), "no `{needle}` in:\n{stdout}");
    }
    for line in [
        "flags: new_gpt_model enhanced_video_download voice_replies",
        "bad chat type: FF_INVALID_ARGUMENT (`ctx.chat_type` is 9;",
        "NULL name: FF_NULL_ARGUMENT (`name` is NULL)",
        "name not UTF-8: FF_INVALID_UTF8",
        "unknown handle: FF_INVALID_ARGUMENT",
        "no_such_flag with default true: on",
        "evaluate after close: FF_CLOSED",
        // Two messages asked new_gpt_model and got it (beta testers in
        // private chats, through their group); the others are outside its
        // chat types: no cohort.
        r#"feature_flags_outcomes_total{flag="new_gpt_model",cohort="on",via="group",chat_type="private",result="ok"} 2"#,
        r#"feature_flags_complaints_total{flag="new_gpt_model"} 1"#,
        "second record of one message: FF_OK",
        "negative seconds: FF_INVALID_ARGUMENT",
        "complaint about an unknown flag: FF_UNKNOWN_FLAG (no flag `new_gpt_modle`",
        "all checks passed",
    ] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
    assert!(!stdout.contains("MISMATCH"), "{stdout}");
    // Only that segment counted: the example prints the outcome lines
    // above 0, and no other.
    let counted: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("feature_flags_outcomes_total"))
        .collect();
    assert_eq!(counted.len(), 1, "{stdout}");
}

#[test]
fn c_example_runs_against_the_shared_and_the_static_library() {
    let lib_dir = lib_dir();
    let build = tempfile::tempdir().unwrap();
    let source = repo_root().join("examples/c/bot.c");
    let flag_file = repo_root().join("examples/feature_flags.json");

    let shared = build.path().join("bot");
    run(cc()
        .arg(&source)
        .arg("-L")
        .arg(&lib_dir)
        .arg("-lflags_ffi")
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-o")
        .arg(&shared));
    // Cargo's LD_LIBRARY_PATH would win over the rpath and may name an
    // older libflags_ffi.so (target/<profile>/ is not refreshed by tests).
    check_bot_output(&run(Command::new(&shared)
        .arg(&flag_file)
        .env("LD_LIBRARY_PATH", &lib_dir)));

    let fully_static = build.path().join("bot-static");
    run(cc()
        .arg(&source)
        .arg(lib_dir.join("libflags_ffi.a"))
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&fully_static));
    // No libflags_ffi.so needed at run time: hide the build directory.
    check_bot_output(&run(Command::new(&fully_static)
        .arg(&flag_file)
        .env_remove("LD_LIBRARY_PATH")));
}

#[test]
fn c_sees_the_struct_layouts_rust_uses() {
    let build = tempfile::tempdir().unwrap();
    let check = build.path().join("layout.c");
    let mut asserts = String::new();
    let mut assert =
        |expr: String| asserts.push_str(&format!("_Static_assert({expr}, \"{expr}\");\n"));
    assert(format!("sizeof(ff_str) == {}", size_of::<ff_str>()));
    assert(format!("sizeof(ff_context) == {}", size_of::<ff_context>()));
    assert(format!(
        "sizeof(ff_decision) == {}",
        size_of::<ff_decision>()
    ));
    for (field, offset) in [
        ("user_id", std::mem::offset_of!(ff_context, user_id)),
        ("chat_id", std::mem::offset_of!(ff_context, chat_id)),
        ("present", std::mem::offset_of!(ff_context, present)),
        ("chat_type", std::mem::offset_of!(ff_context, chat_type)),
        ("groups", std::mem::offset_of!(ff_context, groups)),
        ("groups_len", std::mem::offset_of!(ff_context, groups_len)),
    ] {
        assert(format!("offsetof(ff_context, {field}) == {offset}"));
    }
    for (field, offset) in [
        ("enabled", std::mem::offset_of!(ff_decision, enabled)),
        ("reason", std::mem::offset_of!(ff_decision, reason)),
        ("has_bucket", std::mem::offset_of!(ff_decision, has_bucket)),
        ("bucket", std::mem::offset_of!(ff_decision, bucket)),
    ] {
        assert(format!("offsetof(ff_decision, {field}) == {offset}"));
    }
    assert("sizeof(ff_status) == 4".into());
    std::fs::write(
        &check,
        format!("#include <stddef.h>\n#include \"feature_flags.h\"\n{asserts}"),
    )
    .unwrap();
    run(cc()
        .args(["-c", "-o"])
        .arg(build.path().join("layout.o"))
        .arg(&check));
}

#[test]
fn the_header_compiles_as_cpp() {
    let Ok(status) = Command::new("c++").arg("--version").output() else {
        eprintln!("no c++ compiler; skipping the C++ check");
        return;
    };
    assert!(status.status.success());
    let build = tempfile::tempdir().unwrap();
    let source = build.path().join("header.cpp");
    std::fs::write(
        &source,
        "#include \"feature_flags.h\"\nint main() { return ff_version() == nullptr ? FF_PANIC : FF_OK; }\n",
    )
    .unwrap();
    run(Command::new("c++")
        .args([
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fsyntax-only",
            "-I",
        ])
        .arg(repo_root().join("flags-ffi/include"))
        .arg(&source));
}
