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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::RoomName;

type Rooms = HashMap<RoomName, watch::Sender<()>>;

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
                let (sender, receiver) = watch::channel(());
                rooms.insert(room.clone(), sender);
                receiver
            }
        };
        RoomWatch {
            receiver,
            room: room.clone(),
            rooms: Arc::clone(&self.rooms),
        }
    }

    /// Wakes everybody watching `room`. Call only once the new message is
    /// visible to readers.
    pub fn notify(&self, room: &RoomName) {
        if let Some(sender) = lock(&self.rooms).get(room) {
            sender.send_replace(());
        }
    }

    /// How many rooms are being watched (for tests and metrics).
    pub fn watched_rooms(&self) -> usize {
        lock(&self.rooms).len()
    }
}

/// A subscription to one room's new messages; see [`Watchers`].
#[derive(Debug)]
pub struct RoomWatch {
    receiver: watch::Receiver<()>,
    room: RoomName,
    rooms: Arc<Mutex<Rooms>>,
}

impl RoomWatch {
    /// Completes once a message was appended to the room since the watch was
    /// created or since this last completed. Cancel-safe.
    pub async fn changed(&mut self) {
        if self.receiver.changed().await.is_err() {
            // The sender lives in the registry for as long as this receiver
            // does, so this cannot happen; never report a change that wasn't.
            std::future::pending::<()>().await;
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
    use futures_util::FutureExt;

    #[test]
    fn a_notification_after_subscribing_is_not_lost() {
        let watchers = Watchers::default();
        let room = RoomName::general();
        let mut watch = watchers.subscribe(&room);
        watchers.notify(&room);
        assert!(watch.changed().now_or_never().is_some());
        // Consumed: the next wait is pending until the next notification.
        assert!(watch.changed().now_or_never().is_none());
    }

    #[test]
    fn other_rooms_do_not_wake_a_watch() {
        let watchers = Watchers::default();
        let mut watch = watchers.subscribe(&RoomName::parse("a").unwrap());
        watchers.notify(&RoomName::parse("b").unwrap());
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
