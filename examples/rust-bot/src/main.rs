//! A bot-shaped example: for each incoming message, evaluate the flags the
//! handler needs on one snapshot, then act on them.
//!
//! Run: `cargo run -p rust-bot -- examples/feature_flags.json`

use std::process::ExitCode;

use std::time::Instant;

use flags_core::{ChatType, Context, FlagStore, Outcome, ReloadEvent};

/// A message as a Telegram library would hand it over.
struct Message {
    user_id: i64,
    chat_id: i64,
    chat_type: ChatType,
    text: &'static str,
}

const MESSAGES: [Message; 4] = [
    Message {
        user_id: 111_111_111,
        chat_id: 111_111_111,
        chat_type: ChatType::Private,
        text: "hi (beta tester)",
    },
    Message {
        user_id: 42,
        chat_id: 42,
        chat_type: ChatType::Private,
        text: "hello",
    },
    Message {
        user_id: 42,
        chat_id: -1_001_234_567_890,
        chat_type: ChatType::Supergroup,
        text: "video please",
    },
    Message {
        user_id: 7,
        chat_id: -100_555,
        chat_type: ChatType::Group,
        text: "video please",
    },
];

fn main() -> ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "examples/feature_flags.json".into());
    let store = match FlagStore::options()
        .on_event(|event| match event {
            ReloadEvent::Loaded {
                generation,
                fingerprint,
            } => {
                eprintln!("flags: loaded generation {generation} ({fingerprint:016x})");
            }
            ReloadEvent::Failed { message } => {
                eprintln!("flags: keeping the previous version: {message}")
            }
            other => eprintln!("flags: {other:?}"),
        })
        .open(&path)
    {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };

    // Resolve the flags the handler uses once, at startup.
    let gpt = store.handle("new_gpt_model");
    let video = store.handle("enhanced_video_download");

    // A worker keeps one reader: it loads the current version with a single
    // pointer comparison instead of arc-swap's guard.
    let mut reader = store.reader();
    for message in &MESSAGES {
        let ctx = Context::new()
            .user(message.user_id)
            .chat(message.chat_id, message.chat_type);
        // One message, one version of the file: the answers come from it,
        // and it remembers which flags the handler asked (in which cohort)
        // so the outcome counts for exactly those.
        let started = Instant::now();
        let mut flags = reader.message(ctx);
        let model = if flags.evaluate_handle(gpt).enabled {
            "new model"
        } else {
            "old model"
        };
        let video = flags.evaluate_handle(video);
        println!(
            "user {:>10} in {:>10} chat {:>15}: {:<17} -> {model}, video download {} ({})",
            message.user_id,
            message.chat_type,
            message.chat_id,
            message.text,
            if video.enabled { "enhanced" } else { "classic" },
            video.reason,
        );
        // How handling went, once per message (a real handler reports
        // `Outcome::error` when it fails).
        flags.record(Outcome::ok(started.elapsed()));
    }
    // What a /feedback command does: one complaint for the flag.
    store.complaint("new_gpt_model");
    let gpt_outcomes = store.outcome_counts("new_gpt_model").unwrap_or_default();
    println!(
        "new_gpt_model outcomes: on {} ok / {} error, off {} ok / {} error, {} complaint(s)",
        gpt_outcomes.on.ok,
        gpt_outcomes.on.error,
        gpt_outcomes.off.ok,
        gpt_outcomes.off.error,
        gpt_outcomes.complaints
    );
    println!("served generation {} of {path}", store.generation());
    ExitCode::SUCCESS
}
