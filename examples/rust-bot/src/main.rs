//! A bot-shaped example: for each incoming message, evaluate the flags the
//! handler needs on one snapshot, then act on them.
//!
//! Run: `cargo run -p rust-bot -- examples/feature_flags.json`

use std::process::ExitCode;

use flags_core::{ChatType, Context, FlagStore, ReloadEvent};

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
        // One snapshot per message: both answers come from one file version.
        let flags = reader.snapshot();
        let model = if flags.evaluate_handle(gpt, &ctx).enabled {
            "new model"
        } else {
            "old model"
        };
        let video = flags.evaluate_handle(video, &ctx);
        println!(
            "user {:>10} in {:>10} chat {:>15}: {:<17} -> {model}, video download {} ({})",
            message.user_id,
            message.chat_type,
            message.chat_id,
            message.text,
            if video.enabled { "enhanced" } else { "classic" },
            video.reason,
        );
    }
    println!("served generation {} of {path}", store.generation());
    ExitCode::SUCCESS
}
