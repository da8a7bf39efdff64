//! What the domain types refuse: the validation errors of [`RoomName`] and
//! [`NewMessage`]. Store failures are [`StoreError`] and [`OpenError`], in
//! the store module.
//!
//! [`RoomName`]: crate::RoomName
//! [`NewMessage`]: crate::NewMessage
//! [`StoreError`]: crate::store::StoreError
//! [`OpenError`]: crate::store::OpenError

/// Input that breaks a rule of the contract; nothing was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// A room name outside `[A-Za-z0-9_-]{1,64}`.
    #[error("room name must be 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'")]
    InvalidRoomName,
    /// A message body that is empty.
    #[error("`body` must be a non-empty string")]
    EmptyBody,
    /// An author that is empty or longer than 64 characters.
    #[error("`author` must be 1 to 64 characters, or absent or null")]
    InvalidAuthor,
    /// An `Idempotency-Key` that is empty, too long or not visible ASCII.
    #[error("`Idempotency-Key` must be 1 to 128 visible ASCII characters")]
    InvalidIdempotencyKey,
}
