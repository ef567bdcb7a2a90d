//! Long text cut to a bounded length for messages: a problem's path or a
//! quoted value costs at most a few hundred bytes however long the name or
//! string in the file is.

use std::borrow::Cow;
use std::fmt;

/// The most characters of a value or a name quoted in a message.
pub(crate) const MAX_QUOTED_CHARS: usize = 64;

/// The most characters of a problem's path.
pub(crate) const MAX_PATH_CHARS: usize = 256;

/// The mark where characters were left out.
const GAP: &str = "…";

/// `text` itself if it has at most `max` characters, else its start and
/// end with `…` between (`max` characters in all, the mark included).
/// Looks at no more than about `max` characters of `text`, so shortening a
/// megabyte string costs as little as a short one.
pub(crate) fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    // At most `max` bytes is at most `max` characters.
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let keep = max.saturating_sub(1);
    let head_chars = keep / 2;
    let tail_chars = keep - head_chars;
    let head_end = text
        .char_indices()
        .nth(head_chars)
        .map_or(text.len(), |(i, _)| i);
    let tail_start = if tail_chars == 0 {
        text.len()
    } else {
        text.char_indices()
            .rev()
            .nth(tail_chars - 1)
            .map_or(0, |(i, _)| i)
    };
    // Whole if the part left out would be at most one character (then
    // the text has at most `max`).
    if head_end >= tail_start || text[head_end..tail_start].chars().nth(1).is_none() {
        return Cow::Borrowed(text);
    }
    Cow::Owned(format!("{}{GAP}{}", &text[..head_end], &text[tail_start..]))
}

/// `text` shortened to [`MAX_QUOTED_CHARS`], in Rust/JSON-style quotes,
/// for quoting a value in a message.
pub(crate) struct Quoted<'a>(pub(crate) &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", shorten(self.0, MAX_QUOTED_CHARS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_whole() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("", 0), "");
        // Five characters in ten bytes.
        assert_eq!(shorten("ééééé", 5), "ééééé");
        assert!(matches!(shorten("ééééé", 5), Cow::Borrowed(_)));
    }

    #[test]
    fn long_text_keeps_its_ends() {
        let long = format!("{}{}", "a".repeat(1000), "z".repeat(1000));
        let short = shorten(&long, 9);
        assert_eq!(short, "aaaa…zzzz");
        assert_eq!(short.chars().count(), 9);
        let wide = "é".repeat(100);
        let short = shorten(&wide, 11);
        assert_eq!(short.chars().count(), 11);
        assert!(short.contains('…'));
    }

    #[test]
    fn quoting_escapes_and_bounds() {
        assert_eq!(Quoted("a\"b").to_string(), r#""a\"b""#);
        let quoted = Quoted(&"x".repeat(1_000_000)).to_string();
        assert_eq!(quoted.chars().count(), MAX_QUOTED_CHARS + 2);
    }
}
