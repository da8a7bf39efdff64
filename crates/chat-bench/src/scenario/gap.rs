//! Idle gaps before each message: real chat messages arrive after silence,
//! when every thread on the way has gone to sleep, not in a hot loop.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// How long to stay silent before each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args, Serialize)]
pub struct GapOptions {
    /// The shortest idle gap before a message, in milliseconds (0 with
    /// `--gap-max-ms 0`: the hot loop, each message as soon as the last arrived).
    #[arg(long, default_value_t = 0)]
    pub gap_min_ms: u64,
    /// The longest idle gap, in milliseconds; each gap is drawn uniformly
    /// between the two.
    #[arg(long, default_value_t = 0)]
    pub gap_max_ms: u64,
    /// The seed of the gaps, so two runs (and two servers) see the same ones.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl GapOptions {
    /// No gap: the hot loop.
    pub const NONE: Self = Self {
        gap_min_ms: 0,
        gap_max_ms: 0,
        seed: 1,
    };

    /// `" after idle gaps of 5-50 ms"`, or `" (hot loop)"` for none.
    pub fn describe(&self) -> String {
        if self.gap_max_ms == 0 {
            " (hot loop)".to_owned()
        } else {
            format!(
                " after idle gaps of {}-{} ms",
                self.gap_min_ms, self.gap_max_ms
            )
        }
    }

    /// The gaps these options draw, one per message.
    pub fn gaps(&self) -> Gaps {
        Gaps {
            min: self.gap_min_ms.min(self.gap_max_ms),
            max: self.gap_max_ms.max(self.gap_min_ms),
            rng: StdRng::seed_from_u64(self.seed),
        }
    }
}

impl Default for GapOptions {
    fn default() -> Self {
        Self::NONE
    }
}

/// The seeded sequence of gaps.
#[derive(Debug)]
pub struct Gaps {
    min: u64,
    max: u64,
    rng: StdRng,
}

impl Gaps {
    /// Waits out the next gap (at once in the hot loop).
    pub async fn wait(&mut self) {
        let gap = self.next_gap();
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
    }

    fn next_gap(&mut self) -> Duration {
        // Whole microseconds, so a 5-50 ms range is not quantised to ms.
        let micros = self.rng.random_range(self.min * 1000..=self.max * 1000);
        Duration::from_micros(micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(options: GapOptions, count: usize) -> Vec<Duration> {
        let mut gaps = options.gaps();
        (0..count).map(|_| gaps.next_gap()).collect()
    }

    #[test]
    fn gaps_stay_in_range_and_repeat_with_the_seed() {
        let options = GapOptions {
            gap_min_ms: 5,
            gap_max_ms: 50,
            seed: 7,
        };
        let first = draw(options, 1000);
        assert!(first
            .iter()
            .all(|gap| (Duration::from_millis(5)..=Duration::from_millis(50)).contains(gap)));
        assert_eq!(first, draw(options, 1000));
        assert_ne!(first, draw(GapOptions { seed: 8, ..options }, 1000));
    }

    #[test]
    fn no_gap_is_the_hot_loop() {
        assert!(draw(GapOptions::NONE, 10).iter().all(Duration::is_zero));
    }
}
