//! `--scrape URL`: the guard reads every bot process's `/metrics` itself and
//! keeps, per process, the history it needs in memory: the counters of each
//! scrape over the longest plan window, and the complaint counters once a
//! minute over the last hour.
//!
//! Increases are computed as Prometheus does for counters: the sum of the
//! differences between consecutive scrapes, where a counter that went down
//! is a restarted process counting from zero (the whole new value is the
//! increase). Without extrapolation: the window's increase is what was seen
//! between its oldest scrape and the latest.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use flags_rollout::measure::{
    CohortWindow, DURATION_BOUNDS, FlagWindow, Measurements, MemoryReading,
};

use super::http::Client;
use super::textformat::{self, Labels};

pub const OUTCOMES: &str = "feature_flags_outcomes_total";
pub const DURATION_BUCKETS: &str = "feature_flags_outcome_duration_seconds_bucket";
pub const COMPLAINTS: &str = "feature_flags_complaints_total";
pub const RESIDENT_MEMORY: &str = "process_resident_memory_bytes";

/// Per flag, the counters read: ok/error for `on` and `off`, the ten
/// duration buckets for `on` and `off`, complaints.
const ON_OK: usize = 0;
const ON_ERROR: usize = 1;
const OFF_OK: usize = 2;
const OFF_ERROR: usize = 3;
const ON_LE: usize = 4;
const OFF_LE: usize = ON_LE + DURATION_BOUNDS.len();
const COMPLAINT: usize = OFF_LE + DURATION_BOUNDS.len();
const SLOTS: usize = COMPLAINT + 1;

/// Bounds on what one process may make the guard keep.
pub const MAX_FLAGS_PER_PROCESS: usize = 10_000;
const MAX_POINTS: usize = 4096;
const COMPLAINT_STEP: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

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

    fn observe(&mut self, raw: f64) {
        if raw.is_nan() {
            return;
        }
        if !self.last.is_nan() {
            self.total += if raw >= self.last {
                raw - self.last
            } else {
                raw
            };
        }
        self.last = raw;
    }
}

/// The running totals of every flag at one scrape.
struct Point {
    at: Instant,
    wall: SystemTime,
    totals: Vec<[f64; SLOTS]>,
}

/// Everything kept about one bot process.
pub struct Process {
    pub url: String,
    flag_index: HashMap<String, usize>,
    counters: Vec<[Counter; SLOTS]>,
    history: VecDeque<Point>,
    /// (when, complaint totals per flag index), one a minute.
    complaint_history: VecDeque<(Instant, Vec<f64>)>,
    resident_bytes: Option<f64>,
    /// Per flag: the phase start it was taken for and the `on` total then.
    phase_baselines: HashMap<String, (SystemTime, f64)>,
}

impl Process {
    pub fn new(url: impl Into<String>) -> Process {
        Process {
            url: url.into(),
            flag_index: HashMap::new(),
            counters: Vec::new(),
            history: VecDeque::new(),
            complaint_history: VecDeque::new(),
            resident_bytes: None,
            phase_baselines: HashMap::new(),
        }
    }

    /// Reads one scrape taken at `at` (`wall` on the system clock), keeping
    /// the history `keep` long. On an error nothing is changed.
    pub fn ingest(
        &mut self,
        text: &str,
        at: Instant,
        wall: SystemTime,
        keep: Duration,
    ) -> Result<(), String> {
        let mut raw: Vec<[f64; SLOTS]> = vec![[f64::NAN; SLOTS]; self.counters.len()];
        let mut new_flags: Vec<String> = Vec::new();
        let mut resident = None;
        let mut problem = None;
        let flag_index = &self.flag_index;
        textformat::for_each_sample(
            text,
            |name| {
                name == OUTCOMES
                    || name == DURATION_BUCKETS
                    || name == COMPLAINTS
                    || name == RESIDENT_MEMORY
            },
            |name, labels, value| {
                if name == RESIDENT_MEMORY {
                    resident = Some(value);
                    return;
                }
                let Some(slot) = slot_of(name, &labels) else {
                    return;
                };
                let Some(flag) = labels.get("flag") else {
                    return;
                };
                let index = match flag_index.get(flag.as_ref()) {
                    Some(&i) => i,
                    None => match new_flags.iter().position(|f| *f == flag) {
                        Some(i) => flag_index.len() + i,
                        None => {
                            if flag_index.len() + new_flags.len() >= MAX_FLAGS_PER_PROCESS {
                                problem.get_or_insert_with(|| {
                                    format!("more than {MAX_FLAGS_PER_PROCESS} flags")
                                });
                                return;
                            }
                            new_flags.push(flag.into_owned());
                            flag_index.len() + new_flags.len() - 1
                        }
                    },
                };
                if index >= raw.len() {
                    raw.resize(index + 1, [f64::NAN; SLOTS]);
                }
                raw[index][slot] = value;
            },
        )
        .map_err(|e| format!("{}: {e}", self.url))?;
        if let Some(problem) = problem {
            return Err(format!("{}: {problem}", self.url));
        }

        for flag in new_flags {
            self.flag_index.insert(flag, self.counters.len());
            self.counters.push([Counter::UNSEEN; SLOTS]);
        }
        for (counters, values) in self.counters.iter_mut().zip(&raw) {
            for (counter, &value) in counters.iter_mut().zip(values) {
                counter.observe(value);
            }
        }
        self.resident_bytes = resident.filter(|v| v.is_finite());
        let totals: Vec<[f64; SLOTS]> = self
            .counters
            .iter()
            .map(|c| std::array::from_fn(|i| c[i].total))
            .collect();

        if self
            .complaint_history
            .back()
            .is_none_or(|(when, _)| at.duration_since(*when) >= COMPLAINT_STEP)
        {
            let complaints = totals.iter().map(|t| t[COMPLAINT]).collect();
            self.complaint_history.push_back((at, complaints));
        }
        while self.complaint_history.len() > 2
            && at.duration_since(self.complaint_history[1].0) >= HOUR
        {
            self.complaint_history.pop_front();
        }
        self.history.push_back(Point { at, wall, totals });
        // Keep one point at or before the start of the longest window.
        while self.history.len() > MAX_POINTS
            || (self.history.len() > 2 && at.duration_since(self.history[1].at) >= keep)
        {
            self.history.pop_front();
        }
        Ok(())
    }

    fn total(point: &Point, index: usize, slot: usize) -> f64 {
        point.totals.get(index).map_or(0.0, |t| t[slot])
    }

    /// What this process saw of `flag`: its increases over `window` up to
    /// the latest scrape, complaints over the last hour, `on` outcomes since
    /// `phase_started`.
    pub fn flag_window(
        &mut self,
        flag: &str,
        window: Duration,
        phase_started: SystemTime,
    ) -> FlagWindow {
        let (Some(&index), Some(latest)) = (self.flag_index.get(flag), self.history.back()) else {
            return FlagWindow::default();
        };
        let now = latest.at;
        let base = self
            .history
            .iter()
            .find(|p| now.duration_since(p.at) <= window)
            .unwrap_or(latest);
        let increase = |slot| Self::total(latest, index, slot) - Self::total(base, index, slot);
        let cohort = |ok, error, le: usize| CohortWindow {
            ok: increase(ok),
            errors: increase(error),
            duration_le: std::array::from_fn(|i| increase(le + i)),
        };
        let complaints_base = self
            .complaint_history
            .iter()
            .find(|(when, _)| now.duration_since(*when) <= HOUR)
            .map_or(0.0, |(_, c)| c.get(index).copied().unwrap_or(0.0));
        let on_total = |p: &Point| Self::total(p, index, ON_OK) + Self::total(p, index, ON_ERROR);
        let baseline = match self.phase_baselines.get(flag) {
            Some(&(started, baseline)) if started == phase_started => baseline,
            _ => {
                // The first scrape at or after the phase start; a guard that
                // started later counts from its oldest scrape.
                let baseline = self
                    .history
                    .iter()
                    .find(|p| p.wall >= phase_started)
                    .map_or_else(|| on_total(latest), on_total);
                self.phase_baselines
                    .insert(flag.to_owned(), (phase_started, baseline));
                baseline
            }
        };
        FlagWindow {
            on: cohort(ON_OK, ON_ERROR, ON_LE),
            off: cohort(OFF_OK, OFF_ERROR, OFF_LE),
            complaints_last_hour: Self::total(latest, index, COMPLAINT) - complaints_base,
            on_outcomes_in_phase: on_total(latest) - baseline,
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
    let le: f64 = labels.get("le")?.parse().ok()?;
    let bound = DURATION_BOUNDS
        .iter()
        .position(|b| (b - le).abs() <= 1e-9 * b)?;
    Some(if on { ON_LE } else { OFF_LE } + bound)
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
}

impl ScrapeSource {
    pub fn new(client: Client, urls: &[String], memory_limit_bytes: u64) -> ScrapeSource {
        ScrapeSource {
            client,
            processes: urls.iter().map(Process::new).collect(),
            memory_limit: memory_limit_bytes as f64,
            failure: None,
            failed_urls: Vec::new(),
        }
    }

    /// Scrapes every process once; `keep` is the longest window in use.
    pub fn refresh(&mut self, keep: Duration) {
        let mut failures = Vec::new();
        self.failed_urls.clear();
        for process in &mut self.processes {
            let fetched =
                self.client
                    .get(&process.url, &[], "text/plain;version=0.0.4;q=1,*/*;q=0.1");
            let result = fetched
                .and_then(|text| process.ingest(&text, Instant::now(), SystemTime::now(), keep));
            if let Err(e) = result {
                self.failed_urls.push(process.url.clone());
                failures.push(e);
            }
        }
        self.failure = (!failures.is_empty()).then(|| failures.join("; "));
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
        if let Some(failure) = &self.failure {
            return Measurements {
                flag: Err(failure.clone()),
                memory: Err(failure.clone()),
            };
        }
        let mut sum = FlagWindow::default();
        for process in &mut self.processes {
            let one = process.flag_window(flag, window, phase_started);
            add(&mut sum.on, &one.on);
            add(&mut sum.off, &one.off);
            sum.complaints_last_hour += one.complaints_last_hour;
            sum.on_outcomes_in_phase += one.on_outcomes_in_phase;
        }
        Measurements {
            flag: Ok(sum),
            memory: Ok(self.memory()),
        }
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

    #[test]
    fn increases_over_the_window_from_counter_differences() {
        let t0 = Instant::now();
        let w0 = SystemTime::now();
        let mut p = Process::new("http://x/metrics");
        let at = |s: u64| (t0 + Duration::from_secs(s), w0 + Duration::from_secs(s));
        for (s, on, off, slow, c) in [
            (0, (1000, 10), (5000, 50), 0, 3),
            (10, (1100, 12), (5500, 55), 4, 4),
            (20, (1300, 40), (6000, 60), 10, 6),
        ] {
            let (i, w) = at(s);
            p.ingest(&scrape("gpt", on, off, slow, c), i, w, LONG)
                .unwrap();
        }
        // A 10 s window: from the scrape at 10 s to the one at 20 s.
        let w = p.flag_window("gpt", Duration::from_secs(10), w0);
        assert_eq!((w.on.ok, w.on.errors), (200.0, 28.0));
        assert_eq!((w.off.ok, w.off.errors), (500.0, 5.0));
        // on totals 1112 -> 1340: 228 outcomes, 6 more of them slow.
        assert_eq!(w.on.duration_le[6], 228.0 - 6.0);
        assert_eq!(w.on.duration_le[7], 228.0);
        assert_eq!(w.on.duration_le[0], 0.0);
        // The complaint history starts at the first scrape.
        assert_eq!(w.complaints_last_hour, 3.0);
        // The phase started before the guard saw anything: from its start.
        assert_eq!(w.on_outcomes_in_phase, 330.0);
        // A longer window reaches back to the first scrape.
        let w = p.flag_window("gpt", Duration::from_secs(60), w0);
        assert_eq!(w.on.total(), 330.0);
        // Unknown flags are no data, not an error.
        assert_eq!(p.flag_window("nope", LONG, w0), FlagWindow::default());
    }

    #[test]
    fn a_counter_that_went_down_is_a_restart_counting_from_zero() {
        let t0 = Instant::now();
        let w0 = SystemTime::now();
        let mut p = Process::new("u");
        let feed = |p: &mut Process, s: u64, on: (u64, u64)| {
            p.ingest(
                &scrape("f", on, (0, 0), 0, 0),
                t0 + Duration::from_secs(s),
                w0 + Duration::from_secs(s),
                LONG,
            )
            .unwrap()
        };
        feed(&mut p, 0, (900, 100));
        feed(&mut p, 5, (1000, 120));
        // Restarted: 30 ok and 2 errors since.
        feed(&mut p, 10, (30, 2));
        feed(&mut p, 15, (50, 3));
        let w = p.flag_window("f", LONG, w0);
        assert_eq!(
            (w.on.ok, w.on.errors),
            (100.0 + 30.0 + 20.0, 20.0 + 2.0 + 1.0)
        );
    }

    #[test]
    fn the_phase_counts_from_its_first_scrape_and_is_remembered() {
        let t0 = Instant::now();
        let w0 = SystemTime::now();
        let mut p = Process::new("u");
        for (s, ok) in [(0, 100), (10, 200), (20, 300)] {
            p.ingest(
                &scrape("f", (ok, 0), (0, 0), 0, 0),
                t0 + Duration::from_secs(s),
                w0 + Duration::from_secs(s),
                Duration::from_secs(10),
            )
            .unwrap();
        }
        // Phase started at 5 s: the first scrape after it is at 10 s.
        let started = w0 + Duration::from_secs(5);
        assert_eq!(
            p.flag_window("f", LONG, started).on_outcomes_in_phase,
            100.0
        );
        for (s, ok) in [(30, 400), (40, 500)] {
            p.ingest(
                &scrape("f", (ok, 0), (0, 0), 0, 0),
                t0 + Duration::from_secs(s),
                w0 + Duration::from_secs(s),
                Duration::from_secs(10),
            )
            .unwrap();
        }
        // The 10 s scrape has left the history, but the baseline stays.
        assert_eq!(
            p.flag_window("f", LONG, started).on_outcomes_in_phase,
            300.0
        );
        // A new phase started after the latest scrape: nothing yet.
        let later = w0 + Duration::from_secs(45);
        assert_eq!(p.flag_window("f", LONG, later).on_outcomes_in_phase, 0.0);
    }

    #[test]
    fn history_is_bounded_by_the_window_and_a_count() {
        let t0 = Instant::now();
        let w0 = SystemTime::now();
        let mut p = Process::new("u");
        for s in 0..5000u64 {
            p.ingest(
                &scrape("f", (s, 0), (0, 0), 0, 0),
                t0 + Duration::from_millis(s * 100),
                w0,
                Duration::from_secs(60),
            )
            .unwrap();
        }
        // 60 s at 10 scrapes a second, plus the one before the window.
        assert!(p.history.len() <= 602, "{}", p.history.len());
        assert!(p.complaint_history.len() <= 10);
        let mut q = Process::new("u");
        for s in 0..5000u64 {
            q.ingest(&scrape("f", (s, 0), (0, 0), 0, 0), t0, w0, LONG)
                .unwrap();
        }
        assert_eq!(q.history.len(), MAX_POINTS);
    }

    #[test]
    fn too_many_flags_and_bad_lines_change_nothing() {
        let mut p = Process::new("u");
        let now = Instant::now();
        let wall = SystemTime::now();
        p.ingest(&scrape("f", (1, 0), (0, 0), 0, 0), now, wall, LONG)
            .unwrap();
        let mut many = String::new();
        for i in 0..=MAX_FLAGS_PER_PROCESS {
            many += &format!("feature_flags_complaints_total{{flag=\"f{i}\"}} 1\n");
        }
        let err = p.ingest(&many, now, wall, LONG).unwrap_err();
        assert!(err.contains("more than 10000 flags"), "{err}");
        let err = p
            .ingest(
                "feature_flags_complaints_total{flag=\"f\"} x\n",
                now,
                wall,
                LONG,
            )
            .unwrap_err();
        assert!(err.starts_with("u: line 1:"), "{err}");
        assert_eq!(p.flag_index.len(), 1);
        assert_eq!(p.history.len(), 1);
    }

    #[test]
    fn nan_samples_are_skipped_not_counted() {
        let t0 = Instant::now();
        let w0 = SystemTime::now();
        let mut p = Process::new("u");
        let line = |v: &str| {
            format!("feature_flags_outcomes_total{{cohort=\"on\",flag=\"f\",result=\"ok\"}} {v}\n")
        };
        p.ingest(&line("10"), t0, w0, LONG).unwrap();
        p.ingest(&line("NaN"), t0 + Duration::from_secs(1), w0, LONG)
            .unwrap();
        p.ingest(&line("15"), t0 + Duration::from_secs(2), w0, LONG)
            .unwrap();
        assert_eq!(p.flag_window("f", LONG, w0).on.ok, 5.0);
    }

    #[test]
    fn processes_are_summed_and_memory_is_the_largest_ratio() {
        let mut source = ScrapeSource::new(
            Client::new(Duration::from_secs(1), 1 << 20),
            &["a".into(), "b".into()],
            1_000_000_000,
        );
        let t0 = Instant::now();
        let w0 = SystemTime::now();
        for (i, process) in source.processes.iter_mut().enumerate() {
            let n = (i as u64 + 1) * 100;
            process
                .ingest(&scrape("f", (0, 0), (0, 0), 0, 0), t0, w0, LONG)
                .unwrap();
            let mut text = scrape("f", (n, 1), (n, 2), 0, 1);
            if i == 1 {
                text = text.replace("5.0e+08", "9.5e+08");
            }
            process
                .ingest(&text, t0 + Duration::from_secs(1), w0, LONG)
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
