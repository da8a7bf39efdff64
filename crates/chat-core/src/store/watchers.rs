//! Per-room wake-ups for long-pollers.
//!
//! Each room that somebody waits on has a `tokio::sync::watch` channel. A
//! [`RoomWatch`] holds a receiver created *before* the poller reads, so any
//! notification after that point marks it changed: there is no window in
//! which a message can slip between "read found nothing" and "start waiting".
//! Waking 10,000 pollers is one `notify_waiters` inside the channel, not a
//! loop over senders. A room's entry lives exactly as long as somebody
//! watches it: the last [`RoomWatch`] to go removes it, so polls on rooms
//! that never get a message leave nothing behind.
//!
//! A wake-up is a [`Wake`]. A local commit carries its [`RoomCommit`], so a
//! woken poller whose cursor was at the room's newest id can answer from the
//! commit itself: fanning one message out to 10,000 pollers costs one store
//! write, not 10,000 store reads. A wake-up from elsewhere (another process
//! appended, learnt from the database) carries no messages and sends the
//! poller back to the store; so does [`Watchers::wake_all`], which a backend
//! calls when it may have missed notifications.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;
use uuid::Uuid;

use super::{Page, ReadQuery};
use crate::{Message, RoomName};

/// Shared so that [`Watchers::notify`] can wake a room's pollers after
/// releasing the map's lock: waking thousands takes a while.
type RoomSender = Arc<watch::Sender<Option<Wake>>>;
type Rooms = HashMap<RoomName, RoomSender>;

/// What one write added to one room: the room's newest id before it, and
/// the messages it made visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomCommit {
    /// The newest id the room ever had before this commit (retention may
    /// have deleted it since), or `None` if the room never had a message.
    pub previous_newest: Option<Uuid>,
    /// The messages of the commit, oldest first; never empty.
    pub messages: Vec<Message>,
}

impl RoomCommit {
    /// Answers `query` from this commit alone, when the commit holds every
    /// message the room has beyond the query's start: an `after` cursor at or
    /// past the room's previous newest id, or the newest messages of a room
    /// that had none. Otherwise `None`: the store must be read.
    pub fn answer(&self, query: ReadQuery) -> Option<Page> {
        let covered = match query {
            ReadQuery::After { cursor, .. } => {
                cursor >= self.previous_newest.unwrap_or(Uuid::nil())
            }
            ReadQuery::Latest { .. } => self.previous_newest.is_none(),
            ReadQuery::Before { .. } => false,
        };
        covered.then(|| Page {
            messages: self.messages[query.select(&self.messages)].to_vec(),
            truncated: false,
        })
    }
}

/// Why a watch was woken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// This process committed messages to the room: here they are.
    Commit(Arc<RoomCommit>),
    /// The room may have changed in ways this process did not see (another
    /// instance appended, or notifications were lost): read the store.
    Reread,
}

/// The registry of rooms being watched; a cheap `Clone` handle.
#[derive(Debug, Default, Clone)]
pub struct Watchers {
    rooms: Arc<Mutex<Rooms>>,
}

impl Watchers {
    /// Starts watching `room`.
    pub fn subscribe(&self, room: &RoomName) -> RoomWatch {
        let mut rooms = lock(&self.rooms);
        let receiver = match rooms.get(room) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = watch::channel(None);
                rooms.insert(room.clone(), Arc::new(sender));
                receiver
            }
        };
        RoomWatch {
            receiver,
            room: room.clone(),
            rooms: Arc::clone(&self.rooms),
        }
    }

    /// Wakes everybody watching `room` with the commit that changed it. Call
    /// only once the commit is visible to readers.
    pub fn notify(&self, room: &RoomName, commit: RoomCommit) {
        self.wake(room, Wake::Commit(Arc::new(commit)));
    }

    /// Wakes everybody watching `room` to read it again: the room changed,
    /// but this process does not hold the messages (another instance
    /// committed them). Call only once they are visible to readers here.
    pub fn notify_changed(&self, room: &RoomName) {
        self.wake(room, Wake::Reread);
    }

    /// Wakes every watch of every room to read again: for a backend that may
    /// have missed notifications (its notification connection was lost), so
    /// that no poller waits out its timeout over a message it was not told of.
    pub fn wake_all(&self) {
        let senders: Vec<RoomSender> = lock(&self.rooms).values().cloned().collect();
        for sender in senders {
            sender.send_replace(Some(Wake::Reread));
        }
    }

    fn wake(&self, room: &RoomName, wake: Wake) {
        // A watch created after this lookup is not woken by this send, but it
        // was created after the change became visible, so the read that
        // follows it finds it. The lock is released before waking: waking
        // thousands takes a while.
        let sender = lock(&self.rooms).get(room).cloned();
        if let Some(sender) = sender {
            sender.send_replace(Some(wake));
        }
    }

    /// True while somebody watches `room`.
    pub fn is_watched(&self, room: &RoomName) -> bool {
        lock(&self.rooms).contains_key(room)
    }

    /// How many rooms are being watched (for tests and metrics).
    pub fn watched_rooms(&self) -> usize {
        lock(&self.rooms).len()
    }
}

/// A subscription to one room's new messages; see [`Watchers`].
#[derive(Debug)]
pub struct RoomWatch {
    receiver: watch::Receiver<Option<Wake>>,
    room: RoomName,
    rooms: Arc<Mutex<Rooms>>,
}

impl RoomWatch {
    /// Completes once the room changed since the watch was created or since
    /// this last completed, with the latest wake-up (earlier ones may have
    /// been overwritten: then a commit's `previous_newest` tells). Cancel-safe.
    pub async fn changed(&mut self) -> Wake {
        loop {
            if self.receiver.changed().await.is_err() {
                // The sender lives in the registry for as long as this
                // receiver does, so this cannot happen; never report a change
                // that wasn't.
                std::future::pending::<()>().await;
            }
            if let Some(wake) = self.receiver.borrow_and_update().clone() {
                return wake;
            }
        }
    }
}

impl Drop for RoomWatch {
    fn drop(&mut self) {
        let mut rooms = lock(&self.rooms);
        // This receiver is still alive here, so a count of one means it is
        // the last: the entry may go.
        if rooms
            .get(&self.room)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            rooms.remove(&self.room);
        }
    }
}

fn lock(rooms: &Mutex<Rooms>) -> MutexGuard<'_, Rooms> {
    // The map stays consistent even if a holder panicked: every critical
    // section is a single insert, lookup or remove.
    rooms
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewMessage;
    use chrono::Utc;
    use futures_util::FutureExt;

    fn commit(previous_newest: Option<u128>, ids: &[u128]) -> RoomCommit {
        let messages = ids
            .iter()
            .map(|&id| {
                NewMessage::new(id.to_string(), None).unwrap().into_message(
                    Uuid::from_u128(id),
                    RoomName::general(),
                    Utc::now(),
                )
            })
            .collect();
        RoomCommit {
            previous_newest: previous_newest.map(Uuid::from_u128),
            messages,
        }
    }

    fn ids(page: Option<Page>) -> Option<Vec<u128>> {
        page.map(|page| page.messages.iter().map(|m| m.id.as_u128()).collect())
    }

    #[test]
    fn a_commit_answers_a_cursor_at_the_rooms_previous_newest_id() {
        let commit = commit(Some(5), &[6, 7, 8]);
        let after = |cursor, limit| {
            commit.answer(ReadQuery::After {
                cursor: Uuid::from_u128(cursor),
                limit,
            })
        };
        assert_eq!(ids(after(5, 10)), Some(vec![6, 7, 8]));
        assert_eq!(ids(after(5, 2)), Some(vec![6, 7]));
        // A cursor inside the commit gets only what is newer than it.
        assert_eq!(ids(after(6, 10)), Some(vec![7, 8]));
        // An older cursor needs the store: it would miss messages between.
        assert_eq!(ids(after(4, 10)), None);
        assert_eq!(ids(commit.answer(ReadQuery::Latest { limit: 10 })), None);
        assert_eq!(
            ids(commit.answer(ReadQuery::Before {
                cursor: Uuid::max(),
                limit: 10
            })),
            None
        );
    }

    #[test]
    fn the_first_commit_of_a_room_answers_latest_and_the_nil_cursor() {
        let commit = commit(None, &[1, 2, 3]);
        assert_eq!(
            ids(commit.answer(ReadQuery::Latest { limit: 2 })),
            Some(vec![2, 3])
        );
        let from_start = commit.answer(ReadQuery::After {
            cursor: Uuid::nil(),
            limit: 10,
        });
        assert_eq!(ids(from_start), Some(vec![1, 2, 3]));
    }

    #[test]
    fn a_notification_after_subscribing_is_not_lost() {
        let watchers = Watchers::default();
        let room = RoomName::general();
        let mut watch = watchers.subscribe(&room);
        let sent = commit(None, &[1]);
        watchers.notify(&room, sent.clone());
        assert_eq!(
            watch.changed().now_or_never().unwrap(),
            Wake::Commit(Arc::new(sent))
        );
        // Consumed: the next wait is pending until the next notification.
        assert!(watch.changed().now_or_never().is_none());
    }

    #[test]
    fn a_change_without_messages_asks_for_a_reread() {
        let watchers = Watchers::default();
        let room = RoomName::general();
        let mut watch = watchers.subscribe(&room);
        watchers.notify_changed(&room);
        assert_eq!(watch.changed().now_or_never(), Some(Wake::Reread));
        assert!(watch.changed().now_or_never().is_none());
    }

    #[test]
    fn wake_all_wakes_every_room_to_reread() {
        let watchers = Watchers::default();
        let mut a = watchers.subscribe(&RoomName::parse("a").unwrap());
        let mut b = watchers.subscribe(&RoomName::parse("b").unwrap());
        watchers.wake_all();
        assert_eq!(a.changed().now_or_never(), Some(Wake::Reread));
        assert_eq!(b.changed().now_or_never(), Some(Wake::Reread));
    }

    #[test]
    fn other_rooms_do_not_wake_a_watch() {
        let watchers = Watchers::default();
        let mut watch = watchers.subscribe(&RoomName::parse("a").unwrap());
        watchers.notify(&RoomName::parse("b").unwrap(), commit(None, &[1]));
        assert!(watch.changed().now_or_never().is_none());
    }

    #[test]
    fn the_last_watch_to_go_removes_its_room() {
        let watchers = Watchers::default();
        let room = RoomName::general();
        let first = watchers.subscribe(&room);
        let second = watchers.subscribe(&room);
        assert_eq!(watchers.watched_rooms(), 1);
        drop(first);
        assert_eq!(watchers.watched_rooms(), 1);
        drop(second);
        assert_eq!(watchers.watched_rooms(), 0);
    }
}
