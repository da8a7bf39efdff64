//! How a store fails: [`OpenError`] while it is being opened, [`StoreError`]
//! once it serves.

use std::error::Error as StdError;

/// A boxed error from a backend's driver, kept as the source of a store
/// error for logs; never shown to HTTP clients.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a store could not be opened at start-up.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A store specification that names no known backend.
    #[error(
        "unknown store `{0}`: expected `memory`, `sqlite:PATH` (such as `sqlite:chat.db`) or \
         `postgres://USER@HOST/DATABASE`"
    )]
    UnknownScheme(String),
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
    /// The backend exists but refused to open (locked, corrupt, unwritable,
    /// newer schema, ...); the message says which and what to do.
    #[error("cannot open store: {reason}")]
    Failed {
        /// What went wrong, in words for the operator.
        reason: String,
        /// The driver's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
}

impl OpenError {
    /// A refusal with a reason for the operator and the driver's error.
    pub fn failed(reason: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Failed {
            reason: reason.into(),
            source: Some(source.into()),
        }
    }
}

/// Why a running store could not do what was asked; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot serve right now (disk full, database locked or
    /// gone, writer overloaded).
    #[error("store unavailable")]
    Unavailable(#[source] BoxError),
    /// The store was closed; the server is shutting down.
    #[error("store closed")]
    Closed,
}

impl StoreError {
    /// Wraps a driver's error as [`StoreError::Unavailable`].
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        Self::Unavailable(source.into())
    }
}
