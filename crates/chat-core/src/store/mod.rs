//! The [`ChatStore`] trait and its backends.
//!
//! A store appends messages, reads them by cursor, and wakes long-pollers:
//! waking belongs to the store because a shared backend (PostgreSQL with
//! several server instances) learns of new messages from the database, not
//! from its own process. Every backend notifies its [`Watchers`] only after a
//! message is visible to readers (for a durable backend: committed).
//!
//! Backends are chosen at run time with [`open`] from a URL-like string:
//! `memory` for [`MemoryStore`], `sqlite:PATH` for `SqliteStore` (cargo
//! feature `sqlite`, on by default).

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;
mod watchers;

#[cfg(test)]
pub(crate) mod conformance;

use std::fmt::Debug;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use watchers::{RoomCommit, RoomWatch, Watchers};

use crate::{ChatError, Clock, Message, NewMessage, RoomName, SystemClock};

/// Which messages a read returns; always oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadQuery {
    /// The oldest `limit` messages whose id is greater than `cursor`.
    After {
        /// Exclusive lower bound (any UUID; nil means "from the start").
        cursor: Uuid,
        /// Most messages returned.
        limit: usize,
    },
    /// The newest `limit` messages whose id is less than `cursor`.
    Before {
        /// Exclusive upper bound.
        cursor: Uuid,
        /// Most messages returned.
        limit: usize,
    },
    /// The newest `limit` messages of the room.
    Latest {
        /// Most messages returned.
        limit: usize,
    },
}

/// The answer to a read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The messages, oldest first.
    pub messages: Vec<Message>,
    /// True when retention deleted messages newer than an `after` cursor, so
    /// the page starts at the oldest retained message and the reader missed
    /// some.
    pub truncated: bool,
}

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
}

/// Settings every backend takes.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// What [`ChatStore::prune`] deletes.
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

/// Where messages live. Used as `Arc<dyn ChatStore>` so the backend is chosen
/// at run time.
#[async_trait]
pub trait ChatStore: Send + Sync + Debug {
    /// Stores a message in `room`, assigning its id and `created_at` at the
    /// moment it becomes visible, and wakes the room's watchers. When this
    /// returns `Ok` on a durable backend, the message is on disk.
    async fn append(&self, room: &RoomName, message: NewMessage) -> Result<Message, ChatError>;

    /// Reads messages of `room`; never waits.
    async fn read(&self, room: &RoomName, query: ReadQuery) -> Result<Page, ChatError>;

    /// Starts watching `room` for new messages. Subscribe *before* reading:
    /// a message appended after this call wakes the watch even if it lands
    /// between the read and the wait.
    fn watch(&self, room: &RoomName) -> RoomWatch;

    /// Deletes what the retention settings no longer keep; returns how many
    /// messages were deleted.
    async fn prune(&self) -> Result<u64, ChatError>;

    /// Checks that the store can serve.
    async fn check_health(&self) -> Result<(), ChatError>;
}

/// Opens the backend named by `spec`:
///
/// - `memory`: a [`MemoryStore`];
/// - `sqlite:PATH`: a `SqliteStore` in the file `PATH` (relative to the
///   working directory), created if missing. Without the `sqlite` feature
///   this is [`ChatError::NotCompiledIn`].
///
/// Anything else is [`ChatError::UnknownStore`]; a store that cannot be
/// opened is [`ChatError::Open`].
pub async fn open(spec: &str, options: StoreOptions) -> Result<Arc<dyn ChatStore>, ChatError> {
    if spec == "memory" {
        return Ok(Arc::new(MemoryStore::new(options)));
    }
    if let Some(path) = spec.strip_prefix("sqlite:") {
        return open_sqlite(path, options).await;
    }
    Err(ChatError::UnknownStore(spec.to_owned()))
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(path: &str, options: StoreOptions) -> Result<Arc<dyn ChatStore>, ChatError> {
    Ok(Arc::new(SqliteStore::open(path, options).await?))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(_path: &str, _options: StoreOptions) -> Result<Arc<dyn ChatStore>, ChatError> {
    Err(ChatError::NotCompiledIn {
        scheme: "sqlite",
        feature: "sqlite",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_rejects_an_unknown_scheme_with_a_typed_error() {
        let error = open("redis://localhost", StoreOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(error, ChatError::UnknownStore(spec) if spec == "redis://localhost"));
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn open_sqlite_creates_the_database_file() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("chat.db");
        let spec = format!("sqlite:{}", path.display());
        let store = open(&spec, StoreOptions::default()).await.unwrap();
        assert!(path.is_file());
        store.check_health().await.unwrap();
    }

    #[cfg(not(feature = "sqlite"))]
    #[tokio::test]
    async fn open_sqlite_without_the_feature_says_it_is_not_compiled_in() {
        let error = open("sqlite:chat.db", StoreOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            ChatError::NotCompiledIn {
                scheme: "sqlite",
                ..
            }
        ));
        assert!(error.to_string().contains("feature `sqlite`"), "{error}");
    }

    #[tokio::test]
    async fn open_memory_gives_an_empty_store() {
        let store = open("memory", StoreOptions::default()).await.unwrap();
        let page = store
            .read(&RoomName::general(), ReadQuery::Latest { limit: 10 })
            .await
            .unwrap();
        assert!(page.messages.is_empty());
    }
}
