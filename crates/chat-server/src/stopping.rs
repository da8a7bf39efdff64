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
    use super::*;
    use futures_util::FutureExt;

    #[test]
    fn stopping_is_ready_once_the_token_is_cancelled() {
        let token = CancellationToken::new();
        let mut stop = std::pin::pin!(stopping(&token));
        assert!(stop.as_mut().now_or_never().is_none());
        token.cancel();
        assert_eq!(stop.now_or_never(), Some(()));
    }
}
