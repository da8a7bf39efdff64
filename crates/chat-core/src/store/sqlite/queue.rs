//! The writer's queue, bounded in length and in waiting time.
//!
//! # Bounded waits
//!
//! At most [`QueueLimits::capacity`] requests wait for the writer; one more
//! is refused at once as unavailable. A post waits at most
//! [`QueueLimits::wait`] for the writer to take it; past that it is refused as
//! unavailable, and the writer skips it. Whether the writer took a post or
//! its poster gave up is decided once, by a [`Claim`]: a post the writer
//! claimed is in a transaction, and its poster waits for that transaction's
//! outcome (a transaction waits at most `BUSY_TIMEOUT` for a lock), so a
//! poster told "unavailable" can rely on nothing having been written.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Duration;

use tokio::sync::oneshot;

use super::unavailable;
use super::writer::Request;
use crate::store::StoreError;

/// How many requests wait for the writer at most: four full batches.
const CAPACITY: usize = 4096;
/// How long a post waits for the writer to take it at most.
const WAIT: Duration = Duration::from_secs(5);

/// How many requests may wait for the writer, and for how long.
#[derive(Debug, Clone, Copy)]
pub(super) struct QueueLimits {
    /// Requests waiting at most; one more is refused at once.
    pub(super) capacity: usize,
    /// How long a post waits for the writer to take it.
    pub(super) wait: Duration,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            capacity: CAPACITY,
            wait: WAIT,
        }
    }
}

/// Decides once whether the writer writes a post or its poster gave up.
#[derive(Debug, Default)]
pub(super) struct Claim(AtomicBool);

impl Claim {
    /// True for the first caller only: the writer (it writes the post) or
    /// the poster (it gave up, and the post is never written).
    pub(super) fn take(&self) -> bool {
        !self.0.swap(true, Ordering::AcqRel)
    }
}

/// The sending side of the writer's queue.
#[derive(Debug)]
pub(super) struct Queue {
    sender: SyncSender<Request>,
    limits: QueueLimits,
}

impl Queue {
    pub(super) fn new(sender: SyncSender<Request>, limits: QueueLimits) -> Self {
        Self { sender, limits }
    }

    /// Queues `request`, or refuses it at once when the queue is full.
    pub(super) fn send(&self, request: Request) -> Result<(), StoreError> {
        self.sender.try_send(request).map_err(|error| match error {
            TrySendError::Full(_) => unavailable(format!(
                "the SQLite writer is overloaded ({} requests are waiting)",
                self.limits.capacity
            )),
            TrySendError::Disconnected(_) => StoreError::Closed,
        })
    }

    /// The writer's answer to a post with `claim`: within the wait limit, or
    /// "unavailable" if the writer has not taken the post by then (it then
    /// never writes it).
    pub(super) async fn answer<T, E: From<StoreError>>(
        &self,
        claim: &Claim,
        mut answer: oneshot::Receiver<Result<T, E>>,
    ) -> Result<T, E> {
        // The writer answers every request it takes; no answer means it
        // has stopped.
        let closed = |_| StoreError::Closed;
        match tokio::time::timeout(self.limits.wait, &mut answer).await {
            Ok(answer) => answer.map_err(closed)?,
            Err(_) if claim.take() => Err(unavailable(format!(
                "the SQLite writer did not take the post within {:?}",
                self.limits.wait
            ))
            .into()),
            // The writer took it: the transaction's outcome is the answer.
            Err(_) => answer.await.map_err(closed)?,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Instant;

    use futures_util::FutureExt;
    use rusqlite::Connection;
    use tempfile::TempDir;

    use super::super::tests::new_message;
    use super::super::SqliteStore;
    use super::*;
    use crate::store::{AppendError, ChatStore, ReadQuery, StoreOptions};
    use crate::RoomName;

    /// A store whose writer is stuck: another connection holds the write
    /// lock, and the writer is waiting for it inside a first post's
    /// transaction. Dropping the returned connection's transaction frees it.
    async fn stuck_store(
        path: &Path,
        limits: QueueLimits,
    ) -> (Arc<SqliteStore>, Connection, tokio::task::JoinHandle<()>) {
        let store = Arc::new(
            SqliteStore::open_with_limits(path, StoreOptions::default(), limits)
                .await
                .unwrap(),
        );
        let blocker = Connection::open(path).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let first = tokio::spawn({
            let store = Arc::clone(&store);
            async move {
                store
                    .append(&RoomName::general(), new_message("first"))
                    .await
                    .unwrap();
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.activity.busy_for().is_none() {
            assert!(Instant::now() < deadline, "the writer never started");
            tokio::task::yield_now().await;
        }
        (store, blocker, first)
    }

    fn is_unavailable<T>(result: &Result<T, AppendError>) -> bool {
        matches!(result, Err(AppendError::Store(StoreError::Unavailable(_))))
    }

    async fn bodies(store: &SqliteStore) -> Vec<String> {
        let page = store
            .read(&RoomName::general(), ReadQuery::Latest { limit: 100 })
            .await
            .unwrap();
        page.messages.into_iter().map(|m| m.body).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_post_the_writer_does_not_take_in_time_is_refused_and_never_written() {
        let dir = TempDir::new().unwrap();
        let limits = QueueLimits {
            capacity: 16,
            wait: Duration::from_millis(200),
        };
        let (store, blocker, first) = stuck_store(&dir.path().join("chat.db"), limits).await;
        let started = Instant::now();
        let late = store
            .append(&RoomName::general(), new_message("late"))
            .await;
        assert!(is_unavailable(&late), "{late:?}");
        assert!(started.elapsed() < Duration::from_secs(2));

        blocker.execute_batch("ROLLBACK").unwrap();
        first.await.unwrap();
        store
            .append(&RoomName::general(), new_message("after"))
            .await
            .unwrap();
        assert_eq!(bodies(&store).await, ["first", "after"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_post_beyond_the_queue_capacity_is_refused_at_once() {
        let dir = TempDir::new().unwrap();
        let limits = QueueLimits {
            capacity: 2,
            wait: Duration::from_secs(30),
        };
        let (store, blocker, first) = stuck_store(&dir.path().join("chat.db"), limits).await;
        let general = RoomName::general();
        let mut queued: Vec<_> = ["queued 0", "queued 1"]
            .map(|body| Box::pin(store.append(&general, new_message(body))))
            .into_iter()
            .collect();
        // A first poll puts each post in the queue, which they fill.
        for post in &mut queued {
            assert!(post.as_mut().now_or_never().is_none());
        }
        let extra = store
            .append(&general, new_message("extra"))
            .now_or_never()
            .expect("a post that finds the queue full is refused at once");
        assert!(is_unavailable(&extra), "{extra:?}");

        blocker.execute_batch("ROLLBACK").unwrap();
        first.await.unwrap();
        for post in queued {
            post.await.unwrap();
        }
        let mut stored = bodies(&store).await;
        stored.sort();
        assert_eq!(stored, ["first", "queued 0", "queued 1"]);
    }
}
