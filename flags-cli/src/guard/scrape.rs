//! `--scrape URL`: the guard reads every bot process's `/metrics` itself and
//! keeps, per process and per *planned* flag only, the history it needs in
//! bounded memory: at most [`HISTORY_POINTS`] + 2 scrapes spread over the
//! plan's window, and the complaint counters once a minute over the hour.
//!
//! Increases are computed as Prometheus does for counters: the sum of the
//! differences between consecutive scrapes, without extrapolation.
//!
//! **No data is never zero.** A series of a planned flag that is missing
//! from a scrape, NaN, negative or infinite, or a cohort whose buckets are
//! not cumulative or exceed their `+Inf` bucket, is a bad sample: that
//! count is NaN at that scrape, so every window that starts or ends there
//! is *no data* for the triggers that read it (never a healthy zero, never
//! a 100 % slow share). A reply that does not end with a newline is cut
//! off: a source error, nothing read.
//!
//! **Segments.** A slot sums every series that fills it: the library splits
//! each cohort's outcome counters by `via` and `chat_type` (fifteen series
//! per flag and result), and a bot of an older version has one series per
//! cohort and result; both read the same. One bad series spoils its slot.
//!
//! **Counter resets.** A bot restart is normal and counts from zero. When
//! the process exports `process_start_time_seconds`, a restart is exactly a
//! change of it; a counter that went down while it stayed the same is a bad
//! sample (`decrease`), not a reset. Without it, a scrape is a restart only
//! when at least one of the process's tracked counters went down and none
//! went up (a restarted process restarts every counter at once; one series
//! dropping while the others climb is garbage).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use flags_rollout::jiff::{SignedDuration, Timestamp};
use flags_rollout::measure::{
    CohortWindow, DURATION_BOUNDS, Evidence, FlagWindow, Measurements, MemoryReading,
};
use flags_rollout::state::PhaseCounts;

use super::textformat::{self, Labels};
use crate::http::Client;

// The families read, spelled once in flags-core; the short names are the
// ones this file, phase_counts.rs and prometheus.rs use.
pub use flags_core::metric_names::{
    COMPLAINTS_TOTAL as COMPLAINTS, OUTCOME_DURATION_SECONDS_BUCKET as DURATION_BUCKETS,
    OUTCOMES_TOTAL as OUTCOMES, PROCESS_RESIDENT_MEMORY_BYTES as RESIDENT_MEMORY,
    PROCESS_START_TIME_SECONDS as PROCESS_START,
};

/// Per flag, the counters read: ok/error for `on` and `off`, the ten
/// duration buckets and `+Inf` for `on` and `off`, complaints.
const ON_OK: usize = 0;
const ON_ERROR: usize = 1;
const OFF_OK: usize = 2;
const OFF_ERROR: usize = 3;
const ON_LE: usize = 4;
const BUCKETS: usize = DURATION_BOUNDS.len() + 1;
const OFF_LE: usize = ON_LE + BUCKETS;
const COMPLAINT: usize = OFF_LE + BUCKETS;
const SLOTS: usize = COMPLAINT + 1;

/// Bounds on what one process may make the guard keep.
pub const MAX_FLAGS_PER_PROCESS: usize = 10_000;
/// Scrapes kept per planned flag and process, spread over its window: the
/// window's start is exact to 1/128 of the window (or one interval).
pub const HISTORY_POINTS: usize = 128;
const COMPLAINT_STEP: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Why a sample was not used (`feature_flags_guard_bad_samples_total`).
pub const BAD_REASONS: [&str; 6] = [
    "missing", "nan", "negative", "infinite", "decrease", "buckets",
];

/// One counter series across scrapes: its last raw value and the increase
/// seen since the guard first read it, restarts counted from zero.
#[derive(Debug, Clone, Copy)]
struct Counter {
    last: f64,
    total: f64,
}

impl Counter {
    const UNSEEN: Counter = Counter {
        last: f64::NAN,
        total: 0.0,
    };
}

/// The running totals of one flag at one scrape; NaN where the scrape's
/// sample was bad.
#[derive(Debug, Clone)]
struct Point {
    at: Instant,
    wall: SystemTime,
    totals: [f64; SLOTS],
}

/// One planned flag in one process.
struct Tracked {
    counters: [Counter; SLOTS],
    history: VecDeque<Point>,
    /// (when, complaint total), one a minute over the last hour.
    complaints: VecDeque<(Instant, f64)>,
    /// The phase start it was taken for and the `on` total then.
    phase_baseline: Option<(SystemTime, f64)>,
    /// The phase start and every total then, for the phase's counts
    /// (`--report` without Prometheus); NaN where that scrape was bad.
    phase_point: Option<(SystemTime, Raw)>,
    /// What was wrong with the latest scrape's samples.
    bad: Vec<String>,
}

impl Tracked {
    fn new() -> Tracked {
        Tracked {
            counters: [Counter::UNSEEN; SLOTS],
            // Exactly what it may hold (a scrape is pushed before the
            // oldest goes): growing by doubling would double the budget.
            history: VecDeque::with_capacity(HISTORY_POINTS + 3),
            complaints: VecDeque::new(),
            phase_baseline: None,
            phase_point: None,
            bad: Vec::new(),
        }
    }
}

/// Everything kept about one bot process.
pub struct Process {
    pub url: String,
    tracked: HashMap<String, Tracked>,
    resident_bytes: Option<f64>,
    start_time: Option<f64>,
}

/// What one scrape read of one planned flag.
type Raw = [f64; SLOTS];

/// Why a counter sample is unusable, if it is.
pub fn bad_reason(value: f64) -> Option<&'static str> {
    if value.is_nan() {
        Some("nan")
    } else if value.is_infinite() {
        Some("infinite")
    } else if value < 0.0 {
        Some("negative")
    } else {
        None
    }
}

impl Process {
    pub fn new(url: impl Into<String>) -> Process {
        Process {
            url: url.into(),
            tracked: HashMap::new(),
            resident_bytes: None,
            start_time: None,
        }
    }

    /// Reads one scrape taken at `at` (`wall` on the system clock) for the
    /// `planned` flags and their windows; returns the bad samples' reasons
    /// (one per sample). On an error nothing is changed.
    pub fn ingest(
        &mut self,
        text: &str,
        at: Instant,
        wall: SystemTime,
        planned: &[(String, Duration)],
    ) -> Result<Vec<&'static str>, String> {
        if !text.ends_with('\n') {
            return Err(format!(
                "{}: the reply does not end with a newline (cut off?)",
                self.url
            ));
        }
        let position: HashMap<&str, usize> = planned
            .iter()
            .enumerate()
            .map(|(i, (flag, _))| (flag.as_str(), i))
            .collect();
        let mut raw: Vec<Raw> = vec![[f64::NAN; SLOTS]; planned.len()];
        let mut seen = vec![[false; SLOTS]; planned.len()];
        let mut resident = None;
        let mut start = None;
        let mut flags = 0usize;
        let mut bad: Vec<(usize, usize, &'static str)> = Vec::new();
        textformat::for_each_sample(
            text,
            |name| {
                name == OUTCOMES
                    || name == DURATION_BUCKETS
                    || name == COMPLAINTS
                    || name == RESIDENT_MEMORY
                    || name == PROCESS_START
            },
            |name, labels, value| {
                if name == RESIDENT_MEMORY {
                    resident = Some(value);
                    return;
                }
                if name == PROCESS_START {
                    start = Some(value);
                    return;
                }
                let Some(slot) = slot_of(name, &labels) else {
                    return;
                };
                let Some(flag) = labels.get("flag") else {
                    return;
                };
                // One complaints series per flag, whatever other labels
                // the outcome series carry.
                if slot == COMPLAINT {
                    flags += 1;
                }
                let Some(&index) = position.get(flag.as_ref()) else {
                    return;
                };
                seen[index][slot] = true;
                // A slot sums every series that fills it: the outcome
                // counters come in segments (`via`, `chat_type`), and a
                // bot of an older version without them has one series.
                match bad_reason(value) {
                    Some(reason) => bad.push((index, slot, reason)),
                    None if raw[index][slot].is_nan() => raw[index][slot] = value,
                    None => raw[index][slot] += value,
                }
            },
        )
        .map_err(|e| format!("{}: {e}", self.url))?;
        // One bad series spoils its slot's sum.
        for &(index, slot, _) in &bad {
            raw[index][slot] = f64::NAN;
        }
        if flags > MAX_FLAGS_PER_PROCESS {
            return Err(format!(
                "{}: more than {MAX_FLAGS_PER_PROCESS} flags",
                self.url
            ));
        }
        for (index, row) in seen.iter().enumerate() {
            for (slot, &was) in row.iter().enumerate() {
                if !was {
                    bad.push((index, slot, "missing"));
                }
            }
        }
        // Buckets must be cumulative up to their +Inf bucket.
        for (index, row) in raw.iter_mut().enumerate() {
            for le in [ON_LE, OFF_LE] {
                let b = &mut row[le..le + BUCKETS];
                let finite = b.iter().all(|v| !v.is_nan());
                if finite && b.windows(2).any(|w| w[1] < w[0]) {
                    bad.push((index, le, "buckets"));
                    b.fill(f64::NAN);
                }
            }
        }

        // Forget the flags no longer planned; start the new ones.
        self.tracked
            .retain(|flag, _| planned.iter().any(|(f, _)| f == flag));
        for (flag, _) in planned {
            if !self.tracked.contains_key(flag) {
                self.tracked.insert(flag.clone(), Tracked::new());
            }
        }
        let restarted = match (self.start_time, start.filter(|s| s.is_finite())) {
            (Some(before), Some(now)) => now != before,
            (None, None) => self.all_went_down(planned, &raw),
            _ => false,
        };
        if start.is_some_and(f64::is_finite) {
            self.start_time = start;
        }
        let mut reasons: Vec<&'static str> = bad.iter().map(|b| b.2).collect();
        for (index, (flag, window)) in planned.iter().enumerate() {
            let tracked = self.tracked.get_mut(flag).expect("inserted above");
            tracked.bad = bad
                .iter()
                .filter(|b| b.0 == index)
                .map(|b| format!("{} {}", slot_name(b.1), b.2))
                .collect();
            tracked.bad.dedup();
            let mut totals = [f64::NAN; SLOTS];
            for slot in 0..SLOTS {
                let value = raw[index][slot];
                let counter = &mut tracked.counters[slot];
                if value.is_nan() {
                    continue;
                }
                if counter.last.is_nan() {
                    // First sight: the baseline, counted from here.
                } else if restarted {
                    counter.total += value;
                } else if value >= counter.last {
                    counter.total += value - counter.last;
                } else {
                    reasons.push("decrease");
                    tracked.bad.push(format!("{} decrease", slot_name(slot)));
                    continue;
                }
                counter.last = value;
                totals[slot] = counter.total;
            }
            if tracked.bad.len() > 4 {
                let more = tracked.bad.len() - 3;
                tracked.bad.truncate(3);
                tracked.bad.push(format!("{more} more"));
            }
            remember(tracked, at, wall, totals, *window);
        }
        self.resident_bytes = resident.filter(|v| v.is_finite() && *v >= 0.0);
        Ok(reasons)
    }

    /// Without a start time: some tracked counter went down and none up.
    fn all_went_down(&self, planned: &[(String, Duration)], raw: &[Raw]) -> bool {
        let (mut down, mut up) = (false, false);
        for (index, (flag, _)) in planned.iter().enumerate() {
            let Some(tracked) = self.tracked.get(flag) else {
                continue;
            };
            for (counter, &value) in tracked.counters.iter().zip(&raw[index]) {
                if value.is_nan() || counter.last.is_nan() {
                    continue;
                }
                down |= value < counter.last;
                up |= value > counter.last;
            }
        }
        down && !up
    }

    /// What this process saw of `flag`: its increases over `window` up to
    /// the latest scrape, complaints over the last hour, `on` outcomes since
    /// `phase_started`. NaN where a sample at either end was bad.
    pub fn flag_window(
        &mut self,
        flag: &str,
        window: Duration,
        phase_started: SystemTime,
    ) -> FlagWindow {
        let Some(tracked) = self.tracked.get_mut(flag) else {
            return FlagWindow::default();
        };
        let Some(latest) = tracked.history.back() else {
            return FlagWindow::default();
        };
        let now = latest.at;
        // The newest point at or before the window's start (the window is
        // at most one kept spacing longer), else the oldest; never one
        // taken before the phase started (a phase is judged on its own
        // data), then the first taken since.
        let in_phase = |p: &&Point| p.wall >= phase_started;
        let base = tracked
            .history
            .iter()
            .rev()
            .find(|p| now.duration_since(p.at) >= window)
            .filter(in_phase)
            .or_else(|| tracked.history.iter().find(in_phase))
            .unwrap_or(latest);
        let increase = increases(&latest.totals, &base.totals);
        let complaints_base = tracked
            .complaints
            .iter()
            .find(|(when, _)| now.duration_since(*when) <= HOUR)
            .map_or(f64::NAN, |(_, c)| *c);
        let on_total = |p: &Point| p.totals[ON_OK] + p.totals[ON_ERROR];
        let baseline = match tracked.phase_baseline {
            Some((started, baseline)) if started == phase_started && !baseline.is_nan() => baseline,
            _ => {
                // The first scrape at or after the phase start; a guard that
                // started later counts from its oldest scrape.
                let baseline = tracked
                    .history
                    .iter()
                    .find(|p| p.wall >= phase_started)
                    .map_or_else(|| on_total(latest), on_total);
                tracked.phase_baseline = Some((phase_started, baseline));
                let point = tracked.history.iter().find(|p| p.wall >= phase_started);
                tracked.phase_point =
                    Some((phase_started, point.map_or(latest.totals, |p| p.totals)));
                baseline
            }
        };
        let (on, off) = cohorts(&increase);
        let mut out = FlagWindow {
            on,
            off,
            complaints_last_hour: latest.totals[COMPLAINT] - complaints_base,
            on_outcomes_in_phase: on_total(latest) - baseline,
            bad: tracked.bad.clone(),
        };
        // The +Inf buckets are not in the window; they checked the scrape.
        if out.bad.is_empty() && increase.iter().any(|v| v.is_nan()) {
            out.bad.push(format!(
                "{}: a bad or missing sample in the window",
                self.url
            ));
        } else {
            for b in &mut out.bad {
                *b = format!("{}: {b}", self.url);
            }
        }
        out
    }
}

impl Process {
    /// This process's counts of `flag` since the phase started (or since
    /// the guard first saw it in the phase): each cohort's outcomes and
    /// buckets, and the complaints. `None` before a check measured the
    /// phase.
    pub fn phase_counts(&self, flag: &str, phase_started: SystemTime) -> Option<PhaseCounts> {
        let tracked = self.tracked.get(flag)?;
        let latest = tracked.history.back()?;
        let (started, base) = tracked.phase_point?;
        if started != phase_started {
            return None;
        }
        let increase = increases(&latest.totals, &base);
        let (on, off) = cohorts(&increase);
        Some(PhaseCounts {
            on,
            off,
            complaints: increase[COMPLAINT],
            at: Timestamp::try_from(latest.wall).ok(),
        })
    }
}

impl ScrapeSource {
    /// The phase's counts summed over every process (`None` if any
    /// process has none: a partial sum would pass for the whole).
    pub fn phase_counts(&self, flag: &str, phase_started: SystemTime) -> Option<PhaseCounts> {
        let mut sum = PhaseCounts::default();
        for process in &self.processes {
            let one = process.phase_counts(flag, phase_started)?;
            add(&mut sum.on, &one.on);
            add(&mut sum.off, &one.off);
            sum.complaints += one.complaints;
            sum.at = sum.at.max(one.at);
        }
        Some(sum)
    }
}

/// Every slot's increase from `base` to `latest`: NaN where either was bad.
fn increases(latest: &Raw, base: &Raw) -> Raw {
    std::array::from_fn(|slot| latest[slot] - base[slot])
}

/// The `on` and `off` cohorts' outcomes and buckets among `increase`.
fn cohorts(increase: &Raw) -> (CohortWindow, CohortWindow) {
    let cohort = |ok: usize, error: usize, le: usize| CohortWindow {
        ok: increase[ok],
        errors: increase[error],
        duration_le: std::array::from_fn(|i| increase[le + i]),
    };
    (
        cohort(ON_OK, ON_ERROR, ON_LE),
        cohort(OFF_OK, OFF_ERROR, OFF_LE),
    )
}

/// Keeps `totals` as the newest point, and at most [`HISTORY_POINTS`]
/// older ones spread over `window` (one at or before its start).
fn remember(t: &mut Tracked, at: Instant, wall: SystemTime, totals: Raw, window: Duration) {
    let spacing = window / HISTORY_POINTS as u32;
    let point = Point { at, wall, totals };
    let n = t.history.len();
    if n >= 2 && t.history[n - 1].at.duration_since(t.history[n - 2].at) < spacing {
        // The newest is still too close to the last kept point: this
        // scrape replaces it.
        t.history[n - 1] = point;
    } else {
        t.history.push_back(point);
    }
    while t.history.len() > HISTORY_POINTS + 2
        || (t.history.len() > 2 && at.duration_since(t.history[1].at) >= window)
    {
        t.history.pop_front();
    }
    if t.complaints
        .back()
        .is_none_or(|(when, _)| at.duration_since(*when) >= COMPLAINT_STEP)
    {
        t.complaints.push_back((at, totals[COMPLAINT]));
    } else if let Some(last) = t.complaints.back_mut()
        && last.1.is_nan()
    {
        last.1 = totals[COMPLAINT];
    }
    while t.complaints.len() > 2 && at.duration_since(t.complaints[1].0) >= HOUR {
        t.complaints.pop_front();
    }
}

fn slot_name(slot: usize) -> String {
    let cohort = |s: usize| if s < OFF_LE { "on" } else { "off" };
    match slot {
        ON_OK => "outcomes{on,ok}".into(),
        ON_ERROR => "outcomes{on,error}".into(),
        OFF_OK => "outcomes{off,ok}".into(),
        OFF_ERROR => "outcomes{off,error}".into(),
        COMPLAINT => "complaints".into(),
        s => {
            let i = (s - ON_LE) % BUCKETS;
            let le = DURATION_BOUNDS
                .get(i)
                .map_or("+Inf".to_owned(), |b| b.to_string());
            format!("duration_bucket{{{},le={le}}}", cohort(s))
        }
    }
}

/// Which counter slot a sample of the wanted families fills, if any.
fn slot_of(name: &str, labels: &Labels<'_>) -> Option<usize> {
    if name == COMPLAINTS {
        return Some(COMPLAINT);
    }
    let on = match labels.get("cohort")?.as_ref() {
        "on" => true,
        "off" => false,
        _ => return None,
    };
    if name == OUTCOMES {
        return match (on, labels.get("result")?.as_ref()) {
            (true, "ok") => Some(ON_OK),
            (true, "error") => Some(ON_ERROR),
            (false, "ok") => Some(OFF_OK),
            (false, "error") => Some(OFF_ERROR),
            _ => None,
        };
    }
    let le = labels.get("le")?;
    let bound = if le == "+Inf" {
        DURATION_BOUNDS.len()
    } else {
        let le: f64 = le.parse().ok()?;
        DURATION_BOUNDS
            .iter()
            .position(|b| (b - le).abs() <= 1e-9 * b)?
    };
    Some(if on { ON_LE } else { OFF_LE } + bound)
}

/// A scraped URL as Prometheus names its target: `host:port`, without the
/// scheme, path or query (where a token could sit).
pub fn instance_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_owned()
}

fn add(into: &mut CohortWindow, from: &CohortWindow) {
    into.ok += from.ok;
    into.errors += from.errors;
    for (a, b) in into.duration_le.iter_mut().zip(&from.duration_le) {
        *a += b;
    }
}

/// Every scraped process, and what the last refresh could not read.
pub struct ScrapeSource {
    client: Client,
    pub processes: Vec<Process>,
    memory_limit: f64,
    failure: Option<String>,
    failed_urls: Vec<String>,
    /// The bad samples' reasons of the last refresh.
    pub bad_samples: Vec<&'static str>,
    /// When the last refresh read every process.
    refreshed: Option<SystemTime>,
    /// The least data time between two counted observations.
    spacing: Duration,
}

impl ScrapeSource {
    pub fn new(
        client: Client,
        urls: &[String],
        memory_limit_bytes: u64,
        interval: Duration,
    ) -> ScrapeSource {
        ScrapeSource {
            client,
            processes: urls.iter().map(Process::new).collect(),
            memory_limit: memory_limit_bytes as f64,
            failure: None,
            failed_urls: Vec::new(),
            bad_samples: Vec::new(),
            refreshed: None,
            spacing: interval.mul_f64(0.9),
        }
    }

    /// Scrapes every process once for the planned flags and their windows.
    pub fn refresh(&mut self, planned: &[(String, Duration)]) {
        let mut failures = Vec::new();
        self.failed_urls.clear();
        self.bad_samples.clear();
        for process in &mut self.processes {
            let fetched =
                self.client
                    .get(&process.url, &[], "text/plain;version=0.0.4;q=1,*/*;q=0.1");
            let result = fetched
                .and_then(|text| process.ingest(&text, Instant::now(), SystemTime::now(), planned));
            match result {
                Ok(bad) => self.bad_samples.extend(bad),
                Err(e) => {
                    self.failed_urls.push(process.url.clone());
                    failures.push(e);
                }
            }
        }
        self.failure = (!failures.is_empty()).then(|| failures.join("; "));
        self.refreshed = Some(SystemTime::now());
    }

    /// The URLs that could not be read on the last refresh.
    pub fn failed_urls(&self) -> &[String] {
        &self.failed_urls
    }

    /// The scrape that failed in the last refresh, if any.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// One plan's measurements, summed over every process.
    pub fn measure(
        &mut self,
        flag: &str,
        window: Duration,
        phase_started: SystemTime,
    ) -> Measurements {
        let evidence = self.refreshed.and_then(|t| {
            Some(Evidence {
                at: Timestamp::try_from(t).ok()?,
                spacing: SignedDuration::try_from(self.spacing).ok()?,
            })
        });
        if let Some(failure) = &self.failure {
            return Measurements {
                flag: Err(failure.clone()),
                memory: Err(failure.clone()),
                evidence,
            };
        }
        let mut sum = FlagWindow::default();
        for process in &mut self.processes {
            let one = process.flag_window(flag, window, phase_started);
            add(&mut sum.on, &one.on);
            add(&mut sum.off, &one.off);
            sum.complaints_last_hour += one.complaints_last_hour;
            sum.on_outcomes_in_phase += one.on_outcomes_in_phase;
            sum.bad.extend(one.bad);
        }
        Measurements {
            flag: Ok(sum),
            memory: Ok(self.memory()),
            evidence,
        }
    }

    /// Each process's own measurements of `flag` (named by its URL), for
    /// a rollback to say where its trigger read worst.
    pub fn per_instance(
        &mut self,
        flag: &str,
        window: Duration,
        phase_started: SystemTime,
    ) -> Vec<(String, Measurements)> {
        let limit = self.memory_limit;
        self.processes
            .iter_mut()
            .map(|process| {
                let one = process.flag_window(flag, window, phase_started);
                let memory = process.resident_bytes.map(|bytes| MemoryReading {
                    max_ratio: bytes / limit,
                    processes: 1,
                });
                let m = Measurements {
                    flag: Ok(one),
                    memory: Ok(memory),
                    evidence: None,
                };
                (instance_of(&process.url), m)
            })
            .collect()
    }

    fn memory(&self) -> Option<MemoryReading> {
        let ratios = self
            .processes
            .iter()
            .filter_map(|p| p.resident_bytes)
            .map(|bytes| bytes / self.memory_limit);
        let mut reading: Option<MemoryReading> = None;
        for ratio in ratios {
            let r = reading.get_or_insert(MemoryReading {
                max_ratio: 0.0,
                processes: 0,
            });
            r.max_ratio = r.max_ratio.max(ratio);
            r.processes += 1;
        }
        reading
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scrape in the shape the Python package writes.
    fn scrape(
        flag: &str,
        on: (u64, u64),
        off: (u64, u64),
        slow_on: u64,
        complaints: u64,
    ) -> String {
        let mut text = String::from(
            "# HELP feature_flags_outcomes_total x\n# TYPE feature_flags_outcomes_total counter\n",
        );
        for (cohort, (ok, error)) in [("on", on), ("off", off)] {
            text += &format!(
                "feature_flags_outcomes_total{{cohort=\"{cohort}\",flag=\"{flag}\",result=\"ok\"}} {ok}.0\n\
                 feature_flags_outcomes_total{{cohort=\"{cohort}\",flag=\"{flag}\",result=\"error\"}} {error}.0\n"
            );
            let total = ok + error;
            let slow = if cohort == "on" { slow_on } else { 0 };
            for (i, le) in [
                "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.0", "5.0", "10.0", "30.0", "+Inf",
            ]
            .iter()
            .enumerate()
            {
                // Fast answers take 0.2 s; slow ones 7 s.
                let n = if i < 3 {
                    0
                } else if i < 7 {
                    total - slow
                } else {
                    total
                };
                text += &format!(
                    "feature_flags_outcome_duration_seconds_bucket{{cohort=\"{cohort}\",flag=\"{flag}\",le=\"{le}\"}} {n}.0\n"
                );
            }
        }
        text += &format!("feature_flags_complaints_total{{flag=\"{flag}\"}} {complaints}.0\n");
        text += "process_resident_memory_bytes 5.0e+08\n";
        text
    }

    const LONG: Duration = Duration::from_secs(3600);

    fn plan(flag: &str, window: Duration) -> Vec<(String, Duration)> {
        vec![(flag.to_owned(), window)]
    }

    /// Feeds `text` at `s` seconds after (t0, w0).
    fn feed(
        p: &mut Process,
        s: u64,
        text: &str,
        planned: &[(String, Duration)],
    ) -> Vec<&'static str> {
        let (t0, w0) = origin();
        p.ingest(
            text,
            t0 + Duration::from_secs(s),
            w0 + Duration::from_secs(s),
            planned,
        )
        .unwrap()
    }

    /// The wall time [`feed`] counts from, a new process, and a plan of
    /// flag `f` over an hour.
    fn tracking_f() -> (SystemTime, Process, Vec<(String, Duration)>) {
        (origin().1, Process::new("u"), plan("f", LONG))
    }

    fn origin() -> (Instant, SystemTime) {
        use std::sync::OnceLock;
        static ORIGIN: OnceLock<(Instant, SystemTime)> = OnceLock::new();
        *ORIGIN.get_or_init(|| (Instant::now(), SystemTime::now()))
    }

    #[test]
    fn increases_over_the_window_from_counter_differences() {
        let (_, w0) = origin();
        let mut p = Process::new("http://x/metrics");
        let planned = plan("gpt", Duration::from_secs(60));
        for (s, on, off, slow, c) in [
            (0, (1000, 10), (5000, 50), 0, 3),
            (10, (1100, 12), (5500, 55), 4, 4),
            (20, (1300, 40), (6000, 60), 10, 6),
        ] {
            assert!(feed(&mut p, s, &scrape("gpt", on, off, slow, c), &planned).is_empty());
        }
        let w = p.flag_window("gpt", Duration::from_secs(10), w0);
        assert_eq!((w.on.ok, w.on.errors), (200.0, 28.0));
        assert_eq!((w.off.ok, w.off.errors), (500.0, 5.0));
        assert_eq!(w.on.duration_le[6], 228.0 - 6.0);
        assert_eq!(w.on.duration_le[7], 228.0);
        assert_eq!(w.on.duration_le[0], 0.0);
        assert_eq!(w.complaints_last_hour, 3.0);
        assert_eq!(w.on_outcomes_in_phase, 330.0);
        assert!(w.bad.is_empty(), "{:?}", w.bad);
        let w = p.flag_window("gpt", Duration::from_secs(60), w0);
        assert_eq!(w.on.total(), 330.0);
        assert_eq!(p.flag_window("nope", LONG, w0), FlagWindow::default());
    }

    /// The library's own text: every cohort's outcomes split by `via` and
    /// `chat_type`, which the guard sums back into its cohort.
    #[test]
    fn the_segments_of_a_cohort_are_summed_and_one_bad_one_spoils_the_sum() {
        use flags_core::{Context, FlagStore, Outcome, Segment};
        let (_, w0) = origin();
        let store = FlagStore::from_json(
            r#"{"version": 1, "groups": {"beta": [7, 8]}, "flags": {
                "f": {"enabled": true, "rollout_percentage": 50, "user_groups": ["beta"]}}}"#,
        )
        .unwrap();
        let mut p = Process::new("u");
        let planned = plan("f", LONG);
        assert!(feed(&mut p, 0, &store.metrics_text(), &planned).is_empty());
        let chat_types = Segment::CHAT_TYPES;
        let mut want = [[0.0; 2]; 2]; // [on, off][ok, error]
        for user in 0..400i64 {
            let mut ctx = Context::new().user(user);
            ctx.chat_type = chat_types[user as usize % chat_types.len()];
            let mut msg = store.message(ctx);
            let on = msg.is_enabled("f");
            let error = user % 3 == 0;
            msg.record(Outcome {
                error,
                duration: Duration::from_millis(300),
            });
            want[usize::from(!on)][usize::from(error)] += 1.0;
        }
        let text = store.metrics_text();
        assert!(
            text.contains("via=\"group\",chat_type=\"channel\""),
            "{text}"
        );
        assert!(feed(&mut p, 10, &text, &planned).is_empty());
        let w = p.flag_window("f", LONG, w0);
        assert_eq!([[w.on.ok, w.on.errors], [w.off.ok, w.off.errors]], want);
        assert!(want[0][0] > 0.0 && want[1][0] > 0.0);
        assert_eq!(w.on.duration_le[4], want[0][0] + want[0][1]);
        assert_eq!(w.on_outcomes_in_phase, want[0][0] + want[0][1]);
        assert!(w.bad.is_empty(), "{:?}", w.bad);

        // One segment's series NaN: its cohort's sum is no data, not a
        // smaller count.
        let spoiled = store.metrics_text().replace(
            "via=\"rollout\",chat_type=\"group\",result=\"ok\"} ",
            "via=\"rollout\",chat_type=\"group\",result=\"ok\"} NaN ",
        );
        let spoiled: String = spoiled
            .lines()
            .map(|l| match l.split_once("} NaN ") {
                Some((head, _)) => format!("{head}}} NaN\n"),
                None => format!("{l}\n"),
            })
            .collect();
        assert_eq!(spoiled.matches("} NaN").count(), 2, "on and off");
        assert!(!feed(&mut p, 20, &spoiled, &planned).is_empty());
        let w = p.flag_window("f", LONG, w0);
        assert!(w.on.ok.is_nan() && w.off.ok.is_nan());
        assert_eq!(w.on.errors, want[0][1], "the other slots still count");
        assert!(!w.bad.is_empty());
    }

    fn with_start(text: &str, start: f64) -> String {
        format!("{text}process_start_time_seconds {start}\n")
    }

    #[test]
    fn a_restart_is_a_new_start_time_and_counts_from_zero() {
        let (w0, mut p, planned) = tracking_f();
        let s = |on| with_start(&scrape("f", on, (0, 0), 0, 0), 100.0);
        feed(&mut p, 0, &s((900, 100)), &planned);
        feed(&mut p, 5, &s((1000, 120)), &planned);
        let restarted = |on| with_start(&scrape("f", on, (0, 0), 0, 0), 200.0);
        assert!(feed(&mut p, 10, &restarted((30, 2)), &planned).is_empty());
        feed(&mut p, 15, &restarted((50, 3)), &planned);
        let w = p.flag_window("f", LONG, w0);
        assert_eq!(
            (w.on.ok, w.on.errors),
            (100.0 + 30.0 + 20.0, 20.0 + 2.0 + 1.0)
        );
    }

    #[test]
    fn a_drop_without_a_restart_is_a_bad_sample_not_a_reset() {
        let (w0, mut p, planned) = tracking_f();
        let s = |on| with_start(&scrape("f", on, (100, 1), 0, 0), 100.0);
        feed(&mut p, 0, &s((1000, 50_000)), &planned);
        // A cut-off number: 50000 read as 5, the process the same.
        let bad = feed(&mut p, 5, &s((1010, 5)), &planned);
        assert!(bad.contains(&"decrease"), "{bad:?}");
        let w = p.flag_window("f", LONG, w0);
        assert!(w.on.errors.is_nan() && !w.bad.is_empty(), "{w:?}");
        // The next full scrape: 2 more errors, not 49,997.
        assert!(feed(&mut p, 10, &s((1020, 50_002)), &planned).is_empty());
        let w = p.flag_window("f", LONG, w0);
        assert_eq!((w.on.ok, w.on.errors), (20.0, 2.0));
    }

    #[test]
    fn without_a_start_time_only_a_drop_of_every_counter_is_a_reset() {
        let (w0, mut p, planned) = tracking_f();
        feed(
            &mut p,
            0,
            &scrape("f", (1000, 50_000), (100, 1), 0, 0),
            &planned,
        );
        // One series down, others up: garbage.
        let bad = feed(&mut p, 5, &scrape("f", (1010, 5), (110, 1), 0, 0), &planned);
        assert!(bad.contains(&"decrease"), "{bad:?}");
        feed(
            &mut p,
            10,
            &scrape("f", (1020, 50_002), (120, 1), 0, 0),
            &planned,
        );
        // Everything down (or at zero): a restart.
        assert!(feed(&mut p, 15, &scrape("f", (7, 1), (3, 0), 0, 0), &planned).is_empty());
        let w = p.flag_window("f", LONG, w0);
        assert_eq!((w.on.ok, w.on.errors), (20.0 + 7.0, 2.0 + 1.0));
    }

    #[test]
    fn missing_nan_negative_and_infinite_samples_are_no_data() {
        let (_, w0) = origin();
        let planned = plan("f", LONG);
        let full = scrape("f", (1000, 10), (1000, 10), 0, 0);
        let no_buckets: String = full
            .lines()
            .filter(|l| !l.contains("_bucket"))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut p = Process::new("u");
        feed(&mut p, 0, &no_buckets, &planned);
        let bad = feed(&mut p, 5, &no_buckets.replace("1000.0", "2000.0"), &planned);
        assert_eq!(bad.iter().filter(|r| **r == "missing").count(), 22);
        let w = p.flag_window("f", LONG, w0);
        assert_eq!(w.on.ok, 1000.0);
        assert!(w.on.duration_le.iter().all(|v| v.is_nan()));
        assert!(w.bad.iter().any(|b| b.contains("} missing")), "{:?}", w.bad);
        assert!(w.bad.iter().any(|b| b.contains("19 more")), "{:?}", w.bad);
        for (value, reason) in [("NaN", "nan"), ("-3", "negative"), ("+Inf", "infinite")] {
            let mut p = Process::new("u");
            feed(&mut p, 0, &full, &planned);
            let spoiled = full.replacen(
                "feature_flags_outcomes_total{cohort=\"on\",flag=\"f\",result=\"ok\"} 1000.0",
                &format!(
                    "feature_flags_outcomes_total{{cohort=\"on\",flag=\"f\",result=\"ok\"}} {value}"
                ),
                1,
            );
            assert_eq!(feed(&mut p, 5, &spoiled, &planned), vec![reason]);
            let w = p.flag_window("f", LONG, w0);
            assert!(w.on.ok.is_nan(), "{value}: {w:?}");
            assert_eq!(w.on.errors, 0.0);
            // The next good scrape counts from the last good value.
            feed(&mut p, 10, &full.replace("1000.0", "1100.0"), &planned);
            let w = p.flag_window("f", Duration::from_secs(5), w0);
            assert_eq!(w.on.ok, 100.0, "{value}");
            assert!(w.on.ok.is_finite());
        }
    }

    #[test]
    fn buckets_that_are_not_cumulative_are_no_data() {
        let (w0, mut p, planned) = tracking_f();
        let full = scrape("f", (1000, 10), (1000, 10), 0, 0);
        feed(&mut p, 0, &full, &planned);
        let broken = full.replacen("le=\"+Inf\"} 1010.0", "le=\"+Inf\"} 3.0", 1);
        assert_eq!(feed(&mut p, 5, &broken, &planned), vec!["buckets"]);
        let w = p.flag_window("f", LONG, w0);
        assert!(w.on.duration_le.iter().all(|v| v.is_nan()));
        assert_eq!(w.off.duration_le[9], 0.0);
    }

    #[test]
    fn a_reply_without_a_final_newline_is_cut_off() {
        let mut p = Process::new("u");
        let (t0, w0) = origin();
        let full = scrape("f", (1000, 50_000), (0, 0), 0, 0);
        let cut = &full[..full.find("} 50000").unwrap() + 3];
        let err = p.ingest(cut, t0, w0, &plan("f", LONG)).unwrap_err();
        assert!(err.contains("does not end with a newline"), "{err}");
        assert!(p.tracked.is_empty());
    }

    #[test]
    fn only_planned_flags_are_kept_and_history_is_bounded() {
        let mut text = String::new();
        for i in 0..50 {
            text += &scrape(&format!("f{i}"), (i, 0), (0, 0), 0, 0);
        }
        let week = Duration::from_secs(7 * 86_400);
        let planned = plan("f3", week);
        let mut p = Process::new("u");
        for s in 0..1100u64 {
            feed(&mut p, s * 600, &text, &planned);
        }
        assert_eq!(p.tracked.len(), 1);
        let t = &p.tracked["f3"];
        assert!(t.history.len() <= HISTORY_POINTS + 2, "{}", t.history.len());
        // The window reaches back a week, to within 1/128 of it.
        let span = t.history.back().unwrap().at - t.history.front().unwrap().at;
        assert!(span >= week - week / 64, "{span:?}");
        assert!(t.complaints.len() <= 62);
        // A plan that is no longer running is forgotten.
        feed(&mut p, 1100 * 600, &text, &[]);
        assert!(p.tracked.is_empty());
    }

    #[test]
    fn too_many_flags_and_bad_lines_change_nothing() {
        let mut p = Process::new("u");
        let (now, wall) = origin();
        let planned = plan("f", LONG);
        p.ingest(&scrape("f", (1, 0), (0, 0), 0, 0), now, wall, &planned)
            .unwrap();
        let mut many = String::new();
        for i in 0..=MAX_FLAGS_PER_PROCESS {
            many += &format!("feature_flags_complaints_total{{flag=\"f{i}\"}} 1\n");
        }
        let err = p.ingest(&many, now, wall, &planned).unwrap_err();
        assert!(err.contains("more than 10000 flags"), "{err}");
        let err = p
            .ingest(
                "feature_flags_complaints_total{flag=\"f\"} x\n",
                now,
                wall,
                &planned,
            )
            .unwrap_err();
        assert!(err.starts_with("u: line 1:"), "{err}");
        assert_eq!(p.tracked["f"].history.len(), 1);
    }

    #[test]
    fn instances_are_named_by_host_and_port() {
        assert_eq!(
            instance_of("http://127.0.0.1:9101/metrics"),
            "127.0.0.1:9101"
        );
        assert_eq!(instance_of("https://bot-2:8443/m?token=x"), "bot-2:8443");
        assert_eq!(instance_of("http://u@bot:1"), "bot:1");
    }

    #[test]
    fn processes_are_summed_and_memory_is_the_largest_ratio() {
        let mut source = ScrapeSource::new(
            Client::new(Duration::from_secs(1), 1 << 20),
            &["a".into(), "b".into()],
            1_000_000_000,
            Duration::from_secs(1),
        );
        let (t0, w0) = origin();
        let planned = plan("f", LONG);
        for (i, process) in source.processes.iter_mut().enumerate() {
            let n = (i as u64 + 1) * 100;
            process
                .ingest(&scrape("f", (0, 0), (0, 0), 0, 0), t0, w0, &planned)
                .unwrap();
            let mut text = scrape("f", (n, 1), (n, 2), 0, 1);
            if i == 1 {
                text = text.replace("5.0e+08", "9.5e+08");
            }
            process
                .ingest(&text, t0 + Duration::from_secs(1), w0, &planned)
                .unwrap();
        }
        let m = source.measure("f", LONG, w0);
        let w = m.flag.unwrap();
        assert_eq!((w.on.ok, w.on.errors, w.off.errors), (300.0, 2.0, 4.0));
        assert_eq!(w.complaints_last_hour, 2.0);
        assert_eq!(
            m.memory.unwrap(),
            Some(MemoryReading {
                max_ratio: 0.95,
                processes: 2
            })
        );
    }
}
