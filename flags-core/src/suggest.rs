//! "Did you mean …?" for mistyped names.
//!
//! Bounded: an edit distance is computed only where the lengths allow a
//! match (the distance is at least the difference in length), and never for
//! a name longer than [`MAX_SUGGEST_CHARS`], so a megabyte-long key in a
//! hostile file costs a length check, not a megabyte-by-name table.

/// Names longer than this get no suggestion (names are at most 128
/// characters; field names and chat types are far shorter).
pub const MAX_SUGGEST_CHARS: usize = 256;

/// The candidate closest to `input` by edit distance, if it is close enough
/// to be a plausible typo (a third of the longer name, at least two edits).
pub fn nearest_name<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // More than 4 bytes per allowed character cannot be a short name.
    if input.len() > 4 * MAX_SUGGEST_CHARS {
        return None;
    }
    let input: Vec<char> = input.chars().collect();
    if input.len() > MAX_SUGGEST_CHARS {
        return None;
    }
    let mut candidate = Vec::new();
    let mut rows = Rows::default();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c.len() > 4 * MAX_SUGGEST_CHARS {
            continue;
        }
        candidate.clear();
        candidate.extend(c.chars());
        let limit = (input.len().max(candidate.len()) / 3).max(2);
        if input.len().abs_diff(candidate.len()) > limit {
            continue;
        }
        let d = rows.edit_distance(&input, &candidate);
        if d > 0 && d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Three rows of the distance table, reused between candidates.
#[derive(Default)]
struct Rows {
    before_last: Vec<usize>,
    last: Vec<usize>,
    current: Vec<usize>,
}

impl Rows {
    /// Optimal string alignment distance: insertions, deletions,
    /// substitutions and swaps of two neighbours (`modle` → `model` is one
    /// edit). Memory: three rows of `b`'s length.
    fn edit_distance(&mut self, a: &[char], b: &[char]) -> usize {
        let width = b.len() + 1;
        for row in [&mut self.before_last, &mut self.last, &mut self.current] {
            row.clear();
            row.resize(width, 0);
        }
        for (j, cell) in self.last.iter_mut().enumerate() {
            *cell = j;
        }
        for i in 1..=a.len() {
            self.current[0] = i;
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (self.last[j] + 1)
                    .min(self.current[j - 1] + 1)
                    .min(self.last[j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(self.before_last[j - 2] + 1);
                }
                self.current[j] = best;
            }
            // before_last ← last ← current; current's old contents are
            // overwritten in the next row.
            std::mem::swap(&mut self.before_last, &mut self.last);
            std::mem::swap(&mut self.last, &mut self.current);
        }
        self.last[b.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["new_gpt_model", "enhanced_video_download", "weather_v2"];
        assert_eq!(nearest_name("new_gpt_modle", names), Some("new_gpt_model"));
        assert_eq!(nearest_name("weather_v3", names), Some("weather_v2"));
        assert_eq!(nearest_name("something_else", names), None);
        assert_eq!(
            nearest_name("new_gpt_model", names),
            None,
            "an exact match is no typo"
        );
        assert_eq!(
            nearest_name("rollout_percentag", ["enabled", "rollout_percentage"]),
            Some("rollout_percentage")
        );
    }

    #[test]
    fn distances_match_the_full_table() {
        fn full(a: &str, b: &str) -> usize {
            let a: Vec<char> = a.chars().collect();
            let b: Vec<char> = b.chars().collect();
            let w = b.len() + 1;
            let mut d = vec![0usize; (a.len() + 1) * w];
            for i in 0..=a.len() {
                d[i * w] = i;
            }
            for (j, cell) in d.iter_mut().enumerate().take(w) {
                *cell = j;
            }
            for i in 1..=a.len() {
                for j in 1..=b.len() {
                    let cost = usize::from(a[i - 1] != b[j - 1]);
                    let mut best = (d[(i - 1) * w + j] + 1)
                        .min(d[i * w + j - 1] + 1)
                        .min(d[(i - 1) * w + j - 1] + cost);
                    if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                        best = best.min(d[(i - 2) * w + j - 2] + 1);
                    }
                    d[i * w + j] = best;
                }
            }
            d[a.len() * w + b.len()]
        }
        let words = [
            "", "a", "ab", "ba", "abc", "acb", "model", "modle", "kitten", "sitting", "é", "éa",
        ];
        let mut rows = Rows::default();
        for a in words {
            for b in words {
                let (ca, cb): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
                assert_eq!(rows.edit_distance(&ca, &cb), full(a, b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn long_names_get_no_suggestion_and_cost_little() {
        let long = "x".repeat(10_000_000);
        assert_eq!(
            nearest_name(&long, ["enabled", &"x".repeat(10_000_001)]),
            None
        );
        let just_over = "a".repeat(MAX_SUGGEST_CHARS + 1);
        assert_eq!(nearest_name(&just_over, [just_over.as_str()]), None);
    }
}
