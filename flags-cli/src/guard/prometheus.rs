//! `--prometheus URL`: the guard asks a Prometheus server, which already
//! scrapes every bot of the fleet, with instant queries on its HTTP API
//! (`/api/v1/query`), summing across instances. A series that Prometheus
//! answers with NaN, or does not answer at all, is no data (never a healthy
//! zero): the decision then waits for `min_samples`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use flags_rollout::measure::{
    CohortWindow, DURATION_BOUNDS, FlagWindow, Measurements, MemoryReading,
};
use serde_json::Value;

use super::http::Client;
use super::scrape::{COMPLAINTS, DURATION_BUCKETS, OUTCOMES, RESIDENT_MEMORY};

/// One instant-vector result: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: HashMap<String, String>,
    pub value: f64,
}

/// Reads an `/api/v1/query` reply: the vector's series, NaN values left out.
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
            "NaN" => continue,
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

/// The window's numbers of every flag, from three queries.
#[derive(Default)]
struct WindowData {
    flags: HashMap<String, FlagWindow>,
}

pub struct PrometheusSource {
    client: Client,
    base: String,
    matchers: String,
    memory_limit: f64,
    windows: HashMap<u64, WindowData>,
    complaints: HashMap<String, f64>,
    memory: Option<MemoryReading>,
    failure: Option<String>,
}

impl PrometheusSource {
    pub fn new(
        client: Client,
        url: &str,
        selector: &str,
        memory_limit_bytes: u64,
    ) -> Result<PrometheusSource, String> {
        Ok(PrometheusSource {
            client,
            base: url.trim_end_matches('/').to_owned(),
            matchers: selector_matchers(selector)?,
            memory_limit: memory_limit_bytes as f64,
            windows: HashMap::new(),
            complaints: HashMap::new(),
            memory: None,
            failure: None,
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
        self.failure = self.try_refresh(windows).err();
    }

    fn try_refresh(&mut self, windows: &[Duration]) -> Result<(), String> {
        self.windows.clear();
        let mut distinct: Vec<u64> = windows.iter().map(|w| seconds(*w)).collect();
        distinct.sort_unstable();
        distinct.dedup();
        for w in distinct {
            let mut data = WindowData::default();
            let outcomes = self.query(&format!(
                "sum by (flag, cohort, result) (increase({}[{w}s]))",
                series(OUTCOMES, &self.matchers, "")
            ))?;
            for s in outcomes {
                let (Some(flag), Some(cohort)) = (s.labels.get("flag"), s.labels.get("cohort"))
                else {
                    continue;
                };
                let entry = data.flags.entry(flag.clone()).or_default();
                let Some(c) = cohort_of(entry, cohort) else {
                    continue;
                };
                match s.labels.get("result").map(String::as_str) {
                    Some("ok") => c.ok += s.value,
                    Some("error") => c.errors += s.value,
                    _ => {}
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
                let Ok(le) = le.parse::<f64>() else { continue };
                let Some(i) = DURATION_BOUNDS
                    .iter()
                    .position(|b| (b - le).abs() <= 1e-9 * b)
                else {
                    continue;
                };
                let entry = data.flags.entry(flag.clone()).or_default();
                if let Some(c) = cohort_of(entry, cohort) {
                    c.duration_le[i] += s.value;
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
                *self.complaints.entry(flag.clone()).or_default() += s.value;
            }
        }
        let memory = self.query(&series(RESIDENT_MEMORY, &self.matchers, ""))?;
        self.memory = memory
            .iter()
            .filter(|s| s.value.is_finite())
            .map(|s| s.value / self.memory_limit)
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
            };
        }
        let mut fw = self
            .windows
            .get(&seconds(window))
            .and_then(|d| d.flags.get(flag))
            .cloned()
            .unwrap_or_default();
        fw.complaints_last_hour = self.complaints.get(flag).copied().unwrap_or(0.0);
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
            Ok(result) => fw.on_outcomes_in_phase = result.iter().map(|s| s.value).sum(),
            Err(e) => {
                return Measurements {
                    flag: Err(e.clone()),
                    memory: Err(e),
                };
            }
        }
        Measurements {
            flag: Ok(fw),
            memory: Ok(self.memory),
        }
    }
}

fn cohort_of<'a>(window: &'a mut FlagWindow, cohort: &str) -> Option<&'a mut CohortWindow> {
    match cohort {
        "on" => Some(&mut window.on),
        "off" => Some(&mut window.off),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vectors_and_drops_nan() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"flag":"f","cohort":"on","result":"ok"},"value":[1700000000.1,"412.5"]},
            {"metric":{"flag":"f","cohort":"on","result":"error"},"value":[1700000000.1,"NaN"]},
            {"metric":{},"value":[1700000000.1,"+Inf"]}]}}"#;
        let got = parse_vector(body).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].value, 412.5);
        assert_eq!(got[0].labels["cohort"], "on");
        assert_eq!(got[1].value, f64::INFINITY);
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
