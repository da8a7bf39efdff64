//! Waiting for the next page of a room: the one long-poll loop, which every
//! transport (a long poll, an event stream) adapts rather than copies.
//!
//! The order is what makes it correct: watch the room, then read, then wait
//! for a wake-up, then read again. The watch exists before the first read,
//! so a message committed between the read and the wait still wakes it. A
//! wake-up whose commit holds everything beyond the cursor is answered from
//! the commit (no store read per poller when one message fans out to
//! thousands); any other is followed by a fresh read. A feed answered from
//! a whole commit also starts its next page by waiting, not reading: the
//! watch has seen that commit, so anything newer wakes it (an event stream
//! hands its event over without a store read in between).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::Either;

use super::{ChatStore, Page, ReadQuery, RoomWatch, StoreError, Wake};
use crate::RoomName;

/// A reader's position in one room, following it page by page.
///
/// Each non-empty page moves the feed past its last message, so successive
/// [`RoomFeed::next_page`] calls see every message once, in id order, for as
/// long as the feed lives (an event stream keeps one feed; a long poll uses
/// one for a single page).
#[derive(Debug)]
pub struct RoomFeed {
    store: Arc<dyn ChatStore>,
    room: RoomName,
    query: ReadQuery,
    watch: RoomWatch,
    /// The last page was a whole commit's messages beyond the cursor, taken
    /// from the wake-up that the watch has now seen: nothing is newer until
    /// the watch fires again, so the next page need not read first.
    caught_up: bool,
}

impl RoomFeed {
    /// Starts following `room` from `start`: its first page is what `start`
    /// selects, each later one continues after the previous page.
    pub fn new(store: Arc<dyn ChatStore>, room: RoomName, start: ReadQuery) -> Self {
        let watch = store.watch(&room);
        Self {
            store,
            room,
            query: start,
            watch,
            caught_up: false,
        }
    }

    /// Starts following `room` with the first message newer than its newest
    /// one now (from the start, if it has none yet), `limit` messages per
    /// page: "only new messages". The watch exists before the read, so a
    /// message committed while this runs is either counted as old (at or
    /// before the newest id read) or delivered, never lost.
    pub async fn after_newest(
        store: Arc<dyn ChatStore>,
        room: RoomName,
        limit: usize,
    ) -> Result<Self, StoreError> {
        let mut feed = Self::new(store, room, ReadQuery::Latest { limit: 1 });
        let newest = feed.store.read(&feed.room, feed.query).await?;
        let cursor = newest.messages.last().map_or(uuid::Uuid::nil(), |m| m.id);
        feed.query = ReadQuery::After { cursor, limit };
        Ok(feed)
    }

    /// The next page: at once when messages match, otherwise as soon as
    /// newer ones are visible, or the (empty) page read last once `stop`
    /// completes.
    ///
    /// `stop` is pinned by the caller and borrowed: a parked poll holds one
    /// copy of it, where taking it by value would keep one in this future's
    /// arguments and another where it is pinned (every parked poll's memory
    /// counts).
    pub async fn next_page<S>(&mut self, mut stop: Pin<&mut S>) -> Result<Page, StoreError>
    where
        S: Future<Output = ()> + ?Sized,
    {
        loop {
            // Only the flag of the empty page read is kept while waiting.
            let truncated = if std::mem::take(&mut self.caught_up) {
                false
            } else {
                let page = self.store.read(&self.room, self.query).await?;
                if !page.messages.is_empty() {
                    return Ok(self.advance(page));
                }
                page.truncated
            };
            // Wait until a wake-up either answers the query or asks for a
            // read; a commit that holds nothing for this cursor (it is past
            // the commit) keeps the feed waiting without a read.
            loop {
                tokio::select! {
                    wake = self.watch.changed() => match wake {
                        Wake::Commit(commit) => match commit.answer(self.query) {
                            Some(page) if !page.messages.is_empty() => {
                                self.caught_up = page.messages.last() == commit.messages.last();
                                return Ok(self.advance(page));
                            }
                            Some(_) => continue,
                            None => break,
                        },
                        Wake::Reread => break,
                    },
                    () = stop.as_mut() => {
                        return Ok(Page {
                            messages: Vec::new(),
                            truncated,
                        })
                    }
                }
            }
        }
    }

    /// Moves the feed past `page`'s last message.
    fn advance(&mut self, page: Page) -> Page {
        if let Some(last) = page.messages.last() {
            self.query = self.query.continue_after(last.id);
        }
        page
    }
}

/// Answers one long poll: the page `query` selects, at once when it is not
/// empty or `wait` is zero; otherwise the first page that newer messages
/// make, or the empty page when `wait` runs out or `stop` completes.
/// `stop` is pinned by the caller, as for [`RoomFeed::next_page`].
///
/// Not an `async fn`: the future a parked poll holds keeps only the feed,
/// the deadline and `stop`, not also the arguments the feed was made from.
pub fn wait_for_page<'a, S>(
    store: &'a Arc<dyn ChatStore>,
    room: &'a RoomName,
    query: ReadQuery,
    wait: Duration,
    mut stop: Pin<&'a mut S>,
) -> impl Future<Output = Result<Page, StoreError>> + 'a
where
    S: Future<Output = ()> + ?Sized + 'a,
{
    if wait.is_zero() {
        return Either::Left(store.read(room, query));
    }
    // The wait counts from now, not from the feed's first read (the timer
    // itself is created inside, where it lives once).
    let deadline = tokio::time::Instant::now() + wait;
    let mut feed = RoomFeed::new(Arc::clone(store), room.clone(), query);
    Either::Right(async move {
        let until = std::pin::pin!(async {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                () = stop.as_mut() => {}
            }
        });
        feed.next_page(until).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, StoreOptions};
    use crate::NewMessage;

    #[tokio::test]
    async fn a_feed_after_the_newest_message_skips_history_and_gets_the_next_one() {
        let store: Arc<dyn ChatStore> = Arc::new(MemoryStore::new(StoreOptions::default()));
        let room = RoomName::general();
        let post = |body: &str| {
            let store = Arc::clone(&store);
            let message = NewMessage::new(body.to_owned(), None).unwrap();
            let room = room.clone();
            async move { store.append(&room, message).await.unwrap().message }
        };
        post("old").await;
        let mut feed = RoomFeed::after_newest(Arc::clone(&store), room.clone(), 10)
            .await
            .unwrap();
        let new = post("new").await;
        let page = feed
            .next_page(std::pin::pin!(std::future::pending()))
            .await
            .unwrap();
        assert_eq!(page.messages, vec![new]);
    }

    #[tokio::test]
    async fn a_feed_after_the_newest_message_of_an_empty_room_gets_the_first_one() {
        let store: Arc<dyn ChatStore> = Arc::new(MemoryStore::new(StoreOptions::default()));
        let room = RoomName::general();
        let mut feed = RoomFeed::after_newest(Arc::clone(&store), room.clone(), 10)
            .await
            .unwrap();
        let first = NewMessage::new("first".to_owned(), None).unwrap();
        let first = store.append(&room, first).await.unwrap().message;
        let page = feed
            .next_page(std::pin::pin!(std::future::pending()))
            .await
            .unwrap();
        assert_eq!(page.messages, vec![first]);
    }
}
