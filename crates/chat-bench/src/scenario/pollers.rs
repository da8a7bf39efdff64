//! Many pollers at once: opening their connections without flooding the
//! server's accept queue, and knowing when all of them are parked.

use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};

use crate::api::Api;
use crate::error::BenchError;
use crate::http::{Connection, Request};
use crate::progress::Progress;
use crate::sse::EventReader;

/// Connections being opened at once at most. The server's listen backlog
/// and the kernel's SYN backlog hold a few thousand; staying well below
/// keeps a burst from being dropped and retried a second later, which would
/// turn into a pause in the figures.
const CONNECT_CONCURRENCY: usize = 256;

/// Settle time per parked poller or open stream, and its bounds.
const SETTLE_PER_WAITER: Duration = Duration::from_micros(10);
const MIN_SETTLE: Duration = Duration::from_millis(10);
const MAX_SETTLE: Duration = Duration::from_millis(500);

/// How long to let `count` requests that the server has read register their
/// wait before a message is posted: 10 µs each, 10 ms to 500 ms. It keeps the
/// timing about waiting requests; correctness never rests on it.
pub(crate) fn settle_time(count: usize) -> Duration {
    (SETTLE_PER_WAITER * u32::try_from(count).unwrap_or(u32::MAX)).clamp(MIN_SETTLE, MAX_SETTLE)
}

/// Bounds how many pollers open their connection at the same time.
///
/// Each poller opens its connection itself and sends its poll at once: a
/// connection opened early and left without a request would be closed by
/// the server's request timeout before the last of thousands is open.
#[derive(Debug)]
pub(crate) struct ConnectLimit(Semaphore);

impl ConnectLimit {
    /// The limit for one run.
    pub fn new() -> Self {
        Self(Semaphore::new(CONNECT_CONCURRENCY))
    }

    /// Opens a connection once fewer than the limit are being opened.
    pub async fn connect(&self, api: &Api) -> Result<Connection, BenchError> {
        let _turn = self
            .0
            .acquire()
            .await
            .expect("the semaphore is never closed");
        api.connect().await
    }

    /// Opens an event stream on a connection opened within the limit (see
    /// [`Api::open_events`]); the limit covers the stream's answer too.
    pub async fn open_events(&self, api: &Api) -> Result<EventReader, BenchError> {
        let _turn = self
            .0
            .acquire()
            .await
            .expect("the semaphore is never closed");
        api.open_events(api.connect().await?).await
    }

    /// Parks `poll` (see [`Api::park`]) on `connection`, or on a connection
    /// opened within the limit when there is none yet.
    pub async fn park(
        &self,
        api: &Api,
        connection: Option<Connection>,
        poll: &Request,
    ) -> Result<Connection, BenchError> {
        let mut connection = match connection {
            Some(connection) => connection,
            None => self.connect(api).await?,
        };
        api.park(&mut connection, poll).await?;
        Ok(connection)
    }
}

/// Waits until each of `count` pollers has reported over `parked` whether
/// its sentinel was answered (see [`Api::park`]), or each of `count` streams
/// whether it opened; returns how many did. `what` names them in progress
/// lines ("pollers parked").
///
/// Each poller reports once, and each report comes within the connect and
/// sentinel deadlines, so this always ends; a poller that died without
/// reporting drops its sender, which ends the wait too once the caller has
/// dropped its own.
pub(crate) async fn wait_parked(
    parked: &mut mpsc::UnboundedReceiver<bool>,
    count: usize,
    what: &str,
    progress: &mut Progress,
) -> usize {
    let mut reported = 0;
    let mut succeeded = 0;
    while reported < count {
        let Some(ok) = parked.recv().await else {
            break;
        };
        reported += 1;
        succeeded += usize::from(ok);
        progress.tick(format_args!("{succeeded}/{count} {what}"));
    }
    progress.say(format_args!("{succeeded}/{count} {what}"));
    succeeded
}
