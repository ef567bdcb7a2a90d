//! Text from data made inert for a terminal: a flag document, an audit row
//! or a rollouts document may hold any character (a declared user
//! `\e[31m…`, a description with a carriage return), and an escape sequence
//! printed raw would recolour, retitle or rewrite the operator's terminal.
//! Every printer of data passes it through [`inert`].

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with each control character (C0, DEL, C1) and each bidirectional
/// override written as an escape: `\x1b`, `\x0a`, `\u{202e}`. Other text is
/// unchanged (and not copied).
pub fn inert(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_active) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !is_active(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// Each line of `text` made inert, its line breaks kept: for printers
/// whose own layout has several lines.
pub fn inert_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| match line.strip_suffix('\n') {
            Some(body) => format!("{}\n", inert(body)),
            None => inert(line).into_owned(),
        })
        .collect()
}

/// A character a terminal acts on instead of showing, or that reorders
/// what is shown around it.
fn is_active(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_characters_are_escaped() {
        let cases = [
            ("ops", "ops"),
            ("\u{1b}[31mred\u{1b}[0m", "\\x1b[31mred\\x1b[0m"),
            ("a\nb\rc\td", "a\\x0ab\\x0dc\\x09d"),
            ("\u{7f}\u{9b}", "\\x7f\\x9b"),
            ("admin\u{202e}txt.exe", "admin\\u{202e}txt.exe"),
            ("Grüße, 日本", "Grüße, 日本"),
        ];
        for (raw, shown) in cases {
            assert_eq!(inert(raw), shown, "{raw:?}");
        }
        assert!(matches!(inert("plain"), Cow::Borrowed(_)));
        assert_eq!(inert_lines("a\u{1b}\nb\n"), "a\\x1b\nb\n");
        assert_eq!(inert_lines("x\u{7}"), "x\\x07");
    }

    #[test]
    fn no_character_comes_out_active() {
        // Every Unicode scalar value, alone and beside text.
        for c in (0..=0x10_ffff_u32).filter_map(char::from_u32) {
            let raw = format!("a{c}b");
            let shown = inert(&raw);
            assert!(!shown.chars().any(is_active), "{c:?}");
            assert_eq!(inert(&shown), shown, "inert text is left as it is");
        }
    }
}
