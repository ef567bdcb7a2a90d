//! Hold times and windows as operators write them (`1d`, `36h`, `5m`,
//! `1d 12h`), parsed by jiff's friendly format with days taken as 24 hours.

use jiff::{SignedDuration, Span, SpanRelativeTo, SpanRound, Unit};

/// The longest hold or window accepted: a year. A longer one is a typo
/// (`1000d`), and it keeps every timestamp sum far from jiff's range.
pub const MAX_DURATION: SignedDuration = SignedDuration::from_secs(366 * 86_400);

/// Parses a positive duration of at most [`MAX_DURATION`], whole seconds.
/// Months and years are refused: they have no fixed length.
pub fn parse_duration(text: &str) -> Result<SignedDuration, String> {
    let hint = "give a duration such as 1d, 36h, 5m or 1d 12h";
    let span: Span = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; {hint}"))?;
    let duration = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|_| format!("{text:?} is not a fixed duration (months and years vary); {hint}"))?;
    if duration <= SignedDuration::ZERO {
        return Err(format!("{text:?} is not a positive duration; {hint}"));
    }
    if duration > MAX_DURATION {
        return Err(format!("{text:?} is longer than a year"));
    }
    if duration.subsec_nanos() != 0 {
        return Err(format!("{text:?} is finer than a second"));
    }
    Ok(duration)
}

/// The shortest friendly form: `1d`, `1d 12h`, `5m`, `1m 30s`.
pub fn format_duration(duration: SignedDuration) -> String {
    Span::try_from(duration)
        .and_then(|span| span.round(SpanRound::new().largest(Unit::Day).days_are_24_hours()))
        .map(|span| format!("{span:#}"))
        .unwrap_or_else(|_| format!("{}s", duration.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_back() {
        for (text, secs, shown) in [
            ("1d", 86_400, "1d"),
            ("3d", 3 * 86_400, "3d"),
            ("5m", 300, "5m"),
            ("36h", 36 * 3600, "1d 12h"),
            ("1d 12h", 36 * 3600, "1d 12h"),
            ("90s", 90, "1m 30s"),
            ("1w", 7 * 86_400, "7d"),
            ("P1D", 86_400, "1d"),
        ] {
            let d = parse_duration(text).unwrap();
            assert_eq!(d.as_secs(), secs, "{text}");
            assert_eq!(format_duration(d), shown, "{text}");
            assert_eq!(parse_duration(shown).unwrap(), d);
        }
    }

    #[test]
    fn refuses_what_is_not_a_positive_fixed_duration() {
        for (text, says) in [
            ("1x", "is not a duration"),
            ("5", "is not a duration"),
            ("", "is not a duration"),
            ("1.5d", "is not a duration"),
            ("1mo", "months and years vary"),
            ("-1d", "not a positive"),
            ("0s", "not a positive"),
            ("400d", "longer than a year"),
            ("1.5s", "finer than a second"),
        ] {
            let e = parse_duration(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
