//! The [`ChatStore`] trait and its backends.
//!
//! A store appends messages, reads them by cursor, and wakes long-pollers:
//! waking belongs to the store because a shared backend (PostgreSQL with
//! several server instances) learns of new messages from the database, not
//! from its own process.
//!
//! - [`query`]: what a read asks and answers, and the cursor rule;
//! - [`feed`]: the wait for the next page, which every transport uses;
//! - [`watchers`]: per-room wake-ups, fed by the backends;
//! - [`options`]: retention and the clock;
//! - [`idempotency`]: what a repeated `Idempotency-Key` gets;
//! - [`open`](mod@open): a backend from a `--store` string;
//! - [`error`]: how opening and serving fail;
//! - the backends: [`MemoryStore`], `SqliteStore` (cargo feature `sqlite`,
//!   on by default) and `PostgresStore`, shared by several server instances
//!   (cargo feature `postgres`, on by default).

pub mod error;
pub mod feed;
pub mod idempotency;
mod memory;
pub mod open;
pub mod options;
#[cfg(feature = "postgres")]
mod postgres;
pub mod query;
#[cfg(feature = "sqlite")]
mod sqlite;
pub mod watchers;

#[cfg(test)]
pub(crate) mod conformance;

use std::fmt::Debug;

use async_trait::async_trait;

pub use error::{BoxError, OpenError, StoreError};
pub use feed::{wait_for_page, RoomFeed};
pub use memory::MemoryStore;
pub use open::open;
pub use options::{Retention, StoreOptions};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use query::{Page, ReadQuery};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use watchers::{RoomCommit, RoomWatch, Wake, Watchers};

use crate::{Message, NewMessage, RoomName};

/// What [`ChatStore::append`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The stored message: new, or the one first stored under the
    /// submission's idempotency key.
    pub message: Message,
    /// True when nothing was stored because the key was already used for
    /// this very message.
    pub replayed: bool,
}

/// Why an append stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The idempotency key is held by a different message in the room.
    #[error("this Idempotency-Key was already used for a different message in this room")]
    KeyReused,
    /// The store could not serve.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where messages live. Used as `Arc<dyn ChatStore>` so the backend is chosen
/// at run time.
///
/// # Wake-ups
///
/// A watch from [`ChatStore::watch`] is woken only once what woke it is
/// visible to [`ChatStore::read`] (for a durable backend: committed):
///
/// - an append through this store wakes the room's watches before `append`
///   returns, with the commit itself ([`Wake::Commit`]);
/// - an append by another process sharing the backend's data wakes them
///   within the backend's notification latency, with [`Wake::Reread`];
/// - when a backend may have missed such notifications (its notification
///   connection was lost), it wakes every watch with [`Wake::Reread`] once it
///   listens again.
///
/// So a waiter that watches, reads, then waits (see [`RoomFeed`]) never
/// misses a message and never waits out its timeout over one it could read.
#[async_trait]
pub trait ChatStore: Send + Sync + Debug {
    /// Stores a message in `room`, assigning its id and `created_at` at the
    /// moment it becomes visible, and wakes the room's watchers. When this
    /// returns `Ok` on a durable backend, the message is on disk.
    ///
    /// A submission with an idempotency key that a message of the room holds
    /// (within [`idempotency::KEY_LIFETIME`] and while retention keeps it)
    /// stores nothing and answers per [`idempotency::answer_repeat`]; of
    /// concurrent submissions with one key, exactly one stores.
    async fn append(&self, room: &RoomName, message: NewMessage) -> Result<Appended, AppendError>;

    /// Reads messages of `room`; never waits.
    async fn read(&self, room: &RoomName, query: ReadQuery) -> Result<Page, StoreError>;

    /// Starts watching `room` for new messages. Subscribe *before* reading:
    /// a message appended after this call wakes the watch even if it lands
    /// between the read and the wait.
    fn watch(&self, room: &RoomName) -> RoomWatch;

    /// Wakes every watch of every room with [`Wake::Reread`], so that each
    /// waiter looks again at once: a server that stops calls it, and its
    /// parked polls then see their stop condition without holding a
    /// shutdown waiter of their own.
    fn wake_all_watches(&self);

    /// Deletes what the retention settings no longer keep; returns how many
    /// messages were deleted.
    async fn prune(&self) -> Result<u64, StoreError>;

    /// Checks that the store can serve.
    async fn check_health(&self) -> Result<(), StoreError>;
}
