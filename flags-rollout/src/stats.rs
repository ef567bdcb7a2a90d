//! The arithmetic behind the triggers and the success criteria: which
//! counts can be judged at all, the two-proportion z-test and quantiles
//! from cumulative histogram buckets.

use crate::measure::{CohortWindow, DURATION_BOUNDS};

/// One-sided z above which the `on` cohort is worse than `off` by more than
/// chance: the 0.001 level (docs/spec.md "Rollout plans and the guard").
pub const Z_CRITICAL: f64 = 3.09;

/// The pooled two-proportion z statistic for `on` (x1 of n1) being higher
/// than `off` (x2 of n2). Positive when `on` is worse. 0 when the pooled
/// share is 0 or 1 (both cohorts alike: no evidence either way); NaN when a
/// count is not a number or a cohort is empty.
pub fn two_proportion_z(x1: f64, n1: f64, x2: f64, n2: f64) -> f64 {
    if !(n1 > 0.0 && n2 > 0.0 && x1.is_finite() && x2.is_finite()) {
        return f64::NAN;
    }
    let p1 = x1 / n1;
    let p2 = x2 / n2;
    let pooled = (x1 + x2) / (n1 + n2);
    let variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2);
    if !at_least(variance, f64::MIN_POSITIVE) {
        return 0.0;
    }
    (p1 - p2) / variance.sqrt()
}

/// `value >= min`, false for NaN: no data is never enough.
pub fn at_least(value: f64, min: f64) -> bool {
    value >= min
}

/// A count that can be judged: finite and not negative.
pub(crate) fn count(v: f64) -> bool {
    v.is_finite() && v >= 0.0
}

/// Whether a cohort's counts can be judged: each a finite count, and for
/// `response_time` the buckets cumulative and within the outcomes (a
/// little slack for increases computed in floating point).
pub fn usable(c: &CohortWindow, with_buckets: bool) -> bool {
    if !(count(c.ok) && count(c.errors)) {
        return false;
    }
    if !with_buckets {
        return true;
    }
    let slack = |v: f64| 1e-6 * v.abs().max(1.0);
    let total = c.total();
    c.duration_le.iter().all(|&v| count(v))
        && c.duration_le.windows(2).all(|w| w[1] >= w[0] - slack(w[0]))
        && c.duration_le[DURATION_BOUNDS.len() - 1] <= total + slack(total)
}

/// Index of the smallest bound at or above `threshold` seconds, if any.
pub fn bound_at_or_above(threshold: f64) -> Option<usize> {
    DURATION_BOUNDS.iter().position(|&b| b >= threshold)
}

/// Outcomes slower than bound `index` (above its `le` bucket), never below
/// 0 (counters scraped a moment apart can disagree by a little).
pub fn slower_than(cohort: &CohortWindow, index: usize) -> f64 {
    (cohort.total() - cohort.duration_le[index]).max(0.0)
}

/// The `q` quantile of a cohort's durations, computed as Prometheus'
/// `histogram_quantile` does for classic buckets: buckets made monotonic,
/// linear interpolation inside the bucket holding the rank (from 0 for the
/// first), and the highest finite bound when the rank falls in `+Inf`.
/// NaN for an empty histogram or a value that is not a number.
pub fn histogram_quantile(q: f64, cohort: &CohortWindow) -> f64 {
    let total = cohort.total();
    if q.is_nan() || !total.is_finite() || cohort.duration_le.iter().any(|c| !c.is_finite()) {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // (upper bound, cumulative count), ending with +Inf holding the total.
    let mut buckets: Vec<(f64, f64)> = DURATION_BOUNDS
        .iter()
        .copied()
        .zip(cohort.duration_le)
        .collect();
    buckets.push((f64::INFINITY, total));
    let mut max = 0.0_f64;
    for bucket in &mut buckets {
        max = max.max(bucket.1);
        bucket.1 = max;
    }
    let observations = buckets[buckets.len() - 1].1;
    if !at_least(observations, f64::MIN_POSITIVE) {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = buckets
        .iter()
        .position(|&(_, count)| count >= rank)
        .unwrap_or(buckets.len() - 1);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    let (end, mut count) = buckets[b];
    let mut start = 0.0;
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cohort(ok: f64, le: [f64; 10]) -> CohortWindow {
        CohortWindow {
            ok,
            errors: 0.0,
            duration_le: le,
        }
    }

    #[test]
    fn z_matches_a_worked_example() {
        // 60/1000 against 40/1000: pooled 0.05, se = sqrt(.05*.95*.002).
        let z = two_proportion_z(60.0, 1000.0, 40.0, 1000.0);
        assert!((z - 2.0519).abs() < 1e-3, "{z}");
        assert!(two_proportion_z(40.0, 1000.0, 60.0, 1000.0) < 0.0);
        assert_eq!(two_proportion_z(0.0, 10.0, 0.0, 10.0), 0.0);
        assert_eq!(two_proportion_z(10.0, 10.0, 10.0, 10.0), 0.0);
        assert!(two_proportion_z(1.0, 0.0, 1.0, 10.0).is_nan());
        assert!(two_proportion_z(f64::NAN, 10.0, 1.0, 10.0).is_nan());
    }

    #[test]
    fn quantile_as_prometheus_computes_it() {
        // 100 outcomes: 50 by 0.1 s, 90 by 1 s, 100 by 2 s.
        let c = cohort(
            100.0,
            [0.0, 0.0, 50.0, 60.0, 80.0, 90.0, 100.0, 100.0, 100.0, 100.0],
        );
        // rank 95 falls in (1, 2]: 1 + 1 * (95-90)/10.
        assert!((histogram_quantile(0.95, &c) - 1.5).abs() < 1e-12);
        // rank 50 is exactly the 0.1 bucket's count.
        assert!((histogram_quantile(0.5, &c) - 0.1).abs() < 1e-12);
        // rank 10 in the first non-empty bucket (0.05, 0.1]: 0.05 + 0.05 * 10/50.
        assert!((histogram_quantile(0.1, &c) - 0.06).abs() < 1e-12);
        // all above 30 s: the highest finite bound.
        let slow = cohort(10.0, [0.0; 10]);
        assert_eq!(histogram_quantile(0.95, &slow), 30.0);
        // in the first bucket: from 0.
        let fast = cohort(10.0, [10.0; 10]);
        assert!((histogram_quantile(0.5, &fast) - 0.0125).abs() < 1e-12);
        assert!(histogram_quantile(0.95, &cohort(0.0, [0.0; 10])).is_nan());
        let mut nan = fast;
        nan.duration_le[3] = f64::NAN;
        assert!(histogram_quantile(0.95, &nan).is_nan());
        // a bucket lower than the one before it is raised to it.
        let bumpy = cohort(
            10.0,
            [5.0, 4.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0],
        );
        assert!((histogram_quantile(0.5, &bumpy) - 0.025).abs() < 1e-12);
    }

    #[test]
    fn slow_counts_use_the_bound_at_or_above() {
        assert_eq!(bound_at_or_above(5.0), Some(7));
        assert_eq!(bound_at_or_above(3.0), Some(7));
        assert_eq!(bound_at_or_above(2.0), Some(6));
        assert_eq!(bound_at_or_above(0.01), Some(0));
        assert_eq!(bound_at_or_above(31.0), None);
        let c = cohort(
            100.0,
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 93.0, 101.0, 101.0],
        );
        assert_eq!(slower_than(&c, 7), 7.0);
        assert_eq!(slower_than(&c, 8), 0.0);
    }
}
