//! The bot's real job: the ten flags of one message (each flag excluding
//! 1 000 chats), every way the API offers. Messages rotate through 1 024
//! distinct users and chats so caches and branch predictors see a stream,
//! not one message repeated. `reader_*` take the snapshot from a `Reader`
//! kept across messages, as a worker thread does.

mod common;

use benches::fixtures::{message_flags, messages};
use benches::message::{Bot, WAYS};
use common::{MESSAGES, each_message};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flags_core::FlagStore;

fn per_message(c: &mut Criterion) {
    let bot = Bot::new(FlagStore::from_json(&message_flags(1000, 0)).expect("valid fixture"));
    let stream = messages(MESSAGES);
    let mut group = c.benchmark_group("per_message");
    group.throughput(Throughput::Elements(1));
    for (name, job) in WAYS {
        group.bench_function(name, |b| each_message(b, &stream, |m| job(&bot, m)));
    }
    // A worker thread's way: a `Reader` kept across messages, one
    // `Reader::snapshot` per message instead of a guard.
    let mut reader = bot.store.reader();
    group.bench_function("reader_by_handle", |b| {
        each_message(b, &stream, |m| bot.by_handle_on(reader.snapshot(), m))
    });
    group.bench_function("reader_by_name", |b| {
        each_message(b, &stream, |m| bot.by_name_on(reader.snapshot(), m))
    });
    group.finish();
}

criterion_group!(benches, per_message);
criterion_main!(benches);
