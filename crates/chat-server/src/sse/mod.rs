//! Server-sent events: a room's messages as a `text/event-stream` body that
//! follows the room with chat-core's [`RoomFeed`](chat_core::store::RoomFeed)
//! (the same watch-read-wait loop as a long poll, kept for the stream's life).
//!
//! - [`event`]: the bytes of each event, and [`EventCache`], which
//!   serialises a message once however many streams it wakes;
//! - [`stream`]: the body, which reads the next page only when the
//!   connection asks for more bytes.
//!
//! # Memory per stream
//!
//! The body is pulled, never pushed: actix polls it only while its write
//! buffer (32 KiB) has room, and it reads the next page of the store only
//! when the events of the previous one are handed over. A client that does
//! not read leaves its backlog in the store, not in memory: the server holds
//! at most one page (at most [`PAGE_BYTES`] of message bodies) and actix's
//! buffer for it, far below the contract's 1 MiB. Such a connection is ended
//! once nothing could be written to it for 30 s by the kernel, see
//! [`crate::connection`].

pub(crate) mod event;
pub(crate) mod stream;

pub(crate) use event::EventCache;
pub(crate) use stream::event_stream;

/// About how many bytes of message bodies one page of a stream holds: the
/// page limit is this over the largest accepted request body.
pub(crate) const PAGE_BYTES: usize = 256 * 1024;
/// The most messages one page of a stream holds.
const MAX_PAGE_MESSAGES: usize = 100;

/// Messages per page for a server that accepts bodies of up to
/// `max_body_bytes`: at least one, and at most about [`PAGE_BYTES`].
pub(crate) fn page_limit(max_body_bytes: usize) -> usize {
    (PAGE_BYTES / max_body_bytes.max(1)).clamp(1, MAX_PAGE_MESSAGES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_holds_about_a_quarter_mebibyte_of_bodies_and_at_least_one_message() {
        assert_eq!(page_limit(10_000), 26);
        assert_eq!(page_limit(100), MAX_PAGE_MESSAGES);
        assert_eq!(page_limit(10 * 1024 * 1024), 1);
        assert_eq!(page_limit(0), MAX_PAGE_MESSAGES);
    }
}
