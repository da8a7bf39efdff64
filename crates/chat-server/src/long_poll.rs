//! The long poll: watch, read, then wait for a wake-up, the deadline or
//! shutdown, whichever comes first.

use chat_core::{ChatError, ChatStore, Page, RoomName};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::poll_params::PollParams;

/// Answers a GET: at once when matching messages exist (or the request does
/// not wait), otherwise as soon as a newer message is appended, or empty when
/// the wait runs out or the server shuts down.
///
/// The watch is created before the first read, so a message appended between
/// the read and the wait still wakes this poll. A wake-up whose commit is
/// exactly what follows the cursor is answered from the commit; any other is
/// followed by a fresh read.
pub(crate) async fn poll(
    store: &dyn ChatStore,
    room: &RoomName,
    params: PollParams,
    shutdown: &CancellationToken,
) -> Result<Page, ChatError> {
    if params.wait.is_zero() || shutdown.is_cancelled() {
        return store.read(room, params.query).await;
    }
    let deadline = Instant::now() + params.wait;
    let mut watch = store.watch(room);
    loop {
        let page = store.read(room, params.query).await?;
        if !page.messages.is_empty() {
            return Ok(page);
        }
        tokio::select! {
            commit = watch.changed() => {
                // Most wake-ups answer from the commit itself: no store read
                // per poller when one message fans out to thousands.
                if let Some(page) = commit.answer(params.query) {
                    return Ok(page);
                }
            }
            () = tokio::time::sleep_until(deadline) => return Ok(page),
            () = shutdown.cancelled() => return Ok(page),
        }
    }
}
