//! Core of the chat server: what a message is and where messages live.
//!
//! - [`message`]: the stored [`Message`], the validated [`RoomName`] and the
//!   [`NewMessage`] a client submits.
//! - [`error`]: what those domain types refuse, [`ValidationError`].
//! - [`id`]: UUIDv7 ids that strictly increase in the order messages become
//!   visible, even when the clock stands still or steps back.
//! - [`clock`]: the injectable source of "now" (tests pin it).
//! - [`store`]: the [`ChatStore`] trait and its errors, the wait for the
//!   next page of a room ([`store::RoomFeed`]), [`store::open()`] that picks a
//!   backend from a URL-like string, and the backends themselves.
//!
//! The cargo feature `sqlite` (on by default) builds the durable SQLite
//! backend, `store::SqliteStore`, opened as `sqlite:PATH`.

pub mod clock;
pub mod error;
pub mod id;
pub mod message;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::ValidationError;
pub use message::{IdempotencyKey, Message, NewMessage, RoomName};
pub use store::{AppendError, Appended, ChatStore, Page, ReadQuery, RoomWatch, StoreError};
