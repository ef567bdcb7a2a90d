//! The post-rollout analysis of one phase: each cohort's outcome counts,
//! error share and p95 with 95 % intervals, and the `on` − `off`
//! difference with its interval. Pure arithmetic on counts (where they come
//! from is the CLI's business).
//!
//! Methods:
//! - a share: the Wilson score interval;
//! - a difference of two shares: Newcombe's hybrid score interval (his
//!   method 10, built from the two Wilson intervals);
//! - a p95 from histogram buckets: the distribution-free order-statistic
//!   interval, its ranks from the normal approximation to the binomial
//!   (`n·q ± z·√(n·q·(1−q))`), widened to the bucket bounds that hold those
//!   ranks (a bucket says only that a value lies between its bounds); the
//!   upper end is infinite when its rank falls above the last bound.

use crate::measure::{CohortWindow, DURATION_BOUNDS};
use crate::stats::histogram_quantile;

/// The two-sided 95 % normal quantile.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A 95 % interval; NaN ends when there is nothing to estimate from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub const NONE: Interval = Interval {
        low: f64::NAN,
        high: f64::NAN,
    };
}

/// Wilson's score interval for `x` successes in `n` trials.
pub fn wilson(x: f64, n: f64) -> Interval {
    if !(n > 0.0 && x.is_finite() && n.is_finite() && (0.0..=n).contains(&x)) {
        return Interval::NONE;
    }
    let z2 = Z95 * Z95;
    let p = x / n;
    let centre = p + z2 / (2.0 * n);
    let spread = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let scale = 1.0 + z2 / n;
    Interval {
        low: ((centre - spread) / scale).max(0.0),
        high: ((centre + spread) / scale).min(1.0),
    }
}

/// Newcombe's hybrid score interval for `x1/n1 − x2/n2`.
pub fn newcombe(x1: f64, n1: f64, x2: f64, n2: f64) -> Interval {
    let (a, b) = (wilson(x1, n1), wilson(x2, n2));
    if a.low.is_nan() || b.low.is_nan() {
        return Interval::NONE;
    }
    let (p1, p2) = (x1 / n1, x2 / n2);
    let d = p1 - p2;
    Interval {
        low: d - ((p1 - a.low).powi(2) + (b.high - p2).powi(2)).sqrt(),
        high: d + ((a.high - p1).powi(2) + (p2 - b.low).powi(2)).sqrt(),
    }
}

/// The 95 % interval of the `q` quantile of the durations in `cohort`'s
/// buckets (see the module's note on the method).
pub fn quantile_interval(q: f64, cohort: &CohortWindow) -> Interval {
    let n = cohort.total();
    if !(n >= 1.0 && n.is_finite()) || cohort.duration_le.iter().any(|c| !c.is_finite()) {
        return Interval::NONE;
    }
    let spread = Z95 * (n * q * (1.0 - q)).sqrt();
    let low_rank = (n * q - spread).floor().max(1.0);
    let high_rank = (n * q + spread).ceil().min(n);
    // Bucket i holds ranks (le[i-1], le[i]]: the rank's value lies in
    // (bound[i-1], bound[i]].
    let bucket_of = |rank: f64| cohort.duration_le.iter().position(|&c| c >= rank);
    let low = match bucket_of(low_rank) {
        Some(0) => 0.0,
        Some(i) => DURATION_BOUNDS[i - 1],
        None => DURATION_BOUNDS[DURATION_BOUNDS.len() - 1],
    };
    let high = match bucket_of(high_rank) {
        Some(i) => DURATION_BOUNDS[i],
        None => f64::INFINITY,
    };
    Interval { low, high }
}

/// One cohort of one phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CohortSummary {
    pub outcomes: f64,
    pub errors: f64,
    pub error_share: f64,
    pub error_share_95: Interval,
    pub p95: f64,
    pub p95_95: Interval,
}

pub fn summarize(c: &CohortWindow) -> CohortSummary {
    let n = c.total();
    CohortSummary {
        outcomes: n,
        errors: c.errors,
        error_share: if n > 0.0 { c.errors / n } else { f64::NAN },
        error_share_95: wilson(c.errors, n),
        p95: histogram_quantile(0.95, c),
        p95_95: quantile_interval(0.95, c),
    }
}

/// `on` − `off` error shares with Newcombe's interval.
pub fn error_difference(on: &CohortWindow, off: &CohortWindow) -> (f64, Interval) {
    let (n1, n2) = (on.total(), off.total());
    let d = if n1 > 0.0 && n2 > 0.0 {
        on.errors / n1 - off.errors / n2
    } else {
        f64::NAN
    };
    (d, newcombe(on.errors, n1, off.errors, n2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Reference values from an independent computation (Python's
    /// `statistics.NormalDist` and the textbook formulas), and Newcombe's
    /// own worked example (1998, 56/70 − 48/80: 0.0524 to 0.3339).
    #[test]
    fn intervals_match_reference_values() {
        let w = wilson(10.0, 100.0);
        assert!(close(w.low, 0.055_229_137_060_675_09), "{w:?}");
        assert!(close(w.high, 0.174_365_661_504_913_45), "{w:?}");
        let w = wilson(0.0, 50.0);
        assert!(close(w.low, 0.0), "{w:?}");
        assert!(close(w.high, 0.071_347_599_133_358_68), "{w:?}");
        let w = wilson(30.0, 1000.0);
        assert!(close(w.low, 0.021_093_738_828_834_7), "{w:?}");
        assert!(close(w.high, 0.042_503_414_147_587_12), "{w:?}");
        let d = newcombe(56.0, 70.0, 48.0, 80.0);
        assert!(close(d.low, 0.052_431_472_402_364_926), "{d:?}");
        assert!(close(d.high, 0.333_872_654_035_905_9), "{d:?}");
        let d = newcombe(30.0, 1000.0, 200.0, 20_000.0);
        assert!(close(d.low, 0.010_972_240_275_391_546), "{d:?}");
        assert!(close(d.high, 0.032_569_571_955_512_515), "{d:?}");
        assert!(wilson(1.0, 0.0).low.is_nan());
        assert!(wilson(5.0, 4.0).low.is_nan());
        assert!(newcombe(1.0, 0.0, 1.0, 10.0).high.is_nan());
    }

    #[test]
    fn the_p95_interval_is_widened_to_bucket_bounds() {
        // 1000 outcomes: 900 by 0.5 s, 960 by 1 s, 990 by 2 s, all by 5 s.
        // Ranks 950 ± 1.96·√47.5 = 936.5..963.5 → 936 in (0.5, 1], 964 in
        // (1, 2]: the p95 lies in (0.5 s, 2 s].
        let c = CohortWindow {
            ok: 1000.0,
            errors: 0.0,
            duration_le: [
                0.0, 0.0, 0.0, 0.0, 900.0, 960.0, 990.0, 1000.0, 1000.0, 1000.0,
            ],
        };
        let i = quantile_interval(0.95, &c);
        assert_eq!((i.low, i.high), (0.5, 2.0));
        let s = summarize(&c);
        assert!(i.low <= s.p95 && s.p95 <= i.high, "{s:?}");
        // Everything in the first bucket: from 0.
        let fast = CohortWindow {
            ok: 10.0,
            errors: 0.0,
            duration_le: [10.0; 10],
        };
        assert_eq!(
            quantile_interval(0.95, &fast),
            Interval {
                low: 0.0,
                high: 0.025
            }
        );
        // Above the last bound: no upper end.
        let slow = CohortWindow {
            ok: 10.0,
            errors: 0.0,
            duration_le: [0.0; 10],
        };
        let i = quantile_interval(0.95, &slow);
        assert_eq!(i.low, 30.0);
        assert!(i.high.is_infinite());
        assert!(
            quantile_interval(0.95, &CohortWindow::default())
                .low
                .is_nan()
        );
    }
}
