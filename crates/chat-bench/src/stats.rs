//! Latency summaries: minimum, median, 99th percentile and maximum.
//!
//! A sorted `Vec` rather than a histogram crate: runs record at most a few
//! hundred thousand samples, sorting them takes milliseconds, and the
//! percentiles are then exact.

use std::time::Duration;

use serde::Serialize;

/// The distribution of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    /// How many samples (0: no sample, and every figure is 0).
    pub count: usize,
    /// The smallest.
    pub min_ms: f64,
    /// The median.
    pub p50_ms: f64,
    /// The 99th percentile.
    pub p99_ms: f64,
    /// The largest.
    pub max_ms: f64,
}

impl Summary {
    /// Summarizes `samples`.
    pub fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let Some(&max) = samples.last() else {
            return Self::default();
        };
        Self {
            count: samples.len(),
            min_ms: millis(samples[0]),
            p50_ms: millis(percentile(&samples, 50)),
            p99_ms: millis(percentile(&samples, 99)),
            max_ms: millis(max),
        }
    }
}

/// The nearest-rank percentile of sorted, non-empty `samples`: the smallest
/// sample with at least `percent`% of all samples at or below it.
fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let summary = Summary::of(ms((1..=100).rev()));
        assert_eq!(summary.count, 100);
        assert_eq!(summary.min_ms, 1.0);
        assert_eq!(summary.p50_ms, 50.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(summary.max_ms, 100.0);
    }

    #[test]
    fn one_sample_is_every_percentile_and_none_is_all_zero() {
        let one = Summary::of(ms([7]));
        assert_eq!(
            (one.min_ms, one.p50_ms, one.p99_ms, one.max_ms),
            (7.0, 7.0, 7.0, 7.0)
        );
        assert_eq!(Summary::of(Vec::new()), Summary::default());
    }

    #[test]
    fn one_outlier_in_a_thousand_shows_in_the_max_not_in_the_p99() {
        let mut samples = ms(std::iter::repeat_n(1, 999));
        samples.push(Duration::from_millis(500));
        let summary = Summary::of(samples);
        assert_eq!(
            (summary.p50_ms, summary.p99_ms, summary.max_ms),
            (1.0, 1.0, 500.0)
        );
    }
}
