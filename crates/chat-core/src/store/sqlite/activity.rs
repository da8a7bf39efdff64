//! What the writer thread is doing, readable at no cost from any thread: how
//! long it has been on its current job, and whether its last write failed.
//! The health check reads it to tell whether a post would succeed now.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The writer's current job and last outcome.
#[derive(Debug)]
pub(super) struct Activity {
    epoch: Instant,
    /// When the current job started, in microseconds since `epoch` plus one;
    /// zero while the writer waits for work.
    busy_since: AtomicU64,
    /// True when the writer's last write transaction failed.
    last_failed: AtomicBool,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            busy_since: AtomicU64::new(0),
            last_failed: AtomicBool::new(false),
        }
    }
}

impl Activity {
    /// The writer starts a job (a transaction, or one step of a prune).
    pub(super) fn begin(&self) {
        let micros = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX - 1);
        self.busy_since.store(micros + 1, Ordering::Release);
    }

    /// The writer finished its job and waits for the next.
    pub(super) fn end(&self) {
        self.busy_since.store(0, Ordering::Release);
    }

    /// Records whether a write transaction committed.
    pub(super) fn record(&self, committed: bool) {
        self.last_failed.store(!committed, Ordering::Release);
    }

    /// How long the writer has been on its current job; `None` when idle.
    pub(super) fn busy_for(&self) -> Option<Duration> {
        match self.busy_since.load(Ordering::Acquire) {
            0 => None,
            since => {
                let started = Duration::from_micros(since - 1);
                Some(self.epoch.elapsed().saturating_sub(started))
            }
        }
    }

    /// True when the writer's last write transaction failed.
    pub(super) fn last_failed(&self) -> bool {
        self.last_failed.load(Ordering::Acquire)
    }
}
