//! Retention in the background: the store prunes on a timer, never inside a
//! request, so posts and polls do not stall behind deletions.

use std::sync::Arc;
use std::time::Duration;

use chat_core::store::Retention;
use chat_core::ChatStore;
use tokio_util::sync::CancellationToken;

/// How often the pruner runs at most.
const MAX_INTERVAL: Duration = Duration::from_secs(60);
/// How often the pruner runs at least (tiny ages would otherwise spin).
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Stops the pruner when dropped: held by the running application, so a
/// server that failed to start or has stopped leaves no pruner behind.
#[derive(Debug)]
pub(crate) struct PrunerGuard(CancellationToken);

impl Drop for PrunerGuard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Spawns the pruner when retention is on; it stops when the guard is
/// dropped.
pub(crate) fn spawn(store: Arc<dyn ChatStore>, retention: Retention) -> PrunerGuard {
    let stop = CancellationToken::new();
    let guard = PrunerGuard(stop.clone());
    if !retention.is_enabled() {
        return guard;
    }
    let interval = retention.max_age.map_or(MAX_INTERVAL, |age| {
        (age / 10).clamp(MIN_INTERVAL, MAX_INTERVAL)
    });
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = stop.cancelled() => return,
            }
            match store.prune().await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "retention pruned old messages"),
                Err(error) => {
                    tracing::warn!(error = ?error, "retention pruning failed; will retry")
                }
            }
        }
    });
    guard
}
