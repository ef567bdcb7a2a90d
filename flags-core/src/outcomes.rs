//! What the flags did to the messages (docs/spec.md "Outcomes"): per flag,
//! outcomes by segment (cohort, the step that decided, chat type) and
//! result, a duration histogram by cohort, and complaints, counted without
//! locks and without allocating.
//!
//! The counters are striped exactly like the decision counters
//! ([`crate::counters`]): a thread bumps the cells of its own stripe with a
//! plain load and store, threads past the exclusive stripes share an
//! overflow stripe with `fetch_add`, and readers sum the stripes. Durations
//! are summed as integer microseconds, so the sum is exact whatever order
//! threads add in (a float sum would depend on it), and it saturates instead
//! of wrapping: Prometheus reads a `_sum` that goes down as a counter reset.
//! In microseconds a u64 holds 584,000 handling-years per flag and cohort
//! (about 348 years of 2,000 messages a second taking 0.84 s each; in
//! nanoseconds it was 127 days).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::counters::{EXCLUSIVE_STRIPES, StripeIndex, bump, bump_saturating};
use crate::decision::{Decision, Reason};
use crate::model::ChatType;

/// Upper bounds (`le`, in seconds) of the duration histogram's buckets,
/// besides `+Inf`. Fixed by docs/spec.md "Outcomes": 2 s and 5 s are the deployment plan's
/// alert and rollback thresholds, so counts above them are exact.
pub const DURATION_BOUNDS: [f64; 10] = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];

/// [`DURATION_BOUNDS`] in nanoseconds, which is how durations are compared
/// (so a duration exactly at a bound lands in that bound's bucket).
const BOUND_NANOS: [u64; 10] = [
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_000_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
];

/// The longest duration the bindings accept for one message's handling, in
/// seconds: a day. Anything longer is a unit mistake (`time.time_ns()`,
/// milliseconds, an epoch timestamp), refused rather than counted.
pub const MAX_OUTCOME_SECONDS: u64 = 86_400;

/// Buckets of the histogram: one per bound, plus `+Inf`.
pub const DURATION_BUCKETS: usize = DURATION_BOUNDS.len() + 1;

/// Which side of a rollout a message was on, for one flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cohort {
    /// The flag was on for the message, whatever step decided.
    On,
    /// The rollout step turned the flag off (reason `rollout`, bucket at or
    /// above the threshold): the control group.
    Off,
}

impl Cohort {
    /// Both cohorts, in the order metrics list them.
    pub const ALL: [Cohort; 2] = [Cohort::On, Cohort::Off];

    /// The cohort a decision puts its message in, or `None` for an off that
    /// is no fair control group (disabled, excluded chat, chat type, missing
    /// key, unknown flag): docs/spec.md "Outcomes".
    #[inline]
    pub fn of(decision: &Decision) -> Option<Cohort> {
        if decision.enabled {
            Some(Cohort::On)
        } else if decision.reason == Reason::Rollout {
            Some(Cohort::Off)
        } else {
            None
        }
    }

    /// `"on"` or `"off"`, the metrics' label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Cohort::On => "on",
            Cohort::Off => "off",
        }
    }
}

/// Which evaluation step put a message in its cohort: the user's group
/// (targeting: beta testers, staff) or the percentage rollout. A flag at
/// 100 % (or a plain `"enabled": true`) is on through the rollout step, so
/// its messages count as `Rollout`; the `off` cohort is always `Rollout`,
/// as only that step turns a flag off into the control group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// The user is in one of the flag's `user_groups`.
    Group,
    /// The percentage rollout decided (on below the threshold, or at 100 %).
    Rollout,
}

impl Via {
    /// `"group"` or `"rollout"`, the metrics' label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Via::Group => "group",
            Via::Rollout => "rollout",
        }
    }
}

/// The `chat_type` label value of a message without a chat type.
pub const NO_CHAT_TYPE: &str = "none";

/// The `chat_type` label value of a message's chat type: one of the four
/// Telegram types or [`NO_CHAT_TYPE`], so the label has at most five values.
pub const fn chat_type_label(chat_type: Option<ChatType>) -> &'static str {
    match chat_type {
        Some(chat_type) => chat_type.as_str(),
        None => NO_CHAT_TYPE,
    }
}

/// Chat-type label values: the four [`ChatType`]s, then none.
const CHAT_TYPES: usize = ChatType::ALL.len() + 1;

/// The index of a chat type among the segments' chat types.
#[inline(always)]
pub(crate) const fn chat_type_index(chat_type: Option<ChatType>) -> usize {
    match chat_type {
        Some(chat_type) => chat_type as usize,
        None => ChatType::ALL.len(),
    }
}

/// The part of a flag's outcomes that one message lands in: its cohort,
/// the step that put it there, and the message's chat type. Outcome counts
/// are kept per segment; durations per cohort only (a histogram per
/// segment would multiply the series by fifteen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Segment {
    pub cohort: Cohort,
    pub via: Via,
    pub chat_type: Option<ChatType>,
}

/// How a flag was exposed, as far as segments go: on through a group, on
/// through the rollout, or off through the rollout (the only possible
/// three; `off` through a group does not exist).
const KINDS: [(Cohort, Via); 3] = [
    (Cohort::On, Via::Group),
    (Cohort::On, Via::Rollout),
    (Cohort::Off, Via::Rollout),
];
pub(crate) const ON_GROUP: usize = 0;
pub(crate) const ON_ROLLOUT: usize = 1;
pub(crate) const OFF: usize = 2;

/// Segments of one flag: three kinds × five chat types.
pub const SEGMENTS: usize = KINDS.len() * CHAT_TYPES;

impl Segment {
    /// Every chat type a segment can have, in the order metrics list them:
    /// the four [`ChatType`]s, then none.
    pub const CHAT_TYPES: [Option<ChatType>; CHAT_TYPES] = [
        Some(ChatType::Private),
        Some(ChatType::Group),
        Some(ChatType::Supergroup),
        Some(ChatType::Channel),
        None,
    ];

    /// Every segment, in the order metrics list them: `on` via group, `on`
    /// via rollout, `off`; within each, private, group, supergroup,
    /// channel, none.
    pub fn all() -> impl Iterator<Item = Segment> {
        (0..SEGMENTS).map(Segment::at)
    }

    /// The segment a decision puts a message with `chat_type` in, or
    /// `None` when the decision puts it in no cohort ([`Cohort::of`]).
    pub fn of(decision: &Decision, chat_type: Option<ChatType>) -> Option<Segment> {
        let cohort = Cohort::of(decision)?;
        let via = match decision.reason {
            Reason::Group => Via::Group,
            _ => Via::Rollout,
        };
        Some(Segment {
            cohort,
            via,
            chat_type,
        })
    }

    fn at(index: usize) -> Segment {
        let (cohort, via) = KINDS[index / CHAT_TYPES];
        Segment {
            cohort,
            via,
            chat_type: Segment::CHAT_TYPES[index % CHAT_TYPES],
        }
    }

    /// This segment's position in [`OutcomeCounts::segments`]; `None` for
    /// `off` via group, which no decision makes.
    pub fn index(self) -> Option<usize> {
        let kind = match (self.cohort, self.via) {
            (Cohort::On, Via::Group) => ON_GROUP,
            (Cohort::On, Via::Rollout) => ON_ROLLOUT,
            (Cohort::Off, Via::Rollout) => OFF,
            (Cohort::Off, Via::Group) => return None,
        };
        Some(kind * CHAT_TYPES + chat_type_index(self.chat_type))
    }
}

/// How handling one message went: reported once per message, counted for
/// every flag the message exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Outcome {
    /// Whether handling failed.
    pub error: bool,
    /// How long handling took.
    pub duration: Duration,
}

impl Outcome {
    /// Handling succeeded and took `duration`.
    pub const fn ok(duration: Duration) -> Outcome {
        Outcome {
            error: false,
            duration,
        }
    }

    /// Handling failed after `duration`.
    pub const fn error(duration: Duration) -> Outcome {
        Outcome {
            error: true,
            duration,
        }
    }
}

/// The outcomes of one cohort of one flag, summed over every thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CohortCounts {
    /// Summed over the cohort's segments.
    pub ok: u64,
    pub error: u64,
    /// Cumulative, as Prometheus exposes them: `buckets[i]` counts the
    /// outcomes that took at most `DURATION_BOUNDS[i]` seconds; the last is
    /// `+Inf`, every outcome.
    pub buckets: [u64; DURATION_BUCKETS],
    /// Sum of the durations, each rounded to the nearest microsecond; stops
    /// at `u64::MAX` rather than wrapping.
    pub sum_micros: u64,
}

impl CohortCounts {
    /// Outcomes counted in the histogram (its `+Inf` bucket).
    pub fn count(&self) -> u64 {
        self.buckets[DURATION_BUCKETS - 1]
    }

    /// Sum of the durations, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_micros as f64 / 1e6
    }
}

/// Everything counted about one flag's outcomes since it appeared in the
/// store's file (like decision counts, they survive reloads that keep the
/// flag and start again from zero for a flag removed and added back).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct OutcomeCounts {
    pub on: CohortCounts,
    pub off: CohortCounts,
    pub complaints: u64,
    /// Outcomes by segment, in [`Segment::all`]'s order (see
    /// [`OutcomeCounts::segment`]).
    pub segments: [ResultCounts; SEGMENTS],
}

/// Outcomes of one segment, by result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ResultCounts {
    pub ok: u64,
    pub error: u64,
}

impl OutcomeCounts {
    pub fn cohort(&self, cohort: Cohort) -> &CohortCounts {
        match cohort {
            Cohort::On => &self.on,
            Cohort::Off => &self.off,
        }
    }

    /// The outcomes of `segment` (zero for `off` via group, which no
    /// decision makes).
    pub fn segment(&self, segment: Segment) -> ResultCounts {
        segment
            .index()
            .map_or_else(ResultCounts::default, |i| self.segments[i])
    }
}

/// A stripe's timing cells for one cohort: a bucket per bound and `+Inf`
/// (not cumulative), and the sum in microseconds.
const SUM: usize = DURATION_BUCKETS;
const TIMING_CELLS: usize = SUM + 1;

/// One thread's outcome cells, on cache lines of its own: ok and error per
/// segment, and the histogram of each cohort.
#[derive(Default)]
#[repr(align(64))]
struct OutcomeStripe {
    results: [[AtomicU64; 2]; SEGMENTS],
    timing: [[AtomicU64; TIMING_CELLS]; 2],
}

/// The outcome counters of one flag.
#[derive(Default)]
pub(crate) struct OutcomeCounters {
    stripes: [OutcomeStripe; EXCLUSIVE_STRIPES + 1],
    /// Complaints are rare (a `/feedback` command), so one shared atomic.
    complaints: AtomicU64,
}

/// An outcome in the form the counters take it, computed once per message
/// and shared by every flag it is counted for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tallied {
    result: usize,
    bucket: usize,
    micros: u64,
    /// The message's chat type ([`chat_type_index`]).
    chat: usize,
}

impl Tallied {
    #[inline]
    pub(crate) fn new(outcome: Outcome, chat_type: Option<ChatType>) -> Tallied {
        // Durations past u64 nanoseconds (584 years) saturate.
        let nanos = u64::try_from(outcome.duration.as_nanos()).unwrap_or(u64::MAX);
        Tallied {
            result: usize::from(outcome.error),
            bucket: bucket_of(nanos),
            micros: nanos / 1000 + u64::from(nanos % 1000 >= 500),
            chat: chat_type_index(chat_type),
        }
    }

    /// The segment index of this message's outcomes for flags exposed as
    /// `kind` ([`ON_GROUP`], [`ON_ROLLOUT`] or [`OFF`]): computed once per
    /// kind, not per flag.
    #[inline(always)]
    pub(crate) fn segment(&self, kind: usize) -> SegmentIndex {
        SegmentIndex {
            segment: (kind * CHAT_TYPES + self.chat).min(SEGMENTS - 1),
            cohort: usize::from(kind == OFF),
        }
    }
}

/// Where one kind of exposure counts in a stripe: its segment's results
/// (below [`SEGMENTS`]) and its cohort's histogram (0 `on`, 1 `off`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegmentIndex {
    segment: usize,
    cohort: usize,
}

/// The (non-cumulative) bucket a duration falls in: the first bound at or
/// above it, or `+Inf`.
#[inline]
fn bucket_of(nanos: u64) -> usize {
    BOUND_NANOS.iter().map(|&b| usize::from(nanos > b)).sum()
}

impl OutcomeCounters {
    /// Counts one outcome in `segment` on the calling thread's `stripe`.
    #[inline(always)]
    pub(crate) fn record_on(&self, stripe: StripeIndex, segment: SegmentIndex, outcome: Tallied) {
        let cells = &self.stripes[stripe.get()];
        bump(
            &cells.results[segment.segment][outcome.result & 1],
            stripe,
            1,
        );
        let timing = &cells.timing[segment.cohort & 1];
        bump(&timing[outcome.bucket.min(DURATION_BUCKETS - 1)], stripe, 1);
        bump_saturating(&timing[SUM], stripe, outcome.micros);
    }

    pub(crate) fn complain(&self) {
        self.complaints.fetch_add(1, Ordering::Relaxed);
    }

    /// A cohort's histogram, its ok and error left at zero.
    fn cohort_timing(&self, cohort: Cohort) -> CohortCounts {
        let mut cells = [0u64; TIMING_CELLS];
        for stripe in &self.stripes {
            let timing = &stripe.timing[cohort as usize];
            for (total, cell) in cells[..SUM].iter_mut().zip(timing) {
                *total = total.wrapping_add(cell.load(Ordering::Relaxed));
            }
            cells[SUM] = cells[SUM].saturating_add(timing[SUM].load(Ordering::Relaxed));
        }
        let mut buckets = [0u64; DURATION_BUCKETS];
        let mut below = 0u64;
        for (cumulative, count) in buckets.iter_mut().zip(&cells[..SUM]) {
            below = below.wrapping_add(*count);
            *cumulative = below;
        }
        CohortCounts {
            ok: 0,
            error: 0,
            buckets,
            sum_micros: cells[SUM],
        }
    }

    pub(crate) fn counts(&self) -> OutcomeCounts {
        let mut segments = [ResultCounts::default(); SEGMENTS];
        for stripe in &self.stripes {
            for (total, cells) in segments.iter_mut().zip(&stripe.results) {
                total.ok = total.ok.wrapping_add(cells[0].load(Ordering::Relaxed));
                total.error = total.error.wrapping_add(cells[1].load(Ordering::Relaxed));
            }
        }
        let mut on = self.cohort_timing(Cohort::On);
        let mut off = self.cohort_timing(Cohort::Off);
        for (index, counts) in segments.iter().enumerate() {
            let cohort = if index >= OFF * CHAT_TYPES {
                &mut off
            } else {
                &mut on
            };
            cohort.ok = cohort.ok.wrapping_add(counts.ok);
            cohort.error = cohort.error.wrapping_add(counts.error);
        }
        OutcomeCounts {
            on,
            off,
            complaints: self.complaints.load(Ordering::Relaxed),
            segments,
        }
    }
}

impl std::fmt::Debug for OutcomeCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OutcomeCounters")
            .field(&self.counts())
            .finish()
    }
}

/// Seconds as a [`Duration`] for the bindings, which take seconds as a
/// float: an error text for a negative, NaN or infinite value, or one over
/// [`MAX_OUTCOME_SECONDS`] (a unit mistake, not a message's handling).
pub fn duration_from_seconds(seconds: f64) -> Result<Duration, String> {
    if seconds.is_nan() {
        return Err("seconds is NaN; expected a duration in seconds, 0 or more".into());
    }
    if seconds < 0.0 {
        return Err(format!(
            "seconds is {seconds}; a duration cannot be negative"
        ));
    }
    if seconds > MAX_OUTCOME_SECONDS as f64 {
        return Err(format!(
            "seconds is {seconds}; a message's handling takes at most {MAX_OUTCOME_SECONDS} \
             seconds (a day): is it in another unit, or a timestamp?"
        ));
    }
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("seconds is {seconds}; expected a finite duration in seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_in_nanos_are_the_bounds_in_seconds() {
        for (seconds, nanos) in DURATION_BOUNDS.iter().zip(BOUND_NANOS) {
            assert_eq!((seconds * 1e9).round() as u64, nanos);
        }
    }

    #[test]
    fn a_duration_at_a_bound_lands_in_that_bounds_bucket() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(25_000_000), 0);
        assert_eq!(bucket_of(25_000_001), 1);
        assert_eq!(bucket_of(2_000_000_000), 6);
        assert_eq!(bucket_of(5_000_000_000), 7);
        assert_eq!(bucket_of(5_000_000_001), 8);
        assert_eq!(bucket_of(30_000_000_000), 9);
        assert_eq!(bucket_of(30_000_000_001), 10);
        assert_eq!(bucket_of(u64::MAX), 10);
    }

    #[test]
    fn durations_are_summed_to_the_nearest_microsecond() {
        let micros = |nanos| Tallied::new(Outcome::ok(Duration::from_nanos(nanos)), None).micros;
        assert_eq!(micros(0), 0);
        assert_eq!(micros(499), 0);
        assert_eq!(micros(500), 1);
        assert_eq!(micros(840_000_000), 840_000);
        assert_eq!(micros(u64::MAX), u64::MAX / 1000 + 1);
    }

    #[test]
    fn the_sum_saturates_on_every_stripe_and_in_the_total() {
        let counters = OutcomeCounters::default();
        // Past what any Outcome makes (a u64 of nanoseconds is 1.8e16 us),
        // so that a few wrap a u64 of microseconds on one stripe.
        let huge = Tallied {
            result: 0,
            bucket: DURATION_BUCKETS - 1,
            micros: u64::MAX / 4 + 1,
            chat: 0,
        };
        let mut last = 0;
        for stripe in [
            0,
            0,
            0,
            0,
            0,
            1,
            crate::counters::OVERFLOW,
            crate::counters::OVERFLOW,
        ] {
            counters.record_on(
                StripeIndex::for_tests(stripe),
                huge.segment(ON_ROLLOUT),
                huge,
            );
            let sum = counters.counts().on.sum_micros;
            assert!(sum >= last, "the sum went down: {last} -> {sum}");
            last = sum;
        }
        assert_eq!(last, u64::MAX);
        assert_eq!(counters.counts().on.count(), 8);
    }

    /// The index the hot path computes (per kind of exposure and chat
    /// type) is the segment metrics list at that position.
    #[test]
    fn the_recorded_index_is_the_listed_segment() {
        let mut seen = [false; SEGMENTS];
        for (kind, (cohort, via)) in KINDS.into_iter().enumerate() {
            for chat_type in Segment::CHAT_TYPES {
                let at = Tallied::new(Outcome::ok(Duration::ZERO), chat_type).segment(kind);
                let segment = Segment {
                    cohort,
                    via,
                    chat_type,
                };
                assert_eq!(Segment::all().nth(at.segment), Some(segment));
                assert_eq!(segment.index(), Some(at.segment));
                assert_eq!(at.cohort, cohort as usize);
                seen[at.segment] = true;
            }
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(
            [ON_GROUP, ON_ROLLOUT, OFF].map(|k| KINDS[k]),
            [
                (Cohort::On, Via::Group),
                (Cohort::On, Via::Rollout),
                (Cohort::Off, Via::Rollout)
            ]
        );
    }

    #[test]
    fn stripes_are_whole_cache_lines() {
        assert_eq!(std::mem::size_of::<OutcomeStripe>() % 64, 0);
        assert_eq!(std::mem::align_of::<OutcomeStripe>(), 64);
    }

    #[test]
    fn seconds_are_checked() {
        assert_eq!(
            duration_from_seconds(0.84),
            Ok(Duration::from_secs_f64(0.84))
        );
        assert_eq!(duration_from_seconds(0.0), Ok(Duration::ZERO));
        assert_eq!(
            duration_from_seconds(86_400.0),
            Ok(Duration::from_secs(86_400))
        );
        for bad in [
            -0.1,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            86_400.001,
            1e10,
            1.7e18, // time.time_ns() passed as seconds
        ] {
            assert!(duration_from_seconds(bad).is_err(), "{bad}");
        }
    }
}
