//! The source of "now" for ids, `created_at` and retention.
//!
//! Stores take an `Arc<dyn Clock>` instead of calling the system clock so that
//! tests can make time stand still, step back or jump forward without sleeping.

use std::fmt::Debug;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

/// Tells the current time.
pub trait Clock: Send + Sync + Debug {
    /// The current time in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to: for tests of ordering and retention.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock that reads `start` until it is set or advanced.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Makes the clock read `now` (which may be earlier than before).
    pub fn set(&self, now: DateTime<Utc>) {
        *self.now.lock().expect("clock lock poisoned") = now;
    }

    /// Moves the clock by `delta` (negative steps it back).
    pub fn advance(&self, delta: TimeDelta) {
        *self.now.lock().expect("clock lock poisoned") += delta;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("clock lock poisoned")
    }
}
