//! The durable backend: one SQLite file that survives crashes and restarts.
//!
//! One module per job: [`schema`] creates and upgrades the file and opens the
//! write connection, [`writer`] is the thread that owns that connection,
//! [`queue`] bounds how many posts wait for it and for how long,
//! [`activity`] tells the health check what it is doing,
//! [`readers`] is the pool of read-only connections, [`newest`] remembers each
//! room's newest id, and [`lock`] keeps a second server off the file. This
//! module ties them together as [`SqliteStore`] and holds what they share.

mod activity;
mod lock;
mod newest;
mod prune;
mod queue;
mod readers;
mod schema;
mod writer;

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

#[cfg(test)]
use std::sync::atomic::AtomicUsize;

use async_trait::async_trait;
use rusqlite::{ErrorCode, Row};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{
    AppendError, Appended, ChatStore, OpenError, Page, ReadQuery, RoomWatch, StoreError,
    StoreOptions, Watchers,
};
use crate::id::IdGenerator;
use crate::store::BoxError;
use crate::{NewMessage, RoomName};
use activity::Activity;
use lock::lock_exclusively;
use newest::{newest_ids, NewestIds};
use prune::WrittenRooms;
use queue::{Claim, Queue, QueueLimits};
use readers::{check_readable, read_page, Readers};
use schema::{migrate, open_writer};
use writer::{Append, Request, Writer};

/// How long a statement waits for a lock SQLite holds briefly (a checkpoint,
/// WAL recovery) before it fails as unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Messages in a SQLite file, durable once [`ChatStore::append`] returns.
///
/// The file runs in WAL mode with `synchronous=FULL`, so a commit is on disk
/// when it returns. One writer thread owns the write connection and commits
/// every append queued at that moment in one transaction (group commit);
/// reads run on a small pool of read-only connections on tokio's blocking
/// threads. An advisory lock on `PATH.lock` keeps a second server off the
/// same file.
///
/// Dropping the store closes the writer's queue and waits for the writer to
/// finish what was queued, so that the file and its lock are free once the
/// drop returns.
pub struct SqliteStore {
    path: PathBuf,
    /// Taken in `drop` to close the queue; `Some` until then.
    requests: Option<Queue>,
    /// Taken in `drop` to wait for the writer; `Some` until then.
    writer: Option<JoinHandle<()>>,
    readers: Arc<Readers>,
    newest: Arc<NewestIds>,
    watchers: Watchers,
    activity: Arc<Activity>,
    limits: QueueLimits,
    #[cfg(test)]
    append_transactions: Arc<AtomicUsize>,
}

impl SqliteStore {
    /// Opens the database at `path` (relative to the working directory),
    /// creating the file and its schema if missing and upgrading an older
    /// schema.
    ///
    /// Fails with [`OpenError::Failed`] when another server has the file open,
    /// the file is not a database or is corrupt, the location is not writable,
    /// or the schema is newer than this build knows.
    pub async fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self, OpenError> {
        Self::open_with_limits(path.as_ref(), options, QueueLimits::default()).await
    }

    async fn open_with_limits(
        path: &Path,
        options: StoreOptions,
        limits: QueueLimits,
    ) -> Result<Self, OpenError> {
        let path = path.to_owned();
        // Opening reads and checks the whole file: blocking work.
        tokio::task::spawn_blocking(move || Self::open_blocking(path, options, limits))
            .await
            .map_err(|error| {
                open_failed("the task opening the database failed", Some(error.into()))
            })?
    }

    fn open_blocking(
        path: PathBuf,
        options: StoreOptions,
        limits: QueueLimits,
    ) -> Result<Self, OpenError> {
        if path.as_os_str().is_empty() {
            return Err(open_failed(
                "`sqlite:` needs a file path, such as `sqlite:chat.db`",
                None,
            ));
        }
        let lock = lock_exclusively(&path)?;
        let mut connection = open_writer(&path)?;
        migrate(&mut connection, &path)?;
        let newest_ids = newest_ids(&connection)
            .map_err(|error| open_error(&path, "cannot read the newest ids of", error))?;
        let newest = newest_ids.values().max().copied();
        let newest_ids = Arc::new(NewestIds(RwLock::new(newest_ids)));
        let readers = Arc::new(Readers::new(path.clone()));
        // Open one reader now, so a problem with read connections shows at
        // start-up rather than on the first request.
        readers
            .with_connection(|connection| check_readable(connection))
            .map_err(|error| open_error(&path, "cannot read", error))?;

        let (requests, queue) = mpsc::sync_channel(limits.capacity);
        let watchers = Watchers::default();
        let activity = Arc::new(Activity::default());
        #[cfg(test)]
        let append_transactions = Arc::default();
        let writer = Writer {
            connection,
            queue,
            deferred_prunes: VecDeque::new(),
            ids: IdGenerator::starting_after(newest),
            newest: Arc::clone(&newest_ids),
            clock: options.clock,
            retention: options.retention,
            watchers: watchers.clone(),
            activity: Arc::clone(&activity),
            wrote_since_checkpoint: false,
            pass: None,
            written: WrittenRooms::default(),
            #[cfg(test)]
            append_transactions: Arc::clone(&append_transactions),
            _lock: lock,
        };
        let writer = std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || writer.run())
            .map_err(|error| {
                open_failed("cannot start the SQLite writer thread", Some(error.into()))
            })?;
        Ok(Self {
            path,
            requests: Some(Queue::new(requests, limits)),
            writer: Some(writer),
            readers,
            newest: newest_ids,
            watchers,
            activity,
            limits,
            #[cfg(test)]
            append_transactions,
        })
    }

    /// How many rooms parked polls are watching now (for tests and metrics):
    /// a poll that ended, however, no longer counts.
    pub fn watched_rooms(&self) -> usize {
        self.watchers.watched_rooms()
    }

    /// The writer's queue, until the store is dropped.
    fn queue(&self) -> Result<&Queue, StoreError> {
        self.requests.as_ref().ok_or(StoreError::Closed)
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the queue makes the writer stop once it has written what
        // is already queued.
        drop(self.requests.take());
        if let Some(writer) = self.writer.take() {
            // A writer that panicked has dropped its posters' answers, which
            // they saw as `Closed`; there is nothing left to report here.
            let _ = writer.join();
        }
    }
}

#[async_trait]
impl ChatStore for SqliteStore {
    async fn append(&self, room: &RoomName, message: NewMessage) -> Result<Appended, AppendError> {
        let (reply, answer) = oneshot::channel();
        let claim = Arc::new(Claim::default());
        let queue = self.queue()?;
        queue.send(Request::Append(Append {
            room: room.clone(),
            message,
            reply,
            claim: Arc::clone(&claim),
        }))?;
        queue.answer(&claim, answer).await
    }

    async fn read(&self, room: &RoomName, query: ReadQuery) -> Result<Page, StoreError> {
        if query.selects_nothing_up_to(self.newest.get(room)) {
            // The common read of a long poll that is up to date: no need to
            // leave the async worker.
            return Ok(Page::default());
        }
        let room = room.clone();
        self.readers
            .run(move |connection| read_page(connection, &room, query))
            .await
    }

    fn watch(&self, room: &RoomName) -> RoomWatch {
        self.watchers.subscribe(room)
    }

    fn wake_all_watches(&self) {
        self.watchers.wake_all();
    }

    async fn prune(&self) -> Result<u64, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue()?.send(Request::Prune(reply))?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn check_health(&self) -> Result<(), StoreError> {
        if self.writer.as_ref().is_none_or(JoinHandle::is_finished) {
            return Err(unavailable("the SQLite writer thread has stopped"));
        }
        // A post queued now would wait for the current job first.
        if let Some(busy) = self
            .activity
            .busy_for()
            .filter(|&busy| busy > self.limits.wait)
        {
            return Err(unavailable(format!(
                "the SQLite writer has been on one job for {busy:?}"
            )));
        }
        // After a failed write, only a write tells whether writes work again
        // (room for the disk, the lock free); while they work, no write.
        if self.activity.last_failed() {
            let (reply, answer) = oneshot::channel();
            let claim = Claim::default();
            let queue = self.queue()?;
            queue.send(Request::Probe(reply))?;
            queue.answer(&claim, answer).await?;
        }
        self.readers.check().await
    }
}

/// The first column as an id, or `None` when it is NULL (as `max()` of no
/// rows is).
fn id_column(row: &Row<'_>) -> rusqlite::Result<Option<Uuid>> {
    Ok(row.get::<_, Option<[u8; 16]>>(0)?.map(Uuid::from_bytes))
}

/// A count as SQLite's integer; no real count reaches `i64::MAX`.
fn count_param(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn open_failed(reason: impl Into<String>, source: Option<BoxError>) -> OpenError {
    OpenError::Failed {
        reason: reason.into(),
        source,
    }
}

fn read_only(path: &Path) -> OpenError {
    open_failed(
        format!(
            "{} is read-only; chat-server must be able to write the file and its directory",
            path.display()
        ),
        None,
    )
}

/// An open-time SQLite error, with a reason that tells the operator what
/// to fix; `doing` describes the step, for errors without a better word.
fn open_error(path: &Path, doing: &str, error: rusqlite::Error) -> OpenError {
    let shown = path.display();
    let reason = match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => format!("{shown} is not a SQLite database"),
        Some(ErrorCode::DatabaseCorrupt) => format!("{shown} is corrupt"),
        Some(ErrorCode::ReadOnly) => return read_only(path),
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => format!(
            "cannot open {shown}: does the directory exist, and may chat-server write to it?"
        ),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            format!("{shown} is locked by another program")
        }
        Some(ErrorCode::DiskFull) => format!("the disk holding {shown} is full"),
        _ => format!("{doing} {shown}"),
    };
    open_failed(reason, Some(error.into()))
}

/// A run-time failure: the store cannot serve right now.
fn unavailable(error: impl Into<BoxError>) -> StoreError {
    StoreError::Unavailable(error.into())
}

#[cfg(test)]
mod tests {
    use super::super::conformance::{conformance_suite, options_with, start_time, Fixture};
    use super::*;
    use crate::store::Retention;
    use crate::ManualClock;
    use chrono::TimeDelta;
    use tempfile::TempDir;

    async fn fixture(options: StoreOptions) -> Fixture {
        let dir = TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path().join("chat.db"), options)
            .await
            .unwrap();
        Fixture::new(Arc::new(store), dir)
    }

    conformance_suite!(fixture);

    pub(super) fn new_message(body: &str) -> NewMessage {
        NewMessage::new(body.to_owned(), None).unwrap()
    }

    pub(super) async fn open_error_reason(path: &Path) -> String {
        match SqliteStore::open(path, StoreOptions::default()).await {
            Err(OpenError::Failed { reason, .. }) => reason,
            other => panic!("expected an Open error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_reopened_store_has_the_same_messages_and_ids_keep_increasing() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("chat.db");
        let clock = Arc::new(ManualClock::new(start_time()));
        let general = RoomName::general();
        let store = SqliteStore::open(&path, options_with(&clock, Retention::default()))
            .await
            .unwrap();
        let mut stored = Vec::new();
        for body in ["one", "two", "three"] {
            stored.push(
                store
                    .append(&general, new_message(body))
                    .await
                    .unwrap()
                    .message,
            );
        }
        drop(store);

        clock.set(start_time() - TimeDelta::days(1));
        let store = SqliteStore::open(&path, options_with(&clock, Retention::default()))
            .await
            .unwrap();
        let page = store
            .read(&general, ReadQuery::Latest { limit: 10 })
            .await
            .unwrap();
        assert_eq!(page.messages, stored);
        let newer = store
            .append(&general, new_message("four"))
            .await
            .unwrap()
            .message;
        assert!(newer.id > stored[2].id);
        store.check_health().await.unwrap();
    }

    #[tokio::test]
    async fn a_location_that_cannot_hold_a_file_is_refused() {
        // Tests run as root, whom permissions do not stop; a path below a
        // regular file fails for everybody.
        let dir = TempDir::new().unwrap();
        let file = dir.path().join("file.txt");
        std::fs::write(&file, "not a directory").unwrap();
        let reason = open_error_reason(&file.join("chat.db")).await;
        assert!(reason.contains("does the directory exist"), "{reason}");
    }

    #[tokio::test]
    async fn an_empty_path_is_refused() {
        let reason = open_error_reason(Path::new("")).await;
        assert!(reason.contains("needs a file path"), "{reason}");
    }
}
