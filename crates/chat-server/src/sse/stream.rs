//! One event stream: `retry`, then the feed's pages turned into events, a
//! ping after each silence, and the end at shutdown or on a store failure.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use chat_core::store::RoomFeed;
use chat_core::Message;
use futures_util::Stream;
use tokio_util::sync::CancellationToken;

use super::event::{EventCache, PING, RETRY, TRUNCATED};
use crate::limits::ParkedPermit;
use crate::stopping::stopping;

/// The response body of an event stream following `feed`. It reads the next
/// page only when polled for more bytes, so a client that does not read
/// costs one page of memory, not its backlog.
pub(crate) fn event_stream(
    feed: RoomFeed,
    cache: Arc<EventCache>,
    ping_interval: Duration,
    shutdown: CancellationToken,
    slot: ParkedPermit,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let source = Source {
        feed,
        cache,
        ping_interval,
        shutdown,
        _slot: slot,
        queued: VecDeque::from([Queued::Fixed(RETRY)]),
    };
    futures_util::stream::unfold(source, |mut source| async move {
        let chunk = source.next_chunk().await?;
        Some((Ok(chunk), source))
    })
}

/// What is ready to send.
enum Queued {
    /// A fixed line: `retry`, `truncated`.
    Fixed(&'static [u8]),
    /// A message, serialised (or found in the cache) when sent.
    Message(Message),
}

struct Source {
    feed: RoomFeed,
    cache: Arc<EventCache>,
    ping_interval: Duration,
    shutdown: CancellationToken,
    queued: VecDeque<Queued>,
    /// Counts the open stream against `--max-parked` while it lives.
    _slot: ParkedPermit,
}

impl Source {
    /// The next bytes to send, waiting for the next page when none are
    /// queued; `None` ends the stream.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(queued) = self.queued.pop_front() {
                return Some(match queued {
                    Queued::Fixed(bytes) => Bytes::from_static(bytes),
                    Queued::Message(message) => self.cache.event(&message),
                });
            }
            if self.shutdown.is_cancelled() {
                return None;
            }
            // The silence counts from now, not from the feed's first read.
            let ping_at = tokio::time::Instant::now() + self.ping_interval;
            let shutdown = &self.shutdown;
            let until = std::pin::pin!(async {
                tokio::select! {
                    () = tokio::time::sleep_until(ping_at) => {}
                    () = stopping(shutdown) => {}
                }
            });
            let page = self.feed.next_page(until).await;
            let page = match page {
                Ok(page) => page,
                Err(error) => {
                    // The client reconnects with its Last-Event-ID and
                    // misses nothing.
                    tracing::warn!(%error, "ending an event stream: the store failed");
                    return None;
                }
            };
            if page.messages.is_empty() {
                // The feed stopped waiting: a silence, or the shutdown.
                return (!self.shutdown.is_cancelled()).then(|| Bytes::from_static(PING));
            }
            if page.truncated {
                self.queued.push_back(Queued::Fixed(TRUNCATED));
            }
            self.queued
                .extend(page.messages.into_iter().map(Queued::Message));
        }
    }
}
