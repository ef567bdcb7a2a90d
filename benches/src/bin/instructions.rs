//! One operation repeated N times, for counting instructions under
//! `valgrind --tool=callgrind` (`benches/instructions.py` runs it).
//!
//!     instructions OPERATION N
//!
//! Setup (parsing the fixture, building the stores, the message stream) is
//! the same whatever N is, so the runner counts two N and divides the
//! difference: instructions per operation with setup cancelled, needing no
//! client requests in the program. Everything is deterministic (fixed hash
//! seeds, the same messages), so two runs count the same.
//!
//! Every operation checks the answers it produces against the engine's
//! (on its first pass), so counting the wrong work fails instead of
//! reporting a number.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Duration;

use ahash::{AHashSet, RandomState};
use benches::fixtures::{MESSAGE_FLAGS, many_flags, message_flags, messages};
use benches::message::Bot;
use benches::tuned::{TunedStore, plain_bucket};
use flags_core::{Context, FlagStore, Message, Outcome, bucket, seed_for_salt};

/// Messages rotate through this many users and chats, as in the criterion
/// benchmarks, so every path of the fixture is taken in its proportion.
/// The runner's N are multiples of it.
const MESSAGES: usize = 1024;
/// The one-flag operations' flag: a 50 % rollout by user (with 1 000
/// excluded chats, like every fixture flag), the full path.
const ONE_FLAG: &str = "inline_search";
/// Chats excluded by each of the message fixture's flags.
const EXCLUDED: usize = 1000;
/// The reload operations' file: this many flags, 100 excluded chats each.
const RELOAD_FLAGS: usize = 1000;

const OPERATIONS: &[(&str, &str)] = &[
    (
        "store_by_handle",
        "one flag by handle, FlagStore::evaluate_handle",
    ),
    ("store_by_name", "one flag by name, FlagStore::evaluate"),
    (
        "reader_by_handle",
        "one flag by handle, Reader::evaluate_handle",
    ),
    ("reader_by_name", "one flag by name, Reader::evaluate"),
    ("tuned_one", "one flag by name, the tuned baseline"),
    (
        "store_message",
        "10 flags by handle on one FlagStore::snapshot",
    ),
    (
        "reader_message",
        "10 flags by handle on one Reader::snapshot",
    ),
    (
        "tuned_message",
        "10 flags by name under one read lock, the tuned baseline",
    ),
    ("message_3", "a Reader message, 3 flags exposed (no record)"),
    (
        "message_3_record",
        "a Reader message, 3 flags exposed, record",
    ),
    (
        "floor_message",
        "10 seeded xxh3 buckets of 8 bytes and a deny-set probe",
    ),
    (
        "floor_message_plain",
        "the floor with xxh3_64_with_seed as called plainly",
    ),
    (
        "reload",
        "FlagStore::replace_json, 1 000 flags (two versions alternate)",
    ),
    (
        "tuned_reload",
        "the tuned baseline's replace_json, the same files",
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(operation), Some(Ok(n))) = (args.get(1), args.get(2).map(|n| n.parse::<usize>()))
    else {
        eprintln!("usage: instructions OPERATION N\noperations:");
        for (name, what) in OPERATIONS {
            eprintln!("  {name:<20} {what}");
        }
        return ExitCode::from(2);
    };
    match run(operation, n) {
        Some(sum) => {
            println!("{operation} {n} {sum}");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("unknown operation {operation:?}");
            ExitCode::from(2)
        }
    }
}

fn run(operation: &str, n: usize) -> Option<u64> {
    if operation == "time_reload_10k" {
        return Some(time_reload(10_000, n));
    }
    // The file `reload` counts, timed the same way.
    if operation == "time_reload_1k" {
        return Some(time_reload(RELOAD_FLAGS, n));
    }
    let text = message_flags(EXCLUDED, 0);
    let bot = Bot::new(FlagStore::from_json(&text).expect("valid fixture"));
    let tuned = TunedStore::from_json(&text).expect("valid fixture");
    let stream = messages(MESSAGES);
    check_agreement(&bot, &tuned, &stream);
    let one = bot.store.handle(ONE_FLAG);
    let mut reader = bot.store.reader();
    // Sums of the answers: the work cannot be optimised away.
    let mut sum = 0u64;
    let ctx = |i: usize| black_box(&stream[i % MESSAGES]);
    match operation {
        "store_by_handle" => (0..n).for_each(|i| {
            sum += u64::from(bot.store.evaluate_handle(black_box(one), ctx(i)).enabled)
        }),
        "store_by_name" => (0..n).for_each(|i| {
            sum += u64::from(bot.store.evaluate(black_box(ONE_FLAG), ctx(i)).enabled)
        }),
        "reader_by_handle" => (0..n)
            .for_each(|i| sum += u64::from(reader.evaluate_handle(black_box(one), ctx(i)).enabled)),
        "reader_by_name" => (0..n)
            .for_each(|i| sum += u64::from(reader.evaluate(black_box(ONE_FLAG), ctx(i)).enabled)),
        "tuned_one" => (0..n)
            .for_each(|i| sum += u64::from(tuned.evaluate(black_box(ONE_FLAG), ctx(i)).enabled)),
        "store_message" => (0..n).for_each(|i| sum += u64::from(bot.by_handle(ctx(i)))),
        "reader_message" => {
            (0..n).for_each(|i| sum += u64::from(bot.by_handle_on(reader.snapshot(), ctx(i))))
        }
        "tuned_message" => (0..n)
            .for_each(|i| sum += u64::from(tuned.count_enabled(black_box(&MESSAGE_FLAGS), ctx(i)))),
        "message_3" | "message_3_record" => {
            let record = operation == "message_3_record";
            let three = [bot.handles[0], bot.handles[1], bot.handles[4]];
            for i in 0..n {
                let mut msg: Message<'_, _> = reader.message(*ctx(i));
                for handle in three {
                    sum += u64::from(msg.evaluate_handle(handle).enabled);
                }
                if record {
                    let took = Duration::from_micros(i as u64 % 4096);
                    sum += u64::from(msg.record(Outcome::ok(took)));
                }
                black_box(&msg);
            }
        }
        "floor_message" | "floor_message_plain" => {
            let plain = operation == "floor_message_plain";
            let seeds = MESSAGE_FLAGS.map(seed_for_salt);
            let deny = deny_set();
            for i in 0..n {
                let c = ctx(i);
                let user = c.user_id.unwrap_or(0);
                sum += u64::from(!deny.contains(&c.chat_id.unwrap_or(0)));
                for seed in black_box(&seeds) {
                    let b = if plain {
                        plain_bucket(user, *seed)
                    } else {
                        bucket(user, *seed)
                    };
                    sum += u64::from(b < 50_000);
                }
            }
        }
        "reload" | "tuned_reload" => {
            let versions = [0, 1].map(|v| many_flags(RELOAD_FLAGS, 100, v));
            let store = FlagStore::from_json(&versions[1]).expect("valid fixture");
            let base = TunedStore::from_json(&versions[1]).expect("valid fixture");
            let first = store.generation();
            for i in 0..n {
                let text = black_box(&versions[i % 2]);
                if operation == "reload" {
                    store.replace_json(text).expect("valid fixture");
                } else {
                    base.replace_json(text).expect("valid fixture");
                }
                sum += 1;
            }
            // Each reload really swapped a new version in.
            let swaps = if operation == "reload" { n } else { 0 };
            assert_eq!(store.generation() - first, swaps as u64);
        }
        _ => return None,
    }
    Some(sum)
}

/// Prints the median and best wall-clock time of `n` reloads of a file of
/// `flags` flags, and of parsing and validating it alone (the split that
/// says where a reload's time goes).
fn time_reload(flags: usize, n: usize) -> u64 {
    use std::time::Instant;
    let versions = [0, 1].map(|v| many_flags(flags, 100, v));
    let store = FlagStore::from_json(&versions[1]).expect("valid fixture");
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0])
    };
    let mut reloads = Vec::new();
    let mut parses = Vec::new();
    for i in 0..n.max(1) {
        let text = &versions[i % 2];
        let start = Instant::now();
        store.replace_json(text).expect("valid fixture");
        reloads.push(start.elapsed().as_secs_f64() * 1e3);
        let start = Instant::now();
        black_box(flags_core::parse_flag_file(text).expect("valid fixture"));
        parses.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let (reload, best_reload) = median(reloads);
    let (parse, best_parse) = median(parses);
    eprintln!(
        "{flags} flags, {:.1} MB: replace_json median {reload:.1} ms (best {best_reload:.1}), \
         parse + validate median {parse:.1} ms (best {best_parse:.1})",
        versions[0].len() as f64 / 1e6
    );
    store.generation()
}

fn deny_set() -> AHashSet<i64> {
    let mut set = AHashSet::with_hasher(RandomState::with_seeds(0x243f_6a88, 0x85a3_08d3, 1, 2));
    set.extend((0..EXCLUDED as i64).map(|i| -1_001_000_000_000 - i * 13));
    set
}

/// The engine and the tuned baseline give the same answers on the stream.
fn check_agreement(bot: &Bot, tuned: &TunedStore, stream: &[Context<'static>]) {
    let snapshot = bot.store.snapshot();
    for ctx in stream {
        for name in MESSAGE_FLAGS {
            assert_eq!(
                snapshot.evaluate(name, ctx),
                tuned.evaluate(name, ctx),
                "{name}"
            );
        }
    }
}
