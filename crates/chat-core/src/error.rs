//! The one error type of `chat-core`.

use std::error::Error as StdError;

/// A boxed error from a backend's driver, kept as the source of a
/// [`ChatError`] for logs; never shown to HTTP clients.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong in validation or in a store.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// A room name outside `[A-Za-z0-9_-]{1,64}`.
    #[error("room name must be 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'")]
    InvalidRoomName,
    /// A message body that is empty.
    #[error("`body` must be a non-empty string")]
    EmptyBody,
    /// An author that is empty or longer than 64 characters.
    #[error("`author` must be 1 to 64 characters, or absent or null")]
    InvalidAuthor,
    /// A store specification that names no known backend.
    #[error("unknown store `{0}`: expected `memory` or `sqlite:PATH` (such as `sqlite:chat.db`)")]
    UnknownStore(String),
    /// A store specification whose backend this build leaves out.
    #[error(
        "store `{scheme}:` is not compiled into this build; rebuild with the cargo feature \
         `{feature}`"
    )]
    NotCompiledIn {
        /// The scheme asked for, such as `sqlite`.
        scheme: &'static str,
        /// The cargo feature of `chat-core` that brings it in.
        feature: &'static str,
    },
    /// The store cannot be opened at start-up (locked, corrupt, unwritable,
    /// newer schema, ...); the message says which and what to do.
    #[error("cannot open store: {reason}")]
    Open {
        /// What went wrong, in words for the operator.
        reason: String,
        /// The driver's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The store cannot serve right now (disk full, database locked or gone);
    /// nothing was written.
    #[error("store unavailable")]
    Unavailable(#[source] BoxError),
    /// The store was closed; the server is shutting down.
    #[error("store closed")]
    Closed,
}
