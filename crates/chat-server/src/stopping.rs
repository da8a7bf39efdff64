//! How a parked request learns that the server stops, without a waiter of
//! its own.
//!
//! [`Shutdown::trigger`](crate::Shutdown::trigger) cancels the token; the
//! task that stops the server then wakes every watch of the store
//! ([`ChatStore::wake_all_watches`](chat_core::ChatStore::wake_all_watches)).
//! A parked poll or stream, woken through its watch, polls [`stopping`],
//! which is ready once the token is cancelled. A
//! `CancellationToken::cancelled()` future per parked request would do the
//! same with a waiter of 72 bytes in each (and every parked poll's memory
//! counts).

use std::future::Future;
use std::task::Poll;

use tokio_util::sync::CancellationToken;

/// Ready when polled after `token` was cancelled; never wakes its task by
/// itself (the store's watches do, see the module documentation).
pub(crate) fn stopping(token: &CancellationToken) -> impl Future<Output = ()> + '_ {
    std::future::poll_fn(move |_| {
        if token.is_cancelled() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use chat_core::store::{wait_for_page, MemoryStore, StoreOptions};
    use chat_core::{ChatStore, ReadQuery, RoomName};
    use futures_util::FutureExt;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn stopping_is_ready_once_the_token_is_cancelled() {
        let token = CancellationToken::new();
        let mut stop = std::pin::pin!(stopping(&token));
        assert!(stop.as_mut().now_or_never().is_none());
        token.cancel();
        assert_eq!(stop.now_or_never(), Some(()));
    }

    /// The wiring the server relies on: cancelling the token alone wakes
    /// nobody; waking the store's watches then ends a parked wait at once,
    /// with the empty page. (On the current-thread runtime a woken task runs
    /// at the next yield, so "still parked after a yield" means not woken.)
    #[tokio::test(flavor = "current_thread")]
    async fn a_parked_wait_ends_when_the_watches_are_woken_after_the_cancel() {
        let store: Arc<dyn ChatStore> = Arc::new(MemoryStore::new(StoreOptions::default()));
        let token = CancellationToken::new();
        let parked = tokio::spawn({
            let (store, token) = (Arc::clone(&store), token.clone());
            async move {
                let query = ReadQuery::After {
                    cursor: Uuid::nil(),
                    limit: 10,
                };
                let stop = std::pin::pin!(stopping(&token));
                let room = RoomName::general();
                wait_for_page(&store, &room, query, Duration::from_secs(60), stop).await
            }
        });
        tokio::task::yield_now().await;
        assert!(!parked.is_finished(), "the wait parks");
        token.cancel();
        tokio::task::yield_now().await;
        assert!(!parked.is_finished(), "the cancel alone wakes nobody");
        store.wake_all_watches();
        let page = tokio::time::timeout(Duration::from_secs(5), parked)
            .await
            .expect("woken watches end the wait at once")
            .unwrap()
            .unwrap();
        assert!(page.messages.is_empty());
    }
}
