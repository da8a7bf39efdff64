//! Settings every backend takes: retention and the clock.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::{Clock, SystemClock};

/// How much history a store keeps. Both limits are off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep at most this many messages per room.
    pub per_room: Option<NonZeroUsize>,
    /// Delete messages older than this.
    pub max_age: Option<Duration>,
}

impl Retention {
    /// True when any limit is set, so pruning has work to do.
    pub fn is_enabled(&self) -> bool {
        self.per_room.is_some() || self.max_age.is_some()
    }

    /// The oldest `created_at` that age-based retention keeps at `now`, or
    /// `None` when no age limit applies (none is set, or it reaches back past
    /// the earliest time there is). Every backend prunes by this one cut-off.
    pub fn oldest_kept(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let age = TimeDelta::from_std(self.max_age?).ok()?;
        now.checked_sub_signed(age)
    }
}

/// Settings every backend takes.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// What [`ChatStore::prune`](super::ChatStore::prune) deletes.
    pub retention: Retention,
    /// The source of ids' timestamps, `created_at` and message age.
    pub clock: Arc<dyn Clock>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            retention: Retention::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cut_off_is_now_less_the_age() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let retention = Retention {
            max_age: Some(Duration::from_secs(90)),
            ..Retention::default()
        };
        assert_eq!(
            retention.oldest_kept(now),
            Some(now - TimeDelta::seconds(90))
        );
        assert_eq!(Retention::default().oldest_kept(now), None);
    }

    #[test]
    fn an_age_beyond_any_date_keeps_everything_instead_of_panicking() {
        let retention = Retention {
            max_age: Some(Duration::from_secs(u64::MAX)),
            ..Retention::default()
        };
        assert_eq!(retention.oldest_kept(Utc::now()), None);
    }
}
