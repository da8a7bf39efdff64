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

/// Spawns the pruner when retention is on; it stops with `shutdown`.
pub(crate) fn spawn(store: Arc<dyn ChatStore>, retention: Retention, shutdown: CancellationToken) {
    if !retention.is_enabled() {
        return;
    }
    let interval = retention.max_age.map_or(MAX_INTERVAL, |age| {
        (age / 10).clamp(MIN_INTERVAL, MAX_INTERVAL)
    });
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => return,
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
}
