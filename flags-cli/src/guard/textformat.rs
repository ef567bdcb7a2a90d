//! A small reader of the Prometheus text exposition format (version 0.0.4),
//! for the few families the guard needs.
//!
//! Why not a crate: the maintained-looking parsers (`prometheus-parse`)
//! split labels on `,` and `=` and stop at the first `}`, so a label value
//! with a comma, an equals sign, a brace or an escaped quote — legal in the
//! format, and common in `*_info` series of other libraries on the same
//! endpoint — is silently misread; they also build a `HashMap` per sample.
//! This reader parses only the lines of the families asked for (the others
//! are skipped at the cost of finding their end of line), handles quoting and
//! escapes, allocates nothing per sample unless a value has escapes, and
//! reports a malformed wanted line with its line number.

use std::borrow::Cow;

/// Most labels a sample of a wanted family may have (the guard's have up
/// to 5, plus a few a relabelling proxy might add).
pub const MAX_LABELS: usize = 16;

/// The labels of one sample, split once; [`Labels::get`] decodes a value
/// on demand (allocating only when it has escapes).
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    pairs: [(&'a str, &'a str, bool); MAX_LABELS],
    len: usize,
}

impl<'a> Labels<'a> {
    const EMPTY: Labels<'a> = Labels {
        pairs: [("", "", false); MAX_LABELS],
        len: 0,
    };

    /// The value of label `name`, unescaped; `None` if absent.
    pub fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        let &(_, raw, escaped) = self.pairs[..self.len].iter().find(|p| p.0 == name)?;
        Some(if escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        })
    }
}

/// One `label="value"` at the start of `s`: the label, the raw value (and
/// whether it has escapes) and what follows the closing quote. `None` if
/// malformed.
fn split_pair(s: &str) -> Option<(&str, &str, bool, &str)> {
    let bytes = s.as_bytes();
    let eq = bytes.iter().position(|&b| b == b'=')?;
    let label = s[..eq].trim_end();
    if label.is_empty() || !label.bytes().all(is_name_byte) {
        return None;
    }
    let after_eq = s[eq + 1..].trim_start();
    let body = after_eq.strip_prefix('"')?;
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut escaped = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                escaped = true;
                i += 2;
            }
            b'"' => return Some((label, &body[..i], escaped, &body[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// A line of a wanted family that is not a valid sample.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Calls `sample(name, labels, value)` for every sample whose metric name
/// `wanted` accepts, in order. Comments, blank lines and other families are
/// skipped unparsed. Values are Go floats (`NaN`, `+Inf`, `-Inf`, exponents);
/// a trailing timestamp is ignored.
pub fn for_each_sample<'a>(
    text: &'a str,
    mut wanted: impl FnMut(&str) -> bool,
    mut sample: impl FnMut(&'a str, Labels<'a>, f64),
) -> Result<(), ParseError> {
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .bytes()
            .position(|b| !is_name_byte(b))
            .unwrap_or(line.len());
        let name = &line[..name_end];
        if !wanted(name) {
            continue;
        }
        let fail = |message: &str| ParseError {
            line: index + 1,
            message: format!("{message} in sample of {name}"),
        };
        let mut rest = &line[name_end..];
        let mut labels = Labels::EMPTY;
        if let Some(inner) = rest.strip_prefix('{') {
            (labels, rest) = parse_labels(inner).map_err(fail)?;
        }
        if !rest.starts_with([' ', '\t']) {
            return Err(fail("no value"));
        }
        let value_text = rest
            .split_ascii_whitespace()
            .next()
            .ok_or_else(|| fail("no value"))?;
        let value = parse_value(value_text).ok_or_else(|| fail("value is not a number"))?;
        sample(name, labels, value);
    }
    Ok(())
}

/// Splits a label set (after its `{`) into pairs, checking every one;
/// returns them and what follows the closing `}`.
fn parse_labels(inner: &str) -> Result<(Labels<'_>, &str), &'static str> {
    let mut labels = Labels::EMPTY;
    let mut rest = inner;
    loop {
        let trimmed = rest.trim_start_matches([' ', '\t']);
        if let Some(after) = trimmed.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (label, raw, escaped, after) =
            split_pair(trimmed).ok_or("unterminated or malformed labels")?;
        if labels.len == MAX_LABELS {
            return Err("too many labels");
        }
        labels.pairs[labels.len] = (label, raw, escaped);
        labels.len += 1;
        let after = after.trim_start_matches([' ', '\t']);
        rest = match after.strip_prefix(',') {
            Some(next) => next,
            None if after.starts_with('}') => after,
            None => return Err("unterminated or malformed labels"),
        };
    }
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &str, family: &str) -> Result<Vec<(String, String, f64)>, ParseError> {
        let mut out = Vec::new();
        for_each_sample(
            text,
            |name| name.starts_with(family),
            |name, labels, value| {
                out.push((
                    name.to_owned(),
                    labels
                        .get("flag")
                        .map(|f| f.into_owned())
                        .unwrap_or_default(),
                    value,
                ))
            },
        )?;
        Ok(out)
    }

    /// What Python's prometheus_client writes (0.20+), including `_created`.
    const PYTHON_CLIENT: &str = r#"# HELP feature_flags_outcomes_total Outcomes
# TYPE feature_flags_outcomes_total counter
feature_flags_outcomes_total{cohort="on",flag="new_gpt_model",result="ok"} 412.0
feature_flags_outcomes_total{cohort="on",flag="new_gpt_model",result="error"} 33.0
feature_flags_outcomes_created{cohort="on",flag="new_gpt_model",result="ok"} 1.7e+09
# HELP feature_flags_outcome_duration_seconds Durations
# TYPE feature_flags_outcome_duration_seconds histogram
feature_flags_outcome_duration_seconds_bucket{cohort="on",flag="new_gpt_model",le="0.025"} 1.0
feature_flags_outcome_duration_seconds_bucket{cohort="on",flag="new_gpt_model",le="+Inf"} 445.0
process_resident_memory_bytes 2.4576e+07
python_info{implementation="CPython",major="3",minor="11",patchlevel="2",version="3.11.2"} 1.0
"#;

    #[test]
    fn reads_python_client_output() {
        let got = collect(PYTHON_CLIENT, "feature_flags_outcome").unwrap();
        assert_eq!(got.len(), 5);
        assert_eq!(
            got[0],
            (
                "feature_flags_outcomes_total".into(),
                "new_gpt_model".into(),
                412.0
            )
        );
        assert_eq!(got[2].2, 1.7e9);
        let mem = collect(PYTHON_CLIENT, "process_resident_memory_bytes").unwrap();
        assert_eq!(mem[0].2, 24_576_000.0);
    }

    #[test]
    fn special_values_and_timestamps() {
        let text = "a 1 1700000000000\nb NaN\nc +Inf\nd -Inf\ne 1.5e-3\n";
        let mut values = Vec::new();
        for_each_sample(text, |_| true, |_, _, v| values.push(v)).unwrap();
        assert_eq!(values[0], 1.0);
        assert!(values[1].is_nan());
        assert_eq!(values[2], f64::INFINITY);
        assert_eq!(values[3], f64::NEG_INFINITY);
        assert_eq!(values[4], 0.0015);
    }

    #[test]
    fn label_values_with_commas_braces_and_escapes() {
        let text = r#"m{a="x,y=z}",flag="we\"ird\\name\n",b="" } 7"#;
        let mut seen = None;
        for_each_sample(
            text,
            |_| true,
            |_, labels, v| {
                seen = Some((
                    labels.get("a").unwrap().into_owned(),
                    labels.get("flag").unwrap().into_owned(),
                    labels.get("b").unwrap().into_owned(),
                    labels.get("missing").is_none(),
                    v,
                ))
            },
        )
        .unwrap();
        assert_eq!(
            seen.unwrap(),
            (
                "x,y=z}".into(),
                "we\"ird\\name\n".into(),
                String::new(),
                true,
                7.0
            )
        );
    }

    #[test]
    fn malformed_wanted_lines_are_errors_with_line_numbers() {
        for (text, line) in [
            ("ok 1\nm{flag=\"x\" 1\n", 2),
            ("m{flag=\"x} 1\n", 1),
            ("m{flag=x} 1\n", 1),
            ("m{flag=\"x\"}\n", 1),
            ("m{flag=\"x\"} abc\n", 1),
            ("m{flag=\"x\"}1\n", 1),
            // A reply cut off in the middle of a line.
            ("m{flag=\"x\"} 1\nm{flag=\"y\",coh", 2),
        ] {
            let err = collect(text, "m").unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
        }
    }

    #[test]
    fn labels_are_bounded() {
        let many: Vec<String> = (0..=MAX_LABELS).map(|i| format!("l{i}=\"v\"")).collect();
        let text = format!("m{{{}}} 1\n", many.join(","));
        assert!(
            collect(&text, "m")
                .unwrap_err()
                .message
                .contains("too many labels")
        );
        let text = format!("m{{{}}} 1\n", many[..MAX_LABELS].join(","));
        assert_eq!(collect(&text, "m").unwrap().len(), 1);
    }

    #[test]
    fn unwanted_garbage_is_skipped() {
        let text = "garbage {{{ here\nm{flag=\"x\"} 2\n";
        assert_eq!(collect(text, "m").unwrap().len(), 1);
    }
}
