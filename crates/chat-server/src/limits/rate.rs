//! `--post-rate N[/s][:BURST]`: posts per second per client, with bursts,
//! using governor's keyed GCRA limiter. A client is the token's name, or
//! else its IP address (with `--trust-forwarded-for`, the address the proxy
//! put last in `X-Forwarded-For`).

use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::HttpRequest;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::Caller;
use crate::ApiError;

/// After this many checks, forget clients whose bucket is full again, so
/// the table does not grow with every address ever seen.
const CHECKS_BETWEEN_CLEANUPS: u64 = 4096;

/// A `--post-rate`: `per_second` posts per second, bursts of `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostRate {
    /// Posts per second allowed in the long run.
    pub per_second: NonZeroU32,
    /// Posts allowed at once after a quiet spell.
    pub burst: NonZeroU32,
}

/// A `--post-rate` that is not `N[/s][:BURST]` with whole numbers >= 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a post rate like 5, 5/s or 5/s:20 (whole numbers of at least 1)")]
pub struct PostRateError(String);

impl FromStr for PostRate {
    type Err = PostRateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || PostRateError(text.to_owned());
        let (rate, burst) = match text.split_once(':') {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (text, None),
        };
        let rate = rate.strip_suffix("/s").unwrap_or(rate);
        let number = |digits: &str| {
            digits
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| digits.parse::<NonZeroU32>().ok())
                .flatten()
        };
        let per_second = number(rate).ok_or_else(error)?;
        let burst = match burst {
            Some(burst) => number(burst).ok_or_else(error)?,
            None => per_second,
        };
        Ok(Self { per_second, burst })
    }
}

/// The posts each client has left.
#[derive(Debug)]
pub(crate) struct PostLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    trust_forwarded_for: bool,
    checks: AtomicU64,
}

impl PostLimiter {
    /// A limiter for `rate`; `trust_forwarded_for` takes the client's
    /// address from `X-Forwarded-For`.
    pub fn new(rate: PostRate, trust_forwarded_for: bool) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(rate.per_second).allow_burst(rate.burst)),
            trust_forwarded_for,
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one post from the client's allowance, or answers `429` with
    /// the whole seconds until one is left.
    pub fn check(&self, request: &HttpRequest, caller: &Caller) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % CHECKS_BETWEEN_CLEANUPS
            == CHECKS_BETWEEN_CLEANUPS - 1
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        let key = self.client(request, caller);
        self.limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            ApiError::RateLimited {
                retry_after: whole_seconds_up(wait).max(1),
            }
        })
    }

    /// The token's name, else the client's address.
    fn client(&self, request: &HttpRequest, caller: &Caller) -> String {
        if let Some(name) = caller.name() {
            return format!("token:{name}");
        }
        let forwarded = self
            .trust_forwarded_for
            .then(|| last_forwarded_for(request))
            .flatten();
        let address = forwarded.or_else(|| request.peer_addr().map(|addr| addr.ip().to_string()));
        format!("ip:{}", address.unwrap_or_default())
    }
}

/// The last address of the last `X-Forwarded-For` header: the one the
/// proxy in front of us added (earlier ones the client could have made up).
fn last_forwarded_for(request: &HttpRequest) -> Option<String> {
    request
        .headers()
        .get_all("X-Forwarded-For")
        .last()?
        .to_str()
        .ok()?
        .rsplit(',')
        .map(str::trim)
        .find(|address| !address.is_empty())
        .map(str::to_owned)
}

fn whole_seconds_up(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(text: &str) -> Result<(u32, u32), PostRateError> {
        text.parse::<PostRate>()
            .map(|rate| (rate.per_second.get(), rate.burst.get()))
    }

    #[test]
    fn rates_take_an_optional_unit_and_burst() {
        assert_eq!(rate("5"), Ok((5, 5)));
        assert_eq!(rate("5/s"), Ok((5, 5)));
        assert_eq!(rate("5/s:20"), Ok((5, 20)));
        assert_eq!(rate("2:7"), Ok((2, 7)));
    }

    #[test]
    fn bad_rates_are_refused() {
        for text in [
            "", "0", "5/m", "1.5", "-1", "5:0", "5:", ":5", "/s", "5/s:x", "+3",
        ] {
            assert!(rate(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        use std::time::Duration;
        assert_eq!(whole_seconds_up(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds_up(Duration::from_secs(2)), 2);
        assert_eq!(whole_seconds_up(Duration::from_millis(2001)), 3);
    }
}
