//! "Did you mean …?" for mistyped names.

/// The candidate closest to `input` by edit distance, if it is close enough
/// to be a plausible typo (a third of the longer name, at least two edits).
pub fn nearest_name<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(input, c), c))
        .filter(|&(d, c)| d > 0 && d <= (input.len().max(c.len()) / 3).max(2))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and swaps of two neighbours (`modle` → `model` is one edit).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
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
}
