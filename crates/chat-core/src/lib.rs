//! Core of the chat server: what a message is and where messages live.
//!
//! - [`message`]: the stored [`Message`], the validated [`RoomName`] and the
//!   [`NewMessage`] a client submits.
//! - [`id`]: UUIDv7 ids that strictly increase in the order messages become
//!   visible, even when the clock stands still or steps back.
//! - [`clock`]: the injectable source of "now" (tests pin it).
//! - [`store`]: the [`ChatStore`] trait, the [`store::open`] entry point that
//!   picks a backend from a URL-like string, and the backends themselves.
//! - [`error`]: the one error type of this crate, [`ChatError`].
//!
//! The cargo feature `sqlite` (on by default) builds the durable SQLite
//! backend, `store::SqliteStore`, opened as `sqlite:PATH`.

pub mod clock;
pub mod error;
pub mod id;
pub mod message;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::ChatError;
pub use message::{Message, NewMessage, RoomName};
pub use store::{ChatStore, Page, ReadQuery, RoomWatch};
