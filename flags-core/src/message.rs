//! [`Message`]: the flags one message asked about, in which cohort and
//! segment, and the one outcome the bot reports for it (docs/spec.md "Outcomes").

use std::ops::Deref;

use crate::decision::{Context, Decision, Reason};
use crate::outcomes::{Cohort, Outcome, Segment, Via};
use crate::snapshot::{Handle, Snapshot};

/// Flags whose exposure a [`Message`] keeps on the stack: two bits for
/// each of the first 256 flags of the file, 64 bytes. A file with more
/// flags still works; see [`Message`].
pub const INLINE_FLAGS: usize = 256;
/// Flags per word of exposure pairs.
const PAIRS_PER_WORD: usize = 32;
const INLINE_WORDS: usize = INLINE_FLAGS / PAIRS_PER_WORD;

/// One incoming message: evaluates flags on one version of the file,
/// remembers which flags it asked about (*exposed*) and in which cohort,
/// and counts one outcome for all of them.
///
/// ```
/// use std::time::{Duration, Instant};
/// use flags_core::{Context, FlagStore, Outcome};
/// # let store = FlagStore::from_json(r#"{"version": 1, "flags": {"new_gpt_model": {"enabled": true, "rollout_percentage": 50}}}"#)?;
///
/// let started = Instant::now();
/// let mut msg = store.message(Context::new().user(123));
/// if msg.is_enabled("new_gpt_model") {  // exposes new_gpt_model
///     // …answer with the new model
/// }
/// assert!(msg.record(Outcome::ok(started.elapsed())));
/// assert!(!msg.record(Outcome::ok(started.elapsed())), "once per message");
/// # Ok::<(), flags_core::Error>(())
/// ```
///
/// - Only flags asked through the message are exposed; a flag counts in
///   its cohort ([`Cohort::of`]): `on` for any decision that turned it on,
///   `off` only when the rollout step turned it off. Other offs and unknown
///   flags are exposed to nothing.
/// - The message keeps the snapshot it evaluated on (`S`: a `&Snapshot`, a
///   [`crate::SnapshotGuard`] or an `Arc<Snapshot>`), so a reload between
///   the check and [`Message::record`] cannot count the outcome against
///   another version's flags.
/// - [`Message::record`] counts once; later calls count nothing and return
///   `false`. Dropping a message without recording counts nothing.
/// - No allocation, no lock, no clock: the bot measures the duration. For
///   files of more than [`INLINE_FLAGS`] flags, the first exposure of a
///   flag past that position allocates one bit array for the rest of the
///   file (a quarter of a byte per flag), once per message.
pub struct Message<'c, S: Deref<Target = Snapshot>> {
    snapshot: S,
    ctx: Context<'c>,
    exposures: Exposures,
    recorded: bool,
}

impl<S: Deref<Target = Snapshot>> std::fmt::Debug for Message<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("generation", &self.snapshot.generation())
            .field("ctx", &self.ctx)
            .field("recorded", &self.recorded)
            .finish_non_exhaustive()
    }
}

impl<'c, S: Deref<Target = Snapshot>> Message<'c, S> {
    /// A message over `snapshot` (hold it for this message only).
    #[inline]
    pub fn new(snapshot: S, ctx: Context<'c>) -> Self {
        Message {
            snapshot,
            ctx,
            exposures: Exposures::default(),
            recorded: false,
        }
    }

    /// The version of the file this message evaluates on.
    #[inline]
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    pub fn context(&self) -> &Context<'c> {
        &self.ctx
    }

    /// Evaluates flag `name` and exposes it.
    // Always inlined, as evaluation is: a call costs more than exposing
    // (saved registers, the decision returned through memory).
    #[inline(always)]
    pub fn evaluate(&mut self, name: &str) -> Decision {
        match self.snapshot.position(name) {
            Some(position) => self.evaluate_position(position),
            None => self.snapshot.evaluate(name, &self.ctx),
        }
    }

    /// Whether flag `name` is on (`false` for a flag the file does not
    /// define); exposes it.
    #[inline(always)]
    pub fn is_enabled(&mut self, name: &str) -> bool {
        self.evaluate(name).enabled
    }

    /// Whether flag `name` is on; `default` for a flag the file does not
    /// define (which is exposed to nothing).
    #[inline(always)]
    pub fn is_enabled_or(&mut self, name: &str, default: bool) -> bool {
        let decision = self.evaluate(name);
        match decision.reason {
            Reason::UnknownFlag => default,
            _ => decision.enabled,
        }
    }

    /// Evaluates the flag behind `handle` and exposes it.
    #[inline(always)]
    pub fn evaluate_handle(&mut self, handle: Handle) -> Decision {
        match self.snapshot.handle_position(handle) {
            Some(position) => self.evaluate_position(position),
            None => self.snapshot.evaluate_handle(handle, &self.ctx),
        }
    }

    #[inline(always)]
    fn evaluate_position(&mut self, position: usize) -> Decision {
        let flags = self.snapshot.len();
        let exposures = &mut self.exposures;
        self.snapshot
            .evaluate_known(position, &self.ctx, |decision| {
                exposures.expose(position, decision, flags)
            })
    }

    /// The cohort flag `name` is exposed in for this message, or `None`
    /// when the message has not asked about it or it is in no cohort.
    pub fn cohort(&self, name: &str) -> Option<Cohort> {
        Some(self.segment(name)?.cohort)
    }

    /// The segment flag `name` is exposed in for this message (its cohort,
    /// the step that put it there, the message's chat type), or `None`
    /// when the message has not asked about it or it is in no cohort.
    pub fn segment(&self, name: &str) -> Option<Segment> {
        let (cohort, via) = self.exposures.kind(self.snapshot.position(name)?)?;
        Some(Segment {
            cohort,
            via,
            chat_type: self.ctx.chat_type,
        })
    }

    /// Whether an outcome was recorded for this message.
    pub fn is_recorded(&self) -> bool {
        self.recorded
    }

    /// Counts `outcome` for every flag this message exposed, in its cohort.
    /// Returns `true` the first time, `false` (counting nothing) after.
    #[inline]
    pub fn record(&mut self, outcome: Outcome) -> bool {
        if self.recorded {
            return false;
        }
        self.recorded = true;
        let e = &self.exposures;
        let chat_type = self.ctx.chat_type;
        self.snapshot
            .record_outcome_pairs(0, &e.inline, outcome, chat_type);
        if let Some(spill) = &e.spill {
            self.snapshot
                .record_outcome_pairs(INLINE_FLAGS, spill, outcome, chat_type);
        }
        true
    }
}

/// The exposed flags, two bits per flag position (bits `2p` and `2p + 1`
/// of word `p / 32`): the low bit says the decision was on, the high bit
/// that the rollout step decided. `on` is the low bit, through a group
/// when alone (an enabled decision is `group` or `rollout`), through the
/// rollout with the high bit; `off` is the high bit alone; neither bit,
/// not exposed or in no cohort. So the segment costs no bit of its own.
///
/// Why pairs rather than an `on` and an `off` bit set: a check then costs
/// one shift and one OR into one word instead of two.
#[derive(Debug, Default)]
struct Exposures {
    inline: [u64; INLINE_WORDS],
    /// Positions from [`INLINE_FLAGS`] on, in the same layout.
    spill: Option<Box<[u64]>>,
}

impl Exposures {
    #[inline(always)]
    fn expose(&mut self, position: usize, decision: &Decision, flags: usize) {
        let pair = u64::from(decision.enabled) | u64::from(decision.reason == Reason::Rollout) << 1;
        // The shift wraps at 64 as x86's and Arm's shift instructions do,
        // so it needs no masking.
        let bits = pair.wrapping_shl((2 * position) as u32);
        let word = position / PAIRS_PER_WORD;
        match self.inline.get_mut(word) {
            Some(exposed) => *exposed |= bits,
            None => self.expose_spilled(word - INLINE_WORDS, bits, flags),
        }
    }

    #[cold]
    #[inline(never)]
    fn expose_spilled(&mut self, word: usize, bits: u64, flags: usize) {
        let words = flags
            .div_ceil(PAIRS_PER_WORD)
            .saturating_sub(INLINE_WORDS)
            .max(word + 1);
        let spill = self
            .spill
            .get_or_insert_with(|| vec![0; words].into_boxed_slice());
        spill[word] |= bits;
    }

    fn kind(&self, position: usize) -> Option<(Cohort, Via)> {
        let word = position / PAIRS_PER_WORD;
        let bits = match self.inline.get(word) {
            Some(&bits) => bits,
            None => *self.spill.as_deref()?.get(word - INLINE_WORDS)?,
        };
        match bits >> (2 * position % 64) & 0b11 {
            0b01 => Some((Cohort::On, Via::Group)),
            0b11 => Some((Cohort::On, Via::Rollout)),
            0b10 => Some((Cohort::Off, Via::Rollout)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_small_enough_for_the_stack() {
        // The inline pairs, the spill pointer, the snapshot and context.
        assert!(std::mem::size_of::<Message<'_, &Snapshot>>() <= 160);
    }
}
