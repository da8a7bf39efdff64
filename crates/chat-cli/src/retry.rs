//! [`Backoff`]: how long to wait before trying a failed request again, shared
//! by `tail` (which retries for as long as an outage lasts, on either
//! transport) and `send` (which gives up after a few attempts).

use std::time::Duration;

/// Wait before the first retry after a failure.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Longest wait between retries, so a restarted server is noticed quickly.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Longest wait a server may ask for (`Retry-After`, an event stream's
/// `retry`) that is heeded: more (a misconfigured proxy) would leave a client
/// idle for longer than any outage worth waiting out.
const MAX_REQUESTED_DELAY: Duration = Duration::from_secs(60);

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

    /// The wait before the next attempt when the server asked for at least
    /// `requested` (heeded up to a minute); otherwise as [`Self::next_delay`].
    pub fn next_delay_at_least(&mut self, requested: Duration) -> Duration {
        self.next_delay().max(requested.min(MAX_REQUESTED_DELAY))
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

    #[test]
    fn a_wait_the_server_asks_for_is_a_floor_up_to_a_minute() {
        let mut backoff = Backoff::new();
        let second = Duration::from_secs(1);
        assert_eq!(backoff.next_delay_at_least(second), second);
        assert_eq!(
            backoff.next_delay_at_least(Duration::ZERO),
            Duration::from_millis(200)
        );
        let day = Duration::from_secs(86_400);
        assert_eq!(backoff.next_delay_at_least(day), MAX_REQUESTED_DELAY);
    }
}
