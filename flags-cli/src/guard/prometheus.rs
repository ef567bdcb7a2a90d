//! `--prometheus URL`: the guard asks a Prometheus server, which already
//! scrapes every bot of the fleet, with instant queries on its HTTP API
//! (`/api/v1/query`), summing across instances. A series that Prometheus
//! answers with NaN, a negative or infinite value, or does not answer at all
//! (a relabel rule that drops `_bucket` series, say), makes its part of the
//! window NaN: no data for the triggers that read it, never a healthy zero.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use flags_rollout::jiff::{SignedDuration, Timestamp};
use flags_rollout::measure::Evidence;
use flags_rollout::measure::{
    CohortWindow, DURATION_BOUNDS, FlagWindow, Measurements, MemoryReading,
};
use serde_json::Value;

use crate::http::Client;

use super::scrape::{COMPLAINTS, DURATION_BUCKETS, OUTCOMES, RESIDENT_MEMORY};

/// One instant-vector result: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: HashMap<String, String>,
    pub value: f64,
}

/// Reads an `/api/v1/query` reply: the vector's series, NaN values kept
/// (they are bad samples, not absent ones).
pub fn parse_vector(body: &str) -> Result<Vec<Series>, String> {
    let reply: Value = serde_json::from_str(body).map_err(|e| format!("reply is not JSON: {e}"))?;
    if reply.get("status").and_then(Value::as_str) != Some("success") {
        let error = reply
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no status");
        return Err(format!("query failed: {error}"));
    }
    let data = reply.get("data").ok_or("reply has no data")?;
    match data.get("resultType").and_then(Value::as_str) {
        Some("vector") => {}
        Some("scalar") => return Ok(Vec::new()),
        other => return Err(format!("expected a vector, got {other:?}")),
    }
    let results = data
        .get("result")
        .and_then(Value::as_array)
        .ok_or("reply has no result")?;
    let mut out = Vec::with_capacity(results.len());
    for result in results {
        let value = result
            .get("value")
            .and_then(|v| v.get(1))
            .and_then(Value::as_str)
            .ok_or("a result has no value")?;
        let value: f64 = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .map_err(|_| format!("value {v:?} is not a number"))?,
        };
        let labels = result
            .get("metric")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        out.push(Series { labels, value });
    }
    Ok(out)
}

/// The matchers inside `--selector '{job="bot"}'` (empty for none).
pub fn selector_matchers(selector: &str) -> Result<String, String> {
    let s = selector.trim();
    if s.is_empty() {
        return Ok(String::new());
    }
    let inner = s
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| {
            format!(
                "--selector {selector:?}: give label matchers in braces, such as '{{job=\"bot\"}}'"
            )
        })?;
    Ok(inner.trim().trim_end_matches(',').to_owned())
}

fn quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `metric{selector,extra}`.
fn series(metric: &str, matchers: &str, extra: &str) -> String {
    let all: Vec<&str> = [matchers, extra]
        .into_iter()
        .filter(|m| !m.is_empty())
        .collect();
    format!("{metric}{{{}}}", all.join(","))
}

fn seconds(d: Duration) -> u64 {
    d.as_secs().max(1)
}

/// Which series of a flag a query answered: the four outcomes, then per
/// cohort the ten bounds and `+Inf`.
const SERIES: usize = 4 + 2 * (DURATION_BOUNDS.len() + 1);

/// One flag's window and which of its series were answered.
#[derive(Default, Clone)]
struct Answered {
    window: FlagWindow,
    seen: [bool; SERIES],
    inf: [f64; 2],
}

/// The window's numbers of every flag.
#[derive(Default)]
struct WindowData {
    flags: HashMap<String, Answered>,
}

pub struct PrometheusSource {
    client: Client,
    base: String,
    matchers: String,
    memory_limit: Option<f64>,
    windows: HashMap<u64, WindowData>,
    complaints: HashMap<String, f64>,
    memory: Option<MemoryReading>,
    failure: Option<String>,
    /// The bad samples' reasons of the last refresh.
    pub bad_samples: Vec<&'static str>,
    /// The newest outcome sample Prometheus holds, and the least time
    /// between two counted observations.
    newest: Option<Timestamp>,
    spacing: Duration,
}

impl PrometheusSource {
    pub fn new(
        client: Client,
        url: &str,
        selector: &str,
        memory_limit_bytes: Option<u64>,
        interval: Duration,
    ) -> Result<PrometheusSource, String> {
        Ok(PrometheusSource {
            client,
            base: url.trim_end_matches('/').to_owned(),
            matchers: selector_matchers(selector)?,
            memory_limit: memory_limit_bytes.map(|b| b as f64),
            windows: HashMap::new(),
            complaints: HashMap::new(),
            memory: None,
            failure: None,
            bad_samples: Vec::new(),
            newest: None,
            spacing: interval.mul_f64(0.9),
        })
    }

    fn query(&self, promql: &str) -> Result<Vec<Series>, String> {
        let url = format!("{}/api/v1/query", self.base);
        let body = self
            .client
            .get(&url, &[("query", promql)], "application/json")?;
        parse_vector(&body).map_err(|e| format!("{url} {promql}: {e}"))
    }

    /// Runs the queries every plan shares: per distinct window, outcomes and
    /// duration buckets by flag and cohort; complaints over the hour; memory.
    pub fn refresh(&mut self, windows: &[Duration]) {
        self.bad_samples.clear();
        self.failure = self.try_refresh(windows).err();
    }

    fn try_refresh(&mut self, windows: &[Duration]) -> Result<(), String> {
        self.windows.clear();
        self.newest = self
            .query(&format!(
                "max(timestamp({}))",
                series(OUTCOMES, &self.matchers, "")
            ))?
            .first()
            .map(|s| s.value)
            .filter(|v| v.is_finite())
            .and_then(|v| Timestamp::from_millisecond((v * 1000.0) as i64).ok());
        let mut distinct: Vec<u64> = windows.iter().map(|w| seconds(*w)).collect();
        distinct.sort_unstable();
        distinct.dedup();
        for w in distinct {
            let mut data = WindowData::default();
            // `sum by` folds the outcome segments (`via`, `chat_type`) and
            // every instance into one series per flag, cohort and result.
            let outcomes = self.query(&format!(
                "sum by (flag, cohort, result) (increase({}[{w}s]))",
                series(OUTCOMES, &self.matchers, "")
            ))?;
            for s in outcomes {
                let (Some(flag), Some(cohort)) = (s.labels.get("flag"), s.labels.get("cohort"))
                else {
                    continue;
                };
                let Some(k) = cohort_index(cohort) else {
                    continue;
                };
                let r = match s.labels.get("result").map(String::as_str) {
                    Some("ok") => 0,
                    Some("error") => 1,
                    _ => continue,
                };
                let value = self.checked(s.value);
                let entry = data.flags.entry(flag.clone()).or_default();
                entry.seen[k * 2 + r] = true;
                let c = cohort_mut(&mut entry.window, k);
                if r == 0 {
                    c.ok += value;
                } else {
                    c.errors += value;
                }
            }
            let buckets = self.query(&format!(
                "sum by (flag, cohort, le) (increase({}[{w}s]))",
                series(DURATION_BUCKETS, &self.matchers, "")
            ))?;
            for s in buckets {
                let (Some(flag), Some(cohort), Some(le)) = (
                    s.labels.get("flag"),
                    s.labels.get("cohort"),
                    s.labels.get("le"),
                ) else {
                    continue;
                };
                let i = if le == "+Inf" {
                    DURATION_BOUNDS.len()
                } else {
                    let Ok(le) = le.parse::<f64>() else { continue };
                    let Some(i) = DURATION_BOUNDS
                        .iter()
                        .position(|b| (b - le).abs() <= 1e-9 * b)
                    else {
                        continue;
                    };
                    i
                };
                let Some(k) = cohort_index(cohort) else {
                    continue;
                };
                let value = self.checked(s.value);
                let entry = data.flags.entry(flag.clone()).or_default();
                entry.seen[4 + k * (DURATION_BOUNDS.len() + 1) + i] = true;
                if i == DURATION_BOUNDS.len() {
                    entry.inf[k] += value;
                } else {
                    cohort_mut(&mut entry.window, k).duration_le[i] += value;
                }
            }
            self.windows.insert(w, data);
        }
        self.complaints.clear();
        for s in self.query(&format!(
            "sum by (flag) (increase({}[1h]))",
            series(COMPLAINTS, &self.matchers, "")
        ))? {
            if let Some(flag) = s.labels.get("flag") {
                let value = self.checked(s.value);
                *self.complaints.entry(flag.clone()).or_default() += value;
            }
        }
        // Without the bots' limit there is nothing to divide by: no data
        // (the guard's own limit is not theirs).
        let Some(limit) = self.memory_limit else {
            self.memory = None;
            return Ok(());
        };
        let memory = self.query(&series(RESIDENT_MEMORY, &self.matchers, ""))?;
        self.memory = memory
            .iter()
            .filter(|s| s.value.is_finite() && s.value >= 0.0)
            .map(|s| s.value / limit)
            .fold(None, |acc: Option<MemoryReading>, ratio| {
                let mut r = acc.unwrap_or(MemoryReading {
                    max_ratio: 0.0,
                    processes: 0,
                });
                r.max_ratio = r.max_ratio.max(ratio);
                r.processes += 1;
                Some(r)
            });
        Ok(())
    }

    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    pub fn knows_memory_limit(&self) -> bool {
        self.memory_limit.is_some()
    }

    /// A sample's value, or NaN (counted) when it is not a count.
    fn checked(&mut self, value: f64) -> f64 {
        match super::scrape::bad_reason(value) {
            Some(reason) => {
                self.bad_samples.push(reason);
                f64::NAN
            }
            None => value,
        }
    }

    /// One plan's measurements; `on` outcomes since the phase started take
    /// one more query (each plan's phase has its own start).
    pub fn measure(
        &mut self,
        flag: &str,
        window: Duration,
        phase_started: SystemTime,
        now: SystemTime,
    ) -> Measurements {
        if let Some(failure) = &self.failure {
            return Measurements {
                flag: Err(failure.clone()),
                memory: Err(failure.clone()),
                evidence: None,
            };
        }
        let evidence = self.newest.and_then(|at| {
            Some(Evidence {
                at,
                spacing: SignedDuration::try_from(self.spacing).ok()?,
            })
        });
        let answered = self
            .windows
            .get(&seconds(window))
            .and_then(|d| d.flags.get(flag))
            .cloned();
        let mut fw = FlagWindow::default();
        if let Some(a) = answered {
            fw = a.window;
            let missing = a.seen.iter().filter(|s| !**s).count();
            if missing > 0 {
                self.bad_samples
                    .extend(std::iter::repeat_n("missing", missing));
                fw.bad.push(format!("{missing} series missing"));
                for k in 0..2 {
                    let per = DURATION_BOUNDS.len() + 1;
                    let c = cohort_mut(&mut fw, k);
                    if !a.seen[k * 2] || !a.seen[k * 2 + 1] {
                        c.ok = f64::NAN;
                        c.errors = f64::NAN;
                    }
                    if a.seen[4 + k * per..4 + (k + 1) * per].iter().any(|s| !s) {
                        c.duration_le = [f64::NAN; DURATION_BOUNDS.len()];
                    }
                }
            }
            for k in 0..2 {
                let c = cohort_mut(&mut fw, k);
                let last = c.duration_le[DURATION_BOUNDS.len() - 1];
                // `+Inf` below the last bound: the buckets contradict.
                if a.inf[k] < last - 1e-6 * last.abs().max(1.0) {
                    self.bad_samples.push("buckets");
                    c.duration_le = [f64::NAN; DURATION_BOUNDS.len()];
                    fw.bad.push("buckets above +Inf".into());
                }
            }
            for k in 0..2 {
                let c = cohort_mut(&mut fw, k);
                rescale_histogram(c, a.inf[k]);
            }
            if [fw.on.ok, fw.on.errors, fw.off.ok, fw.off.errors]
                .iter()
                .chain(&fw.on.duration_le)
                .chain(&fw.off.duration_le)
                .any(|v| v.is_nan())
                && fw.bad.is_empty()
            {
                fw.bad.push("a series was NaN, negative or infinite".into());
            }
        } else {
            // Prometheus has nothing of the flag: too few outcomes, as a
            // new flag has; every series absent is no count at all.
            fw.on = CohortWindow::default();
            fw.off = CohortWindow::default();
        }
        fw.complaints_last_hour = self.complaints.get(flag).copied().unwrap_or(f64::NAN);
        let in_phase = now.duration_since(phase_started).unwrap_or_default();
        let query = format!(
            "sum(increase({}[{}s]))",
            series(
                OUTCOMES,
                &self.matchers,
                &format!("flag=\"{}\",cohort=\"on\"", quote(flag))
            ),
            seconds(in_phase)
        );
        match self.query(&query) {
            Ok(result) => {
                fw.on_outcomes_in_phase = result.iter().map(|s| self.checked(s.value)).sum()
            }
            Err(e) => {
                return Measurements {
                    flag: Err(e.clone()),
                    memory: Err(e),
                    evidence,
                };
            }
        }
        Measurements {
            flag: Ok(fw),
            memory: Ok(self.memory),
            evidence,
        }
    }
}

impl PrometheusSource {
    /// Each `instance`'s own measurements of `flag` over `window`: the
    /// window's queries again, for this flag only, grouped by `instance`
    /// as well (for a rollback to say where its trigger read worst).
    pub fn per_instance(
        &self,
        flag: &str,
        window: Duration,
    ) -> Result<Vec<(String, Measurements)>, String> {
        let w = seconds(window);
        let only = format!("flag=\"{}\"", quote(flag));
        let mut each: HashMap<String, (FlagWindow, [f64; 2], Option<MemoryReading>)> =
            HashMap::new();
        let instance = |s: &Series| s.labels.get("instance").cloned().unwrap_or_default();
        for s in self.query(&format!(
            "sum by (instance, cohort, result) (increase({}[{w}s]))",
            series(OUTCOMES, &self.matchers, &only)
        ))? {
            let Some(k) = s.labels.get("cohort").and_then(|c| cohort_index(c)) else {
                continue;
            };
            let entry = each.entry(instance(&s)).or_default();
            let c = cohort_mut(&mut entry.0, k);
            match s.labels.get("result").map(String::as_str) {
                Some("ok") => c.ok += s.value,
                Some("error") => c.errors += s.value,
                _ => {}
            }
        }
        for s in self.query(&format!(
            "sum by (instance, cohort, le) (increase({}[{w}s]))",
            series(DURATION_BUCKETS, &self.matchers, &only)
        ))? {
            let (Some(k), Some(le)) = (
                s.labels.get("cohort").and_then(|c| cohort_index(c)),
                s.labels.get("le"),
            ) else {
                continue;
            };
            let entry = each.entry(instance(&s)).or_default();
            if le == "+Inf" {
                entry.1[k] += s.value;
            } else if let Some(i) = le.parse::<f64>().ok().and_then(|le| {
                DURATION_BOUNDS
                    .iter()
                    .position(|b| (b - le).abs() <= 1e-9 * b)
            }) {
                cohort_mut(&mut entry.0, k).duration_le[i] += s.value;
            }
        }
        for s in self.query(&format!(
            "sum by (instance) (increase({}[1h]))",
            series(COMPLAINTS, &self.matchers, &only)
        ))? {
            each.entry(instance(&s)).or_default().0.complaints_last_hour += s.value;
        }
        if let Some(limit) = self.memory_limit {
            for s in self.query(&series(RESIDENT_MEMORY, &self.matchers, ""))? {
                each.entry(instance(&s)).or_default().2 = Some(MemoryReading {
                    max_ratio: s.value / limit,
                    processes: 1,
                });
            }
        }
        Ok(each
            .into_iter()
            .map(|(name, (mut fw, inf, memory))| {
                rescale_histogram(&mut fw.on, inf[0]);
                rescale_histogram(&mut fw.off, inf[1]);
                let m = Measurements {
                    flag: Ok(fw),
                    memory: Ok(memory),
                    evidence: None,
                };
                (name, m)
            })
            .collect())
    }

    /// The flag's counts over a phase's span (for the rollouts file's
    /// history, which `--report` reads).
    pub fn phase_counts(
        &self,
        flag: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<flags_rollout::state::PhaseCounts, String> {
        super::phase_counts::phase_counts(&self.client, &self.base, &self.matchers, flag, from, to)
    }
}

/// Puts a cohort's duration histogram on the scale of its outcome counts.
///
/// `increase()` extrapolates every series on its own, and clips each at its
/// counter's zero point: while the start of a series (a bot's start, a flag's
/// first `on` answer) lies inside the window, the sum of the buckets'
/// increases and the sum of the outcomes' increases differ by a few
/// percent, though both count the same answers. Compared as counts, the
/// histogram then claims more answers than there were outcomes, and
/// response_time had no data for a whole window (the "357 of 50" hold).
/// The histogram's shares are what the trigger needs, so each bucket
/// becomes its share of the histogram's own `+Inf` times the outcomes.
fn rescale_histogram(c: &mut CohortWindow, inf: f64) {
    let total = c.total();
    if !(inf.is_finite() && inf > 0.0 && total.is_finite()) {
        return;
    }
    for v in c.duration_le.iter_mut().filter(|v| !v.is_nan()) {
        *v = (*v / inf).min(1.0) * total;
    }
}

fn cohort_index(cohort: &str) -> Option<usize> {
    match cohort {
        "on" => Some(0),
        "off" => Some(1),
        _ => None,
    }
}

fn cohort_mut(window: &mut FlagWindow, k: usize) -> &mut CohortWindow {
    if k == 0 {
        &mut window.on
    } else {
        &mut window.off
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_takes_the_outcomes_scale() {
        // Extrapolated apart: 372.4 answers in the histogram, 357.1 outcomes.
        let mut c = CohortWindow {
            ok: 350.0,
            errors: 7.1,
            duration_le: [
                0.0, 0.0, 10.0, 186.2, 372.4, 372.4, 372.4, 372.4, 372.4, 372.4,
            ],
        };
        rescale_histogram(&mut c, 372.4);
        assert!(
            (c.duration_le[9] - 357.1).abs() < 1e-9,
            "{:?}",
            c.duration_le
        );
        assert!((c.duration_le[3] - 357.1 / 2.0).abs() < 1e-9);
        assert!(flags_rollout::decide::usable(&c, true));
        // NaN buckets stay NaN (no data), an empty histogram stays as it is.
        let mut nan = c;
        nan.duration_le[2] = f64::NAN;
        rescale_histogram(&mut nan, 372.4);
        assert!(nan.duration_le[2].is_nan());
        let mut empty = CohortWindow::default();
        rescale_histogram(&mut empty, 0.0);
        assert_eq!(empty, CohortWindow::default());
    }

    #[test]
    fn reads_vectors_and_keeps_nan() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"flag":"f","cohort":"on","result":"ok"},"value":[1700000000.1,"412.5"]},
            {"metric":{"flag":"f","cohort":"on","result":"error"},"value":[1700000000.1,"NaN"]},
            {"metric":{},"value":[1700000000.1,"+Inf"]}]}}"#;
        let got = parse_vector(body).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].value, 412.5);
        assert_eq!(got[0].labels["cohort"], "on");
        assert!(got[1].value.is_nan());
        assert_eq!(got[2].value, f64::INFINITY);
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(parse_vector(empty).unwrap().is_empty());
    }

    #[test]
    fn errors_and_odd_replies() {
        let err = parse_vector(
            r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#,
        )
        .unwrap_err();
        assert!(err.contains("parse error at char 5"), "{err}");
        assert!(parse_vector("<html>").unwrap_err().contains("not JSON"));
        assert!(
            parse_vector(r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#)
                .is_err()
        );
        assert!(parse_vector(r#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"x"]}]}}"#).is_err());
        // Truncated.
        assert!(parse_vector(r#"{"status":"success","data":{"resultType":"vec"#).is_err());
    }

    #[test]
    fn selectors_merge_with_the_flag_matcher() {
        assert_eq!(selector_matchers("").unwrap(), "");
        assert_eq!(selector_matchers(r#"{job="bot"}"#).unwrap(), r#"job="bot""#);
        assert!(selector_matchers(r#"job="bot""#).is_err());
        let m = selector_matchers(r#"{job="bot", env=~"prod.*"}"#).unwrap();
        assert_eq!(
            series(OUTCOMES, &m, r#"flag="a",cohort="on""#),
            r#"feature_flags_outcomes_total{job="bot", env=~"prod.*",flag="a",cohort="on"}"#
        );
        assert_eq!(series(OUTCOMES, "", ""), "feature_flags_outcomes_total{}");
        assert_eq!(quote(r#"a"b\"#), r#"a\"b\\"#);
    }
}
