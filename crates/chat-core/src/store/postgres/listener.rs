//! The `LISTEN` connection: other instances' commits become wake-ups.
//!
//! Each instance keeps one connection outside the pool that `LISTEN`s on
//! [`CHANNEL`]. A notification names a room and its new newest id; one that
//! is newer than anything this instance knows of for the room, in a room
//! somebody here watches, is relayed to the room's watchers. The
//! notification is only a hint: the relay reads the room by cursor, after
//! the newest id known before, once for every local watcher (on the
//! listening connection itself, whose server process has just woken to send
//! the notification, where a pooled one would likely be idle), and wakes them
//! with what it read as a [`RoomCommit`], so they answer from it as from a
//! local commit (one read per notification, not one per parked poll). When
//! that read cannot stand for the room (the room was unknown here,
//! retention cut the page, the page is full, the read failed), the watchers
//! are woken to read it themselves ([`Watchers::notify_changed`]). This
//! instance's own commits come back too, and are ignored: their watchers
//! were woken before `append` returned (a notification that arrives before
//! the writer has heard its commit succeed is known by the writer's batch
//! in flight).
//!
//! When the connection is lost, notifications may have been missed: the
//! listener reconnects with backoff, and once it listens again wakes every
//! watch ([`Watchers::wake_all`]), so no poller waits out its timeout over a
//! message it was not told of.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Statement};
use uuid::Uuid;

use super::readers::{prepare_read_after, read_after};
use super::writer::parse_payload;
use super::{NewestSeen, CHANNEL};
use crate::store::{RoomCommit, Watchers};
use crate::RoomName;

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The most messages one relayed read takes; a room that got more since the
/// newest id known here is left to its watchers' own reads.
const RELAY_LIMIT: usize = 256;

/// A connection that listens: the task that drives it and takes its
/// notifications, and the task that relays them (and owns the client).
/// Dropping it ends both, and so the connection.
struct Listening {
    driver: JoinHandle<()>,
    relaying: JoinHandle<()>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.driver.abort();
        self.relaying.abort();
    }
}

/// What turns a notification into a wake-up.
#[derive(Clone)]
pub(super) struct Relay {
    pub(super) watchers: Watchers,
    pub(super) newest: Arc<NewestSeen>,
}

/// Listens now (so `open` fails if it cannot), then keeps listening in a
/// task until it is aborted.
pub(super) async fn start(
    config: Config,
    relay: Relay,
) -> Result<JoinHandle<()>, tokio_postgres::Error> {
    let listening = listen(&config, &relay).await?;
    Ok(tokio::spawn(keep_listening(config, relay, listening)))
}

async fn keep_listening(config: Config, relay: Relay, mut listening: Listening) {
    loop {
        // Returns when the connection is lost.
        let _ = (&mut listening.driver).await;
        let mut backoff = FIRST_BACKOFF;
        listening = loop {
            tokio::time::sleep(backoff).await;
            match listen(&config, &relay).await {
                Ok(listening) => break listening,
                Err(_) => backoff = (backoff * 2).min(MAX_BACKOFF),
            }
        };
        relay.watchers.wake_all();
    }
}

async fn listen(config: &Config, relay: &Relay) -> Result<Listening, tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (notified, mut notifications) = mpsc::unbounded_channel();
    // The connection must be polled while the relay's reads wait on it, so
    // the relay runs beside this task, not inside it.
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(notification) = message {
                if let Some(commit) = parse_payload(notification.payload()) {
                    let _ = notified.send(commit);
                }
            }
        }
    });
    let statement = prepare_read_after(&client).await?;
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    let relay = relay.clone();
    let relaying = tokio::spawn(async move {
        while let Some((id, room)) = notifications.recv().await {
            relay.committed(&client, &statement, &room, id).await;
        }
    });
    Ok(Listening { driver, relaying })
}

impl Relay {
    /// Another instance (or this one) committed to `room` up to `newest`;
    /// `client` is the listening connection, `read_after` prepared on it.
    /// Notifications are handled one at a time, so one relayed read also
    /// covers the notifications queued behind it (their ids are then known).
    async fn committed(
        &self,
        client: &Client,
        read_after: &Statement,
        room: &RoomName,
        newest: Uuid,
    ) {
        // This instance's own commit, heard before its writer has: the
        // writer wakes the watchers itself.
        if self.newest.is_in_flight(room, newest) {
            return;
        }
        let Some(previous) = self.newest.advance(room, newest) else {
            return;
        };
        // A watch created after this check was created after the commit
        // became visible: its own first read finds it.
        if !self.watchers.is_watched(room) {
            return;
        }
        match read_commit(client, read_after, room, previous).await {
            Some(commit) => {
                if let Some(last) = commit.messages.last() {
                    let _ = self.newest.advance(room, last.id);
                }
                self.watchers.notify(room, commit);
            }
            None => self.watchers.notify_changed(room),
        }
    }
}

/// Every message of `room` after `previous`, if one read can say so.
async fn read_commit(
    client: &Client,
    statement: &Statement,
    room: &RoomName,
    previous: Option<Uuid>,
) -> Option<RoomCommit> {
    let previous = previous?;
    let page = read_after(client, statement, room, previous, RELAY_LIMIT)
        .await
        .ok()?;
    let whole = !page.truncated && !page.messages.is_empty() && page.messages.len() < RELAY_LIMIT;
    whole.then_some(RoomCommit {
        previous_newest: Some(previous),
        messages: page.messages,
    })
}
