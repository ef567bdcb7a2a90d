//! What the criterion benches that take one message a call share (a
//! module of each bench, not a bench of its own).

use std::hint::black_box;

use criterion::Bencher;
use flags_core::Context;

/// How many messages a stream has: distinct users and chats, so that caches
/// and branch predictors see a stream, not one message repeated.
pub const MESSAGES: usize = 1024;

/// Times `job` on the next message of `stream` (of [`MESSAGES`]) each call.
pub fn each_message<T>(
    b: &mut Bencher<'_>,
    stream: &[Context<'static>],
    mut job: impl FnMut(&Context<'static>) -> T,
) {
    let mut i = 0;
    b.iter(|| {
        i = (i + 1) % MESSAGES;
        job(black_box(&stream[i]))
    })
}
