//! [`Backoff`]: how long to wait before trying a failed request again, shared
//! by `tail` (which retries for as long as an outage lasts) and `send` (which
//! gives up after a few attempts).

use std::time::Duration;

/// Wait before the first retry after a failure.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Longest wait between retries, so a restarted server is noticed quickly.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Capped exponential backoff: 100 ms, 200 ms, 400 ms, ... up to 5 s, back to
/// 100 ms after a success.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    /// A backoff whose first wait is the shortest.
    pub fn new() -> Self {
        Self {
            next: FIRST_RETRY_DELAY,
        }
    }

    /// The wait before the next attempt; each call doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (delay * 2).min(MAX_RETRY_DELAY);
        delay
    }

    /// Starts again from the shortest wait, after a success.
    pub fn reset(&mut self) {
        self.next = FIRST_RETRY_DELAY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap_and_resets() {
        let mut backoff = Backoff::new();
        let delays: Vec<u128> = (0..8).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), FIRST_RETRY_DELAY);
    }
}
