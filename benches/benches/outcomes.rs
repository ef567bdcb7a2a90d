//! Outcomes (docs/spec.md "Outcomes"): what exposure adds to a check, and what
//! recording one outcome costs. The 10-flag message of `per_message`, with
//! 1 000 excluded chats per flag, messages rotating through 1 024 users.
//!
//! - `reader_by_handle` is `per_message/reader_by_handle` again, in the same
//!   run, as the baseline of `message_by_handle` (the same ten checks
//!   through a `Message`, which exposes each): their difference over ten is
//!   what exposure adds per check.
//! - `record_3_exposed` times only `Message::record` for a message that
//!   asked three flags (made in criterion's untimed setup).
//! - `message_3_flags_and_record`: a whole message's outcome work.

mod common;

use std::hint::black_box;
use std::time::Duration;

use benches::fixtures::{message_flags, messages};
use benches::message::Bot;
use common::{MESSAGES, each_message};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use flags_core::{FlagStore, Message, Outcome};

fn outcomes(c: &mut Criterion) {
    let bot = Bot::new(FlagStore::from_json(&message_flags(1000, 0)).expect("valid fixture"));
    let stream = messages(MESSAGES);
    let mut group = c.benchmark_group("outcomes");
    group.throughput(Throughput::Elements(1));

    let mut reader = bot.store.reader();
    group.bench_function("reader_by_handle", |b| {
        each_message(b, &stream, |m| bot.by_handle_on(reader.snapshot(), m))
    });
    group.bench_function("message_by_handle", |b| {
        each_message(b, &stream, |m| {
            let mut msg = reader.message(*m);
            let on: u32 = bot
                .handles
                .iter()
                .map(|&handle| u32::from(msg.evaluate_handle(handle).enabled))
                .sum();
            black_box(&msg);
            on
        })
    });

    let snapshot = bot.store.snapshot_arc();
    let three = [bot.handles[0], bot.handles[1], bot.handles[4]];
    let mut i = 0;
    group.bench_function("record_3_exposed", |b| {
        b.iter_batched_ref(
            || {
                i = (i + 1) % MESSAGES;
                let mut msg = Message::new(&*snapshot, stream[i]);
                for handle in three {
                    msg.evaluate_handle(handle);
                }
                msg
            },
            |msg| msg.record(Outcome::ok(Duration::from_millis(840))),
            BatchSize::SmallInput,
        )
    });
    // The timing means "3 flags counted" only if the exposures land in a
    // cohort: check the fixture's messages once.
    let in_a_cohort: usize = stream
        .iter()
        .map(|ctx| {
            let mut msg = Message::new(&*snapshot, *ctx);
            [0, 1, 4]
                .into_iter()
                .filter(|&f| {
                    msg.evaluate_handle(bot.handles[f]);
                    msg.cohort(benches::fixtures::MESSAGE_FLAGS[f]).is_some()
                })
                .count()
        })
        .sum();
    assert!(
        in_a_cohort * 10 >= stream.len() * 3 * 9,
        "only {in_a_cohort} of {} exposures are in a cohort",
        stream.len() * 3
    );

    group.bench_function("message_3_flags_and_record", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % MESSAGES;
            let mut msg = reader.message(*black_box(&stream[i]));
            for handle in three {
                black_box(msg.evaluate_handle(handle));
            }
            msg.record(Outcome::error(Duration::from_micros(i as u64 * 997)))
        })
    });
    group.finish();
}

criterion_group!(benches, outcomes);
criterion_main!(benches);
