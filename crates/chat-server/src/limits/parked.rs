//! Counting the requests that wait (parked polls, event streams), so that
//! past `--max-parked` a new wait is refused with `503` instead of the
//! process running out of file descriptors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use prometheus::IntGauge;

/// Files the process keeps for itself beside parked connections: the
/// store, the listening sockets, requests being answered, logs.
const RESERVED_FILES: u64 = 256;
/// The default when the open-files limit is unlimited.
const UNLIMITED_DEFAULT: u64 = 1_000_000;

/// The slots for waiting requests; a request holds a [`ParkedPermit`] for as
/// long as it waits.
#[derive(Debug)]
pub struct ParkedSlots {
    in_use: AtomicUsize,
    max: usize,
    /// `chat_parked_requests`, kept equal to `in_use`.
    gauge: IntGauge,
}

impl ParkedSlots {
    /// Room for `max` waiting requests, reported through `gauge`.
    pub fn new(max: usize, gauge: IntGauge) -> Arc<Self> {
        Arc::new(Self {
            in_use: AtomicUsize::new(0),
            max,
            gauge,
        })
    }

    /// The default `--max-parked`: the open-files limit (as raised by the
    /// binary) less a reserve.
    pub fn default_max() -> usize {
        let limit = match rlimit::getrlimit(rlimit::Resource::NOFILE) {
            Ok((soft, _)) if soft == rlimit::INFINITY => UNLIMITED_DEFAULT,
            Ok((soft, _)) => soft,
            Err(_) => UNLIMITED_DEFAULT,
        };
        usize::try_from(limit.saturating_sub(RESERVED_FILES).max(1)).unwrap_or(usize::MAX)
    }

    /// The most requests that may wait at once.
    pub fn max(&self) -> usize {
        self.max
    }

    /// How many requests wait now.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// A slot, or `None` when all are taken (answer `503 overloaded`).
    pub fn try_acquire(self: &Arc<Self>) -> Option<ParkedPermit> {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()?;
        self.gauge.inc();
        Some(ParkedPermit(Arc::clone(self)))
    }
}

/// One waiting request; its slot is free again when this is dropped.
#[derive(Debug)]
pub struct ParkedPermit(Arc<ParkedSlots>);

impl Drop for ParkedPermit {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::AcqRel);
        self.0.gauge.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_run_out_and_come_back() {
        let gauge = IntGauge::new("parked", "test").unwrap();
        let slots = ParkedSlots::new(2, gauge.clone());
        let first = slots.try_acquire().unwrap();
        let _second = slots.try_acquire().unwrap();
        assert!(slots.try_acquire().is_none());
        assert_eq!((slots.in_use(), gauge.get()), (2, 2));
        drop(first);
        assert_eq!(gauge.get(), 1);
        assert!(slots.try_acquire().is_some());
    }

    #[test]
    fn the_default_leaves_a_reserve() {
        assert!(ParkedSlots::default_max() >= 1);
    }
}
