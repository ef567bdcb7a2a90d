//! The one writer of the Prometheus text exposition format (version 0.0.4):
//! a family's `# HELP` and `# TYPE` lines, sample lines with escaped labels,
//! and histograms. The store's metrics, the guard's and the sync's are all
//! written through it, so they escape labels and spell floats alike.
//!
//! Everything writes into any [`fmt::Write`] (a `String`, a `Formatter`) and
//! allocates nothing of its own: label values are escaped as they are
//! written, not copied first, since a bot renders every series of every
//! flag on each scrape.

use std::fmt::{self, Display, Write};

/// A metric family's type, as its `# TYPE` line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A sample's labels in the order they are written: `(name, value)`, the
/// value escaped on the way out. Names are the caller's constants and are
/// written as they are.
pub type Labels<'a> = [(&'a str, &'a dyn Display)];

/// Writes the `# HELP` and `# TYPE` lines that open family `name`.
pub fn header<W: Write + ?Sized>(out: &mut W, name: &str, kind: Kind, help: &str) -> fmt::Result {
    writeln!(out, "# HELP {name} {help}")?;
    writeln!(out, "# TYPE {name} {}", kind.as_str())
}

/// Writes one sample line, `name{label="value",...} value`; without labels,
/// `name value`. Floats should come as [`GoFloat`], integers as they are.
pub fn sample<W: Write + ?Sized>(
    out: &mut W,
    name: &str,
    labels: &Labels<'_>,
    value: impl Display,
) -> fmt::Result {
    line(out, name, "", labels, None, value)
}

/// Writes a histogram's samples for one label set: a `_bucket` per bound
/// (`le`) with `cumulative[i]` outcomes at or below `bounds[i]`, the `+Inf`
/// bucket and `_count` with `count`, and `_sum` with `sum`. The family's
/// header is the caller's ([`header`] with [`Kind::Histogram`]).
pub fn histogram<W: Write + ?Sized>(
    out: &mut W,
    name: &str,
    labels: &Labels<'_>,
    buckets: impl IntoIterator<Item = (f64, u64)>,
    count: u64,
    sum: f64,
) -> fmt::Result {
    for (bound, value) in buckets {
        line(out, name, "_bucket", labels, Some(&GoFloat(bound)), value)?;
    }
    line(out, name, "_bucket", labels, Some(&"+Inf"), count)?;
    line(out, name, "_sum", labels, None, GoFloat(sum))?;
    line(out, name, "_count", labels, None, count)
}

/// A sample of `name` + `suffix`, with `le` after the other labels when
/// given (a histogram's bucket).
fn line<W: Write + ?Sized>(
    out: &mut W,
    name: &str,
    suffix: &str,
    labels: &Labels<'_>,
    le: Option<&dyn Display>,
    value: impl Display,
) -> fmt::Result {
    out.write_str(name)?;
    out.write_str(suffix)?;
    let le = le.map(|le| ("le", le));
    let mut separator = "{";
    for (label, value) in labels.iter().copied().chain(le) {
        out.write_str(separator)?;
        out.write_str(label)?;
        out.write_str("=\"")?;
        write!(Escaped(&mut *out), "{value}")?;
        out.write_char('"')?;
        separator = ",";
    }
    if separator == "," {
        out.write_char('}')?;
    }
    writeln!(out, " {value}")
}

/// Writes what it is given with `\`, `"` and newlines escaped, as label
/// values need them. Flag names are validated to need none of it; the
/// guard's labels (a criterion's `needs`, a source's URL) might.
struct Escaped<'a, W: ?Sized>(&'a mut W);

impl<W: Write + ?Sized> Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Runs without anything to escape go out in one piece.
        let mut rest = s;
        while let Some(at) = rest.find(['\\', '"', '\n']) {
            self.0.write_str(&rest[..at])?;
            self.0.write_str(match rest.as_bytes()[at] {
                b'\\' => "\\\\",
                b'"' => "\\\"",
                _ => "\\n",
            })?;
            rest = &rest[at + 1..];
        }
        self.0.write_str(rest)
    }
}

/// A float as Prometheus (Go) spells it: `NaN`, `+Inf`, `-Inf`, else as
/// Rust writes it (`0.5`, `2`, `1700000000.25`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GoFloat(pub f64);

impl Display for GoFloat {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.is_nan() {
            out.write_str("NaN")
        } else if v == f64::INFINITY {
            out.write_str("+Inf")
        } else if v == f64::NEG_INFINITY {
            out.write_str("-Inf")
        } else {
            write!(out, "{v}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        let mut out = String::new();
        sample(
            &mut out,
            "m",
            &[("flag", &"a\\b\"c\nd"), ("plain", &"new_gpt-model.v2")],
            1,
        )
        .unwrap();
        assert_eq!(
            out,
            "m{flag=\"a\\\\b\\\"c\\nd\",plain=\"new_gpt-model.v2\"} 1\n"
        );
    }

    #[test]
    fn samples_without_labels_have_no_braces() {
        let mut out = String::new();
        header(&mut out, "m_total", Kind::Counter, "Things.").unwrap();
        sample(&mut out, "m_total", &[], 7).unwrap();
        assert_eq!(
            out,
            "# HELP m_total Things.\n# TYPE m_total counter\nm_total 7\n"
        );
    }

    #[test]
    fn floats_are_spelled_as_prometheus_does() {
        for (v, text) in [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (0.008, "0.008"),
            (2.0, "2"),
            (1_700_000_000.5, "1700000000.5"),
        ] {
            assert_eq!(GoFloat(v).to_string(), text);
        }
    }

    #[test]
    fn a_histogram_has_its_buckets_then_sum_and_count() {
        let mut out = String::new();
        histogram(
            &mut out,
            "d_seconds",
            &[("flag", &"f")],
            [(0.5, 1), (1.0, 3)],
            4,
            2.25,
        )
        .unwrap();
        assert_eq!(
            out,
            "d_seconds_bucket{flag=\"f\",le=\"0.5\"} 1\n\
             d_seconds_bucket{flag=\"f\",le=\"1\"} 3\n\
             d_seconds_bucket{flag=\"f\",le=\"+Inf\"} 4\n\
             d_seconds_sum{flag=\"f\"} 2.25\n\
             d_seconds_count{flag=\"f\"} 4\n"
        );
    }
}
