//! The shared backend: one PostgreSQL database behind any number of server
//! instances.
//!
//! One module per job: [`schema`] creates and upgrades the tables under an
//! advisory lock, [`writer`] assigns ids and commits appends (group commit),
//! [`readers`] answers reads, [`prune`] applies retention, and [`listener`]
//! turns other instances' `NOTIFY`s into wake-ups. This module ties them
//! together as [`PostgresStore`].
//!
//! # Ordering across instances
//!
//! Every room has a row in `rooms` holding the newest id it ever had. An
//! append locks that row (`SELECT ... FOR UPDATE`) and takes the next UUIDv7
//! above both it and this instance's last id, in the inserting transaction:
//! so in every room, commit order is id order, whatever the instances'
//! clocks say, and a reader's `after` cursor can never pass a message that
//! commits later.

mod listener;
mod prune;
mod readers;
mod schema;
#[cfg(test)]
pub(crate) mod testdb;
mod writer;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, QueueMode, RecyclingMethod, Runtime};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{
    AppendError, Appended, ChatStore, OpenError, Page, ReadQuery, RoomWatch, StoreError,
    StoreOptions, Watchers,
};
use crate::{NewMessage, RoomName};
use writer::{Append, Writer};

/// The channel every instance `LISTEN`s on; a payload is `<newest id> <room>`.
const CHANNEL: &str = "chat_messages";

/// How long connecting may take when the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the pool: reads and the writer's transactions.
const POOL_SIZE: usize = 16;

/// Appends waiting for the writer; beyond this, posters wait to queue.
const QUEUE: usize = 4096;

/// Messages in a PostgreSQL database shared by several server instances,
/// durable once [`ChatStore::append`] returns.
///
/// Connections come from a deadpool pool, which replaces broken ones, so the
/// store recovers by itself after an outage: meanwhile requests fail with
/// [`StoreError::Unavailable`]. One task per instance commits the appends
/// queued at that moment in one transaction; another holds a `LISTEN`
/// connection and wakes local pollers when another instance commits.
pub struct PostgresStore {
    pool: Pool,
    appends: mpsc::Sender<Append>,
    watchers: Watchers,
    options: StoreOptions,
    writer: JoinHandle<()>,
    listener: JoinHandle<()>,
    /// Append transactions committed, for the group-commit test.
    #[cfg(test)]
    transactions: Arc<std::sync::atomic::AtomicUsize>,
}

/// The newest id this instance knows of per room, from its own commits and
/// from notifications: a notification at or below it is one this instance
/// has already woken its pollers for (its own commit, usually). Also the
/// newest id per room of the batch the writer is committing: its
/// notification can reach the listener before the writer has heard the
/// commit succeed, and is this instance's own all the same.
#[derive(Debug, Default)]
struct NewestSeen {
    rooms: Mutex<HashMap<RoomName, Uuid>>,
    in_flight: Mutex<Vec<(RoomName, Uuid)>>,
}

impl NewestSeen {
    /// The newest id known for `room`.
    fn get(&self, room: &RoomName) -> Option<Uuid> {
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms.get(room).copied()
    }

    /// The writer is about to commit these (room, newest id) pairs.
    fn set_in_flight(&self, batch: Vec<(RoomName, Uuid)>) {
        *self.in_flight.lock().unwrap_or_else(|p| p.into_inner()) = batch;
    }

    /// The writer's batch is done: committed (and `advance`d) or failed.
    fn take_in_flight(&self) -> Vec<(RoomName, Uuid)> {
        std::mem::take(&mut *self.in_flight.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// True when `id` is the newest id of `room` in the writer's batch.
    fn is_in_flight(&self, room: &RoomName, id: Uuid) -> bool {
        let in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        in_flight.iter().any(|(r, i)| r == room && *i == id)
    }

    /// Records `id` for `room`. When it is newer than what was known, says
    /// so with the id known before (`Some(None)`: the room was unknown);
    /// `None` when it is not newer.
    fn advance(&self, room: &RoomName, id: Uuid) -> Option<Option<Uuid>> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        match rooms.get_mut(room) {
            Some(known) if *known >= id => None,
            Some(known) => Some(Some(std::mem::replace(known, id))),
            None => {
                rooms.insert(room.clone(), id);
                Some(None)
            }
        }
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://` or `postgresql://`,
    /// any libpq URL), creates or upgrades its schema, and starts listening
    /// for other instances' commits.
    ///
    /// Fails with [`OpenError::Failed`] when the URL is malformed, the
    /// database cannot be reached, or its schema is newer than this build.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Self, OpenError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|error| OpenError::failed("malformed PostgreSQL URL", error))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            // The connection used last: its server process is the likeliest
            // to be awake still (after a silence, waking a cold one is most
            // of a read's time).
            .queue_mode(QueueMode::Lifo)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|error| OpenError::failed("cannot set up the connection pool", error))?;
        let mut client = pool
            .get()
            .await
            .map_err(|error| OpenError::failed(unreachable_reason(&config), error))?;
        schema::migrate(&mut client).await?;
        drop(client);

        let watchers = Watchers::default();
        let newest = Arc::new(NewestSeen::default());
        let relay = listener::Relay {
            watchers: watchers.clone(),
            newest: Arc::clone(&newest),
        };
        let listener = listener::start(config, relay)
            .await
            .map_err(|error| OpenError::failed("cannot LISTEN for other instances", error))?;
        let (appends, queue) = mpsc::channel(QUEUE);
        #[cfg(test)]
        let transactions = Arc::default();
        let writer = Writer {
            pool: pool.clone(),
            queue,
            last_id: None,
            clock: Arc::clone(&options.clock),
            watchers: watchers.clone(),
            newest,
            #[cfg(test)]
            transactions: Arc::clone(&transactions),
        };
        let writer = tokio::spawn(writer.run());
        Ok(Self {
            pool,
            appends,
            watchers,
            options,
            writer,
            listener,
            #[cfg(test)]
            transactions,
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(StoreError::unavailable)
    }
}

/// What to tell the operator when the first connection fails.
fn unreachable_reason(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    format!(
        "cannot connect to PostgreSQL at {} (database `{}`): is it running, and may this user \
         connect?",
        hosts.join(","),
        config.get_dbname().unwrap_or("(default)")
    )
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Queued appends are answered `Closed` when their replies drop.
        self.writer.abort();
        self.listener.abort();
    }
}

#[async_trait]
impl ChatStore for PostgresStore {
    async fn append(&self, room: &RoomName, message: NewMessage) -> Result<Appended, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.appends
            .send(Append {
                room: room.clone(),
                message,
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn read(&self, room: &RoomName, query: ReadQuery) -> Result<Page, StoreError> {
        let client = self.client().await?;
        readers::read_page(&client, room, query)
            .await
            .map_err(StoreError::unavailable)
    }

    fn watch(&self, room: &RoomName) -> RoomWatch {
        self.watchers.subscribe(room)
    }

    fn wake_all_watches(&self) {
        self.watchers.wake_all();
    }

    async fn prune(&self) -> Result<u64, StoreError> {
        if !self.options.retention.is_enabled() {
            return Ok(0);
        }
        let client = self.client().await?;
        prune::prune(&client, &self.options)
            .await
            .map_err(StoreError::unavailable)
    }

    async fn check_health(&self) -> Result<(), StoreError> {
        if self.writer.is_finished() {
            return Err(StoreError::unavailable(
                "the PostgreSQL writer task has stopped",
            ));
        }
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map(drop)
            .map_err(StoreError::unavailable)
    }
}

#[cfg(test)]
mod tests;
