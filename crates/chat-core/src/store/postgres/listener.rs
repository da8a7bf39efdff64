//! The `LISTEN` connection: other instances' commits become wake-ups.
//!
//! Each instance keeps one connection outside the pool that `LISTEN`s on
//! [`CHANNEL`]. A notification names a room and its new newest id; one that
//! is newer than anything this instance knows of for the room wakes the
//! room's watchers to read again ([`Watchers::notify_changed`]). This
//! instance's own commits come back too, and are ignored: their watchers
//! were woken before `append` returned.
//!
//! When the connection is lost, notifications may have been missed: the
//! listener reconnects with backoff, and once it listens again wakes every
//! watch ([`Watchers::wake_all`]), so no poller waits out its timeout over a
//! message it was not told of.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls};

use super::writer::parse_payload;
use super::{NewestSeen, CHANNEL};
use crate::store::Watchers;

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A connection that listens, and the task reading its notifications.
struct Listening {
    /// Dropping the client ends the connection, and so the driver.
    _client: Client,
    driver: JoinHandle<()>,
}

/// Listens now (so `open` fails if it cannot), then keeps listening in a
/// task until it is aborted.
pub(super) async fn start(
    config: Config,
    watchers: Watchers,
    newest: Arc<NewestSeen>,
) -> Result<JoinHandle<()>, tokio_postgres::Error> {
    let listening = listen(&config, &watchers, &newest).await?;
    Ok(tokio::spawn(keep_listening(
        config, watchers, newest, listening,
    )))
}

async fn keep_listening(
    config: Config,
    watchers: Watchers,
    newest: Arc<NewestSeen>,
    mut listening: Listening,
) {
    loop {
        // Returns when the connection is lost.
        let _ = (&mut listening.driver).await;
        let mut backoff = FIRST_BACKOFF;
        listening = loop {
            tokio::time::sleep(backoff).await;
            match listen(&config, &watchers, &newest).await {
                Ok(listening) => break listening,
                Err(_) => backoff = (backoff * 2).min(MAX_BACKOFF),
            }
        };
        watchers.wake_all();
    }
}

async fn listen(
    config: &Config,
    watchers: &Watchers,
    newest: &Arc<NewestSeen>,
) -> Result<Listening, tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let watchers = watchers.clone();
    let newest = Arc::clone(newest);
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(notification) = message {
                if let Some((id, room)) = parse_payload(notification.payload()) {
                    if newest.advance(&room, id) {
                        watchers.notify_changed(&room);
                    }
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    Ok(Listening {
        _client: client,
        driver,
    })
}
