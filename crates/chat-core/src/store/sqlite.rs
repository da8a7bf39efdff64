//! The durable backend: one SQLite file that survives crashes and restarts.
//!
//! # Schema
//!
//! `messages(id, room, created_at, author, body)` holds every retained
//! message. `id` is the UUID's 16 bytes in big-endian order, so SQLite's
//! byte-wise blob order is the unsigned 128-bit order the contract compares
//! ids by; `created_at` is microseconds since the Unix epoch. The unique index
//! `messages_room_id` on `(room, id)` makes "newer than a cursor in room R"
//! and "newest N of room R" single index range scans. `room_state(room,
//! pruned_through)` records the newest id retention deleted per room, so a
//! cursor that fell behind is reported as truncated rather than a silent gap.
//!
//! The schema is created and upgraded by the [`MIGRATIONS`] compiled into the
//! binary; `PRAGMA user_version` says how many a file has had. A file from a
//! newer chat-server is refused instead of being misread.
//!
//! # Durability
//!
//! `journal_mode=WAL` lets readers run while the writer commits. With WAL,
//! `synchronous=NORMAL` does not sync the log on commit, so a power loss can
//! undo the last transactions although their posters were told `201`;
//! `synchronous=FULL` syncs the log on every commit, which is what "`append`
//! returned `Ok`, so it is on disk" needs.
//!
//! # Writes: one thread, group commit
//!
//! A dedicated thread owns the only write connection and takes requests over
//! a channel. It takes the first waiting append, drains every append already
//! queued (up to [`MAX_BATCH`]), writes them in one transaction and syncs
//! once, so concurrent posters share the cost of a sync. Ids come from one
//! [`IdGenerator`] inside that transaction, seeded at open with the newest id
//! the file ever held, so they increase in commit order, across restarts and
//! when the clock steps back. Only after the commit are the rooms' watchers
//! woken and then the posters answered. A failed transaction is rolled back and
//! every poster in it gets [`ChatError::Unavailable`].
//!
//! # Reads
//!
//! Reads run on tokio's blocking threads (never on an async worker), on a
//! small pool of read-only connections; under WAL they never wait for the
//! writer.
//!
//! # One server per file
//!
//! Two servers writing one file would each hand out ids the other does not
//! know of. At open the store takes an OS advisory lock on `PATH.lock` and
//! holds it until the writer has finished; a second open fails at start-up
//! with a clear reason. SQLite's own `locking_mode=EXCLUSIVE` would not do:
//! under WAL it also shuts out this process's read connections.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

#[cfg(test)]
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{
    params, Connection, ErrorCode, OpenFlags, OptionalExtension, Params, Row, TransactionBehavior,
    MAIN_DB,
};
use tokio::sync::{oneshot, Semaphore};
use uuid::Uuid;

use super::{ChatStore, Page, ReadQuery, Retention, RoomCommit, RoomWatch, StoreOptions, Watchers};
use crate::error::BoxError;
use crate::id::IdGenerator;
use crate::message::truncate_to_micros;
use crate::{ChatError, Clock, Message, NewMessage, RoomName};

/// The schema, one step per entry: entry `n` (counting from 1) takes a file
/// from `user_version = n - 1` to `n`. Entries that have shipped never
/// change; a new schema is a new entry.
const MIGRATIONS: &[&str] = &[
    // 1: messages, and the per-room record of what retention deleted.
    "CREATE TABLE messages (
         id BLOB NOT NULL CHECK (length(id) = 16),
         room TEXT NOT NULL,
         created_at INTEGER NOT NULL,
         author TEXT,
         body TEXT NOT NULL
     );
     CREATE UNIQUE INDEX messages_room_id ON messages (room, id);
     CREATE TABLE room_state (
         room TEXT NOT NULL PRIMARY KEY,
         pruned_through BLOB NOT NULL CHECK (length(pruned_through) = 16)
     ) WITHOUT ROWID;",
];

/// Most appends written in one transaction: enough to absorb a burst, small
/// enough that one failure rejects few posts.
const MAX_BATCH: usize = 1024;

/// Most messages one pruning transaction deletes, so that posts queued behind
/// a large deletion wait for one short transaction, not the whole job.
const PRUNE_BATCH: usize = 500;

/// Read connections, and so reads running at once: more would only compete
/// for the machine's few cores.
const READERS: usize = 4;

/// How long a statement waits for a lock SQLite holds briefly (a checkpoint,
/// WAL recovery) before it fails as unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SELECT_AFTER: &str = "SELECT id, created_at, author, body FROM messages \
     WHERE room = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
const SELECT_BEFORE: &str = "SELECT id, created_at, author, body FROM messages \
     WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";
const SELECT_LATEST: &str = "SELECT id, created_at, author, body FROM messages \
     WHERE room = ?1 ORDER BY id DESC LIMIT ?2";
const SELECT_PRUNED_THROUGH: &str = "SELECT pruned_through FROM room_state WHERE room = ?1";
const INSERT_MESSAGE: &str = "INSERT INTO messages (id, room, created_at, author, body) \
     VALUES (?1, ?2, ?3, ?4, ?5)";
/// The first room after `?1`: walking rooms this way costs one index seek per
/// room instead of a scan of every message.
const SELECT_NEXT_ROOM: &str = "SELECT room FROM messages WHERE room > ?1 ORDER BY room LIMIT 1";
const SELECT_NEWEST_IN_ROOM: &str = "SELECT max(id) FROM messages WHERE room = ?1";
const SELECT_PRUNED_ROOMS: &str = "SELECT room, pruned_through FROM room_state";
/// A room's newest message but `?2`: with `?2 = keep - 1`, the oldest that
/// retention by count keeps.
const SELECT_OLDEST_KEPT_BY_COUNT: &str =
    "SELECT id FROM messages WHERE room = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2";
/// The oldest message young enough to keep.
const SELECT_OLDEST_YOUNG: &str =
    "SELECT id FROM messages WHERE room = ?1 AND created_at >= ?2 ORDER BY id LIMIT 1";
const SELECT_PRUNE_BATCH_END: &str = "SELECT max(id) FROM \
     (SELECT id FROM messages WHERE room = ?1 AND id < ?2 ORDER BY id LIMIT ?3)";
const DELETE_THROUGH: &str = "DELETE FROM messages WHERE room = ?1 AND id <= ?2";
const RECORD_PRUNED_THROUGH: &str = "INSERT INTO room_state (room, pruned_through) \
     VALUES (?1, ?2) ON CONFLICT (room) \
     DO UPDATE SET pruned_through = max(pruned_through, excluded.pruned_through)";

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
    requests: Option<Sender<Request>>,
    /// Taken in `drop` to wait for the writer; `Some` until then.
    writer: Option<JoinHandle<()>>,
    readers: Arc<Readers>,
    newest: Arc<NewestIds>,
    watchers: Watchers,
    #[cfg(test)]
    append_transactions: Arc<AtomicUsize>,
}

impl SqliteStore {
    /// Opens the database at `path` (relative to the working directory),
    /// creating the file and its schema if missing and upgrading an older
    /// schema.
    ///
    /// Fails with [`ChatError::Open`] when another server has the file open,
    /// the file is not a database or is corrupt, the location is not writable,
    /// or the schema is newer than this build knows.
    pub async fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self, ChatError> {
        let path = path.as_ref().to_owned();
        // Opening reads and checks the whole file: blocking work.
        tokio::task::spawn_blocking(move || Self::open_blocking(path, options))
            .await
            .map_err(|error| {
                open_failed("the task opening the database failed", Some(error.into()))
            })?
    }

    fn open_blocking(path: PathBuf, options: StoreOptions) -> Result<Self, ChatError> {
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
            .with_connection(|connection| check(connection))
            .map_err(|error| open_error(&path, "cannot read", error))?;

        let (requests, queue) = mpsc::channel();
        let watchers = Watchers::default();
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
            requests: Some(requests),
            writer: Some(writer),
            readers,
            newest: newest_ids,
            watchers,
            #[cfg(test)]
            append_transactions,
        })
    }

    /// Queues `request` for the writer thread.
    fn send(&self, request: Request) -> Result<(), ChatError> {
        self.requests
            .as_ref()
            .ok_or(ChatError::Closed)?
            .send(request)
            .map_err(|_| ChatError::Closed)
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
    async fn append(&self, room: &RoomName, message: NewMessage) -> Result<Message, ChatError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Append(Append {
            room: room.clone(),
            message,
            reply,
        }))?;
        // The writer answers every request it takes; no answer means it has
        // stopped.
        answer.await.map_err(|_| ChatError::Closed)?
    }

    async fn read(&self, room: &RoomName, query: ReadQuery) -> Result<Page, ChatError> {
        if self.newest.holds_nothing_for(room, query) {
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

    async fn prune(&self) -> Result<u64, ChatError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Prune(reply))?;
        answer.await.map_err(|_| ChatError::Closed)?
    }

    async fn check_health(&self) -> Result<(), ChatError> {
        if self.writer.as_ref().is_none_or(JoinHandle::is_finished) {
            return Err(unavailable("the SQLite writer thread has stopped"));
        }
        self.readers.run(|connection| check(connection)).await
    }
}

/// The newest id each room ever had (retention may have deleted it since).
/// The writer records each commit here before waking the room's watchers;
/// readers use it to answer "nothing newer" without SQLite, which is what
/// every parked poll and every re-poll asks.
#[derive(Debug)]
struct NewestIds(RwLock<HashMap<String, Uuid>>);

impl NewestIds {
    /// Records `newest` as `room`'s newest id; returns the previous one.
    fn record(&self, room: &RoomName, newest: Uuid) -> Option<Uuid> {
        let mut ids = self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        ids.insert(room.to_string(), newest)
    }

    /// True when `query` certainly finds nothing in `room`: the room never
    /// had a message, or the cursor is at or past its newest id (then nothing
    /// newer than the cursor was ever deleted either, so nothing is
    /// truncated).
    fn holds_nothing_for(&self, room: &RoomName, query: ReadQuery) -> bool {
        let ids = self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match (ids.get(room.as_str()), query) {
            (None, _) => true,
            (Some(&newest), ReadQuery::After { cursor, .. }) => cursor >= newest,
            (Some(_), ReadQuery::Before { .. } | ReadQuery::Latest { .. }) => false,
        }
    }
}

/// What the writer thread is asked to do.
enum Request {
    Append(Append),
    Prune(oneshot::Sender<Result<u64, ChatError>>),
}

/// One post waiting for its id and its commit.
struct Append {
    room: RoomName,
    message: NewMessage,
    reply: oneshot::Sender<Result<Message, ChatError>>,
}

/// The writer thread's state: the only write connection, and the id
/// generator that must only ever be used with it.
struct Writer {
    connection: Connection,
    queue: Receiver<Request>,
    /// Prunes that arrived while appends were being batched; they run next.
    deferred_prunes: VecDeque<oneshot::Sender<Result<u64, ChatError>>>,
    ids: IdGenerator,
    /// Updated after every commit, before the watchers are woken.
    newest: Arc<NewestIds>,
    clock: Arc<dyn Clock>,
    retention: Retention,
    watchers: Watchers,
    #[cfg(test)]
    append_transactions: Arc<AtomicUsize>,
    /// Declared last so that the lock outlives the connection.
    _lock: File,
}

impl Writer {
    /// Serves requests until the store closes the queue and it is empty.
    fn run(mut self) {
        while let Some(request) = self.next_request() {
            match request {
                Request::Append(first) => self.append_batch(first),
                Request::Prune(reply) => {
                    // A caller that stopped waiting needs no answer.
                    let _ = reply.send(self.prune());
                }
            }
        }
    }

    fn next_request(&mut self) -> Option<Request> {
        match self.deferred_prunes.pop_front() {
            Some(reply) => Some(Request::Prune(reply)),
            None => self.queue.recv().ok(),
        }
    }

    /// Writes `first` and every append already queued in one transaction,
    /// then wakes the rooms' watchers and answers the posters.
    fn append_batch(&mut self, first: Append) {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match self.queue.try_recv() {
                Ok(Request::Append(next)) => batch.push(next),
                Ok(Request::Prune(reply)) => self.deferred_prunes.push_back(reply),
                Err(_) => break,
            }
        }
        let (replies, submissions): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|append| (append.reply, (append.room, append.message)))
            .unzip();
        match self.insert(submissions) {
            Ok(stored) => {
                // Wake the watchers before answering, so that by the time a
                // poster hears `Ok`, every watch of its room has fired.
                let mut per_room: BTreeMap<&RoomName, Vec<Message>> = BTreeMap::new();
                for message in &stored {
                    per_room
                        .entry(&message.room)
                        .or_default()
                        .push(message.clone());
                }
                for (room, messages) in per_room {
                    let newest = messages.last().map(|message| message.id);
                    let previous_newest = match newest {
                        Some(newest) => self.newest.record(room, newest),
                        None => continue,
                    };
                    let commit = RoomCommit {
                        previous_newest,
                        messages,
                    };
                    self.watchers.notify(room, commit);
                }
                for (reply, message) in replies.into_iter().zip(stored) {
                    // A poster that stopped waiting needs no answer; its
                    // message is stored all the same.
                    let _ = reply.send(Ok(message));
                }
            }
            Err(error) => {
                let error = Arc::new(error);
                for reply in replies {
                    let _ = reply.send(Err(unavailable(Arc::clone(&error))));
                }
            }
        }
    }

    /// Assigns ids and times and inserts the messages in one transaction.
    fn insert(
        &mut self,
        submissions: Vec<(RoomName, NewMessage)>,
    ) -> rusqlite::Result<Vec<Message>> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut stored = Vec::with_capacity(submissions.len());
        {
            let mut insert = transaction.prepare_cached(INSERT_MESSAGE)?;
            for (room, message) in submissions {
                let now = self.clock.now();
                // The generator keeps these ids even if the transaction then
                // fails: later ids skip them, and so can never sort before
                // anything a failed commit might have left on disk.
                let id = self.ids.next(now);
                let message = message.into_message(id, room, truncate_to_micros(now));
                insert.execute(params![
                    message.id.as_bytes(),
                    message.room.as_str(),
                    message.created_at.timestamp_micros(),
                    message.author,
                    message.body,
                ])?;
                stored.push(message);
            }
        }
        // Dropping an uncommitted transaction rolls it back, so an error
        // anywhere above leaves nothing of the batch.
        transaction.commit()?;
        #[cfg(test)]
        self.append_transactions.fetch_add(1, Ordering::Relaxed);
        Ok(stored)
    }

    /// Deletes, room by room and in short transactions, what retention no
    /// longer keeps (the same rules as `MemoryStore::prune`).
    ///
    /// Only ever the oldest messages of a room go, up to a boundary id, so
    /// "everything up to `pruned_through` is gone" stays true even when the
    /// clock stepped back and `created_at` is not in id order.
    fn prune(&mut self) -> Result<u64, ChatError> {
        if !self.retention.is_enabled() {
            return Ok(0);
        }
        let young_from = self
            .retention
            .max_age
            .and_then(|age| TimeDelta::from_std(age).ok())
            .and_then(|age| self.clock.now().checked_sub_signed(age))
            .map(micros_rounded_up);
        let rooms = rooms(&self.connection).map_err(unavailable)?;
        let mut deleted = 0;
        for room in rooms {
            let Some(bound) = self.prune_bound(&room, young_from).map_err(unavailable)? else {
                continue;
            };
            loop {
                let removed = self.prune_batch(&room, bound).map_err(unavailable)?;
                deleted += removed as u64;
                // Posts that arrived meanwhile go before the next batch.
                self.append_queued();
                if removed < PRUNE_BATCH {
                    break;
                }
            }
        }
        Ok(deleted)
    }

    /// The id below which `room`'s messages go, or `None` when all stay.
    /// Messages created at or after `young_from` (microseconds) are young.
    fn prune_bound(&self, room: &str, young_from: Option<i64>) -> rusqlite::Result<Option<Uuid>> {
        let by_count = match self.retention.per_room {
            Some(keep) => self
                .connection
                .prepare_cached(SELECT_OLDEST_KEPT_BY_COUNT)?
                .query_row(params![room, count_param(keep.get() - 1)], id_column)
                .optional()?
                // No such message: the room is within the limit.
                .flatten(),
            None => None,
        };
        let by_age = match young_from {
            Some(micros) => Some(
                self.connection
                    .prepare_cached(SELECT_OLDEST_YOUNG)?
                    .query_row(params![room, micros], id_column)
                    .optional()?
                    .flatten()
                    // Nothing is young: everything goes. A generated id has
                    // version 7, so none equals the maximum UUID.
                    .unwrap_or(Uuid::max()),
            ),
            None => None,
        };
        // `None` sorts below every bound: the larger bound deletes the most,
        // which is what satisfies both limits.
        Ok(by_count.max(by_age))
    }

    /// Deletes up to [`PRUNE_BATCH`] of `room`'s oldest messages below
    /// `bound` in one transaction, recording the newest deleted id.
    fn prune_batch(&mut self, room: &str, bound: Uuid) -> rusqlite::Result<usize> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let batch_end = transaction
            .prepare_cached(SELECT_PRUNE_BATCH_END)?
            .query_row(
                params![room, bound.as_bytes(), count_param(PRUNE_BATCH)],
                id_column,
            )?;
        let Some(batch_end) = batch_end else {
            return Ok(0);
        };
        let deleted = transaction
            .prepare_cached(DELETE_THROUGH)?
            .execute(params![room, batch_end.as_bytes()])?;
        transaction
            .prepare_cached(RECORD_PRUNED_THROUGH)?
            .execute(params![room, batch_end.as_bytes()])?;
        transaction.commit()?;
        Ok(deleted)
    }

    /// Writes the appends waiting in the queue, if any.
    fn append_queued(&mut self) {
        match self.queue.try_recv() {
            Ok(Request::Append(first)) => self.append_batch(first),
            Ok(Request::Prune(reply)) => self.deferred_prunes.push_back(reply),
            Err(_) => {}
        }
    }
}

/// Read-only connections, each used by one blocking task at a time.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection: reads beyond [`READERS`] wait here, on the
    /// async side, instead of occupying blocking threads.
    permits: Arc<Semaphore>,
}

impl Readers {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::with_capacity(READERS)),
            permits: Arc::new(Semaphore::new(READERS)),
        }
    }

    /// Runs `work` on a read connection on a blocking thread.
    async fn run<T, F>(self: &Arc<Self>, work: F) -> Result<T, ChatError>
    where
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| ChatError::Closed)?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            readers.with_connection(work).map_err(unavailable)
        })
        .await
        .map_err(unavailable)?
    }

    /// Runs `work` on an idle connection, or on a new one when none is idle.
    fn with_connection<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let idle = self.lock_idle().pop();
        let mut connection = match idle {
            Some(connection) => connection,
            None => open_reader(&self.path)?,
        };
        let result = work(&mut connection);
        // A failed statement leaves the connection usable: keep it.
        self.lock_idle().push(connection);
        result
    }

    fn lock_idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        // A list of idle connections stays consistent even if a holder
        // panicked: every critical section is one push or pop.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Takes the advisory lock on `PATH.lock` that keeps a second server away.
/// The lock file stays behind after a stop; only a held lock means "in use".
fn lock_exclusively(path: &Path) -> Result<File, ChatError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|error| {
            open_failed(
                format!(
                    "cannot create the lock file {}: does the directory exist, and may \
                     chat-server write to it?",
                    lock_path.display()
                ),
                Some(error.into()),
            )
        })?;
    // Called through the trait: newer Rust has an inherent `File::try_lock`
    // with a different error type, which method syntax would pick instead.
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(file),
        Err(fs4::TryLockError::WouldBlock) => Err(open_failed(
            format!(
                "{} is in use by another chat-server (it holds the lock on {})",
                path.display(),
                lock_path.display()
            ),
            None,
        )),
        Err(fs4::TryLockError::Error(error)) => Err(open_failed(
            format!("cannot lock {}", lock_path.display()),
            Some(error.into()),
        )),
    }
}

/// Opens the write connection: WAL, synchronous=FULL, and a quick integrity
/// check, so a damaged file is refused at start-up.
fn open_writer(path: &Path) -> Result<Connection, ChatError> {
    let failed = |error| open_error(path, "cannot open", error);
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    // SQLite quietly opens a file it may not write read-only.
    if connection.is_readonly(MAIN_DB).map_err(failed)? {
        return Err(read_only(path));
    }
    connection.busy_timeout(BUSY_TIMEOUT).map_err(failed)?;
    let mode: String = connection
        .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
        .map_err(failed)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(open_failed(
            format!(
                "cannot use write-ahead logging for {} (the journal mode stays `{mode}`); \
                 put the database in a file on a local file system",
                path.display()
            ),
            None,
        ));
    }
    connection
        .pragma_update(None, "synchronous", "FULL")
        .map_err(failed)?;
    let problems = {
        let mut statement = connection.prepare("PRAGMA quick_check").map_err(failed)?;
        let rows = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(failed)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(failed)?
    };
    if problems != ["ok"] {
        return Err(open_failed(
            format!(
                "{} is corrupt; SQLite's integrity check says: {}",
                path.display(),
                problems.join("; ")
            ),
            None,
        ));
    }
    Ok(connection)
}

/// Brings the schema up to date in one transaction: all of it or none.
fn migrate(connection: &mut Connection, path: &Path) -> Result<(), ChatError> {
    let failed = |error| open_error(path, "cannot upgrade the schema of", error);
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed)?;
    let found: i64 = transaction
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(failed)?;
    let known = MIGRATIONS.len();
    let applied = match usize::try_from(found) {
        Ok(applied) if applied <= known => applied,
        _ => {
            return Err(open_failed(
                format!(
                    "database schema version {found} is newer than this chat-server \
                     supports ({known}); upgrade chat-server"
                ),
                None,
            ))
        }
    };
    if applied == known {
        return Ok(());
    }
    for migration in &MIGRATIONS[applied..] {
        transaction.execute_batch(migration).map_err(failed)?;
    }
    transaction
        .pragma_update(None, "user_version", count_param(known))
        .map_err(failed)?;
    transaction.commit().map_err(failed)
}

/// The newest id each room holds or ever held (retention may have deleted
/// the newest messages): the generator continues above all of them, and
/// watchers learn what each commit follows.
fn newest_ids(connection: &Connection) -> rusqlite::Result<HashMap<String, Uuid>> {
    let mut newest: HashMap<String, Uuid> = HashMap::new();
    let mut pruned = connection.prepare(SELECT_PRUNED_ROOMS)?;
    let rows = pruned.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, Option<[u8; 16]>>(1)?))
    })?;
    for row in rows {
        if let (room, Some(id)) = row? {
            newest.insert(room, Uuid::from_bytes(id));
        }
    }
    let mut newest_in_room = connection.prepare(SELECT_NEWEST_IN_ROOM)?;
    for room in rooms(connection)? {
        if let Some(id) = newest_in_room.query_row([&room], id_column)? {
            let entry = newest.entry(room).or_insert(id);
            *entry = (*entry).max(id);
        }
    }
    Ok(newest)
}

/// Every room that has messages, found with one index seek per room.
fn rooms(connection: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut next_room = connection.prepare_cached(SELECT_NEXT_ROOM)?;
    let mut rooms = Vec::new();
    // The empty string sorts before every valid room name.
    let mut last = String::new();
    while let Some(room) = next_room
        .query_row([&last], |row| row.get::<_, String>(0))
        .optional()?
    {
        rooms.push(room.clone());
        last = room;
    }
    Ok(rooms)
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    Ok(connection)
}

/// A trivial query that still has to read the file.
fn check(connection: &Connection) -> rusqlite::Result<()> {
    connection
        .query_row("SELECT 1 FROM messages LIMIT 1", [], |_| Ok(()))
        .optional()
        .map(drop)
}

fn read_page(
    connection: &mut Connection,
    room: &RoomName,
    query: ReadQuery,
) -> rusqlite::Result<Page> {
    // One read transaction, so the messages and the pruning record come
    // from the same snapshot even if a prune commits in between.
    let transaction = connection.transaction()?;
    let page = match query {
        ReadQuery::After { cursor, limit } => {
            let messages = select(
                &transaction,
                SELECT_AFTER,
                params![room.as_str(), cursor.as_bytes(), count_param(limit)],
                room,
            )?;
            let pruned_through = transaction
                .prepare_cached(SELECT_PRUNED_THROUGH)?
                .query_row([room.as_str()], id_column)
                .optional()?
                .flatten();
            Page {
                messages,
                truncated: pruned_through.is_some_and(|pruned| cursor < pruned),
            }
        }
        ReadQuery::Before { cursor, limit } => oldest_first(select(
            &transaction,
            SELECT_BEFORE,
            params![room.as_str(), cursor.as_bytes(), count_param(limit)],
            room,
        )?),
        ReadQuery::Latest { limit } => oldest_first(select(
            &transaction,
            SELECT_LATEST,
            params![room.as_str(), count_param(limit)],
            room,
        )?),
    };
    transaction.commit()?;
    Ok(page)
}

/// A page from rows read newest first (how "the newest N" is an index range
/// scan), turned the contract's way round.
fn oldest_first(mut newest_first: Vec<Message>) -> Page {
    newest_first.reverse();
    Page {
        messages: newest_first,
        truncated: false,
    }
}

fn select(
    connection: &Connection,
    sql: &str,
    params: impl Params,
    room: &RoomName,
) -> rusqlite::Result<Vec<Message>> {
    let mut statement = connection.prepare_cached(sql)?;
    let rows = statement.query_map(params, |row| message_from_row(row, room))?;
    rows.collect()
}

/// A row of `id, created_at, author, body`.
fn message_from_row(row: &Row<'_>, room: &RoomName) -> rusqlite::Result<Message> {
    let micros: i64 = row.get(1)?;
    let created_at = DateTime::<Utc>::from_timestamp_micros(micros)
        .ok_or(rusqlite::Error::IntegralValueOutOfRange(1, micros))?;
    Ok(Message {
        id: Uuid::from_bytes(row.get(0)?),
        room: room.clone(),
        created_at,
        author: row.get(2)?,
        body: row.get(3)?,
    })
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

/// `time` in whole microseconds, rounded up: stored times are whole
/// microseconds, and for those `created_at < time` is the same as
/// `created_at < time rounded up`.
fn micros_rounded_up(time: DateTime<Utc>) -> i64 {
    let has_nanos = time.timestamp_subsec_nanos() % 1_000 != 0;
    time.timestamp_micros() + i64::from(has_nanos)
}

fn open_failed(reason: impl Into<String>, source: Option<BoxError>) -> ChatError {
    ChatError::Open {
        reason: reason.into(),
        source,
    }
}

fn read_only(path: &Path) -> ChatError {
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
fn open_error(path: &Path, doing: &str, error: rusqlite::Error) -> ChatError {
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
fn unavailable(error: impl Into<BoxError>) -> ChatError {
    ChatError::Unavailable(error.into())
}

#[cfg(test)]
mod tests {
    use super::super::conformance::{conformance_suite, options_with, start_time, Fixture};
    use super::*;
    use crate::ManualClock;
    use futures_util::future::join_all;
    use std::num::NonZeroUsize;
    use tempfile::TempDir;

    async fn fixture(options: StoreOptions) -> Fixture {
        let dir = TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path().join("chat.db"), options)
            .await
            .unwrap();
        Fixture::new(Arc::new(store), dir)
    }

    conformance_suite!(fixture);

    fn new_message(body: &str) -> NewMessage {
        NewMessage::new(body.to_owned(), None).unwrap()
    }

    async fn open_error_reason(path: &Path) -> String {
        match SqliteStore::open(path, StoreOptions::default()).await {
            Err(ChatError::Open { reason, .. }) => reason,
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
            stored.push(store.append(&general, new_message(body)).await.unwrap());
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
        let newer = store.append(&general, new_message("four")).await.unwrap();
        assert!(newer.id > stored[2].id);
        store.check_health().await.unwrap();
    }

    #[tokio::test]
    async fn ids_stay_above_pruned_ones_after_a_restart() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("chat.db");
        let clock = Arc::new(ManualClock::new(start_time()));
        let retention = Retention {
            per_room: None,
            max_age: Some(Duration::from_secs(60)),
        };
        let general = RoomName::general();
        let store = SqliteStore::open(&path, options_with(&clock, retention))
            .await
            .unwrap();
        let old = store.append(&general, new_message("old")).await.unwrap();
        clock.advance(TimeDelta::hours(1));
        assert_eq!(store.prune().await.unwrap(), 1);
        drop(store);

        // The table is empty now; only the pruning record remembers `old`.
        clock.set(start_time() - TimeDelta::days(1));
        let store = SqliteStore::open(&path, options_with(&clock, retention))
            .await
            .unwrap();
        let newer = store.append(&general, new_message("new")).await.unwrap();
        assert!(newer.id > old.id);
        let page = store
            .read(
                &general,
                ReadQuery::After {
                    cursor: Uuid::nil(),
                    limit: 10,
                },
            )
            .await
            .unwrap();
        assert!(page.truncated);
        assert_eq!(page.messages, [newer]);
    }

    #[tokio::test]
    async fn pruning_a_backlog_takes_several_batches_and_keeps_the_newest() {
        let dir = TempDir::new().unwrap();
        let retention = Retention {
            per_room: NonZeroUsize::new(10),
            max_age: None,
        };
        let options = StoreOptions {
            retention,
            ..StoreOptions::default()
        };
        let store = SqliteStore::open(dir.path().join("chat.db"), options)
            .await
            .unwrap();
        let general = RoomName::general();
        let total = 2 * PRUNE_BATCH + 10 + 7;
        let appends = (0..total).map(|n| store.append(&general, new_message(&n.to_string())));
        let stored: Vec<Message> = join_all(appends)
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut ids: Vec<Uuid> = stored.iter().map(|message| message.id).collect();
        ids.sort();
        assert_eq!(store.prune().await.unwrap(), (total - 10) as u64);
        let kept = store
            .read(&general, ReadQuery::Latest { limit: 100 })
            .await
            .unwrap()
            .messages;
        let kept_ids: Vec<Uuid> = kept.iter().map(|message| message.id).collect();
        assert_eq!(kept_ids, ids[total - 10..]);
        let page = store
            .read(
                &general,
                ReadQuery::After {
                    cursor: ids[total - 12],
                    limit: 100,
                },
            )
            .await
            .unwrap();
        assert!(page.truncated);
        assert_eq!(page.messages, kept);
    }

    #[tokio::test]
    async fn a_database_from_a_newer_chat_server_is_refused() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("chat.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let reason = open_error_reason(&path).await;
        assert_eq!(
            reason,
            format!(
                "database schema version 99 is newer than this chat-server supports ({}); \
                 upgrade chat-server",
                MIGRATIONS.len()
            )
        );
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_database_is_refused() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "Dear diary, ".repeat(400)).unwrap();
        let reason = open_error_reason(&path).await;
        assert!(reason.contains("is not a SQLite database"), "{reason}");
        // Refusing it changed nothing.
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("Dear diary"));
    }

    #[tokio::test]
    async fn a_second_store_on_the_same_file_is_refused_while_the_first_is_open() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("chat.db");
        let first = SqliteStore::open(&path, StoreOptions::default())
            .await
            .unwrap();
        let reason = open_error_reason(&path).await;
        assert!(
            reason.contains("is in use by another chat-server"),
            "{reason}"
        );
        first.check_health().await.unwrap();
        drop(first);
        SqliteStore::open(&path, StoreOptions::default())
            .await
            .unwrap();
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_share_transactions() {
        const POSTS: usize = 200;
        let dir = TempDir::new().unwrap();
        let store = SqliteStore::open(dir.path().join("chat.db"), StoreOptions::default())
            .await
            .unwrap();
        let general = RoomName::general();
        let appends = (0..POSTS).map(|n| store.append(&general, new_message(&n.to_string())));
        for result in join_all(appends).await {
            result.unwrap();
        }
        let transactions = store.append_transactions.load(Ordering::Relaxed);
        assert!(
            transactions < POSTS,
            "{POSTS} appends took {transactions} transactions"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_transaction_answers_unavailable_and_leaves_nothing_behind() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("chat.db");
        let store = SqliteStore::open(&path, StoreOptions::default())
            .await
            .unwrap();
        // Another connection makes every insert of `poison` fail, as a full
        // disk would.
        let saboteur = Connection::open(&path).unwrap();
        saboteur
            .execute_batch(
                "CREATE TRIGGER reject_poison BEFORE INSERT ON messages \
                 WHEN NEW.body = 'poison' BEGIN SELECT RAISE(ABORT, 'rejected'); END;",
            )
            .unwrap();
        let general = RoomName::general();
        let bodies = ["a", "b", "poison", "c", "d"];
        let appends = bodies.map(|body| store.append(&general, new_message(body)));
        let results = join_all(appends).await;
        let visible = store
            .read(&general, ReadQuery::Latest { limit: 10 })
            .await
            .unwrap()
            .messages;
        for (body, result) in bodies.iter().zip(&results) {
            match result {
                Ok(message) => assert!(visible.contains(message), "{body} acknowledged but lost"),
                Err(ChatError::Unavailable(_)) => {
                    assert!(
                        visible.iter().all(|message| message.body != *body),
                        "{body} rejected but visible"
                    );
                }
                Err(other) => panic!("{body}: unexpected error {other}"),
            }
        }
        assert!(results[2].is_err());

        saboteur
            .execute_batch("DROP TRIGGER reject_poison")
            .unwrap();
        let after = store.append(&general, new_message("after")).await.unwrap();
        assert!(visible.iter().all(|message| message.id < after.id));
    }

    #[test]
    fn the_write_connection_syncs_every_commit_of_its_write_ahead_log() {
        let dir = TempDir::new().unwrap();
        let connection = open_writer(&dir.path().join("chat.db")).unwrap();
        let mode: String = connection
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        let synchronous: i64 = connection
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), synchronous), ("wal", 2), "2 is FULL");
    }

    /// Every statement the hot paths run, with the plan detail it must have.
    #[test]
    fn reads_are_single_index_range_scans() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection, Path::new(":memory:")).unwrap();
        let index = "SEARCH messages USING INDEX messages_room_id";
        let expectations = [
            (SELECT_AFTER, format!("{index} (room=? AND id>?)")),
            (SELECT_BEFORE, format!("{index} (room=? AND id<?)")),
            (SELECT_LATEST, format!("{index} (room=?)")),
            (
                SELECT_PRUNED_THROUGH,
                "SEARCH room_state USING PRIMARY KEY (room=?)".to_owned(),
            ),
            (
                SELECT_NEXT_ROOM,
                "SEARCH messages USING COVERING INDEX messages_room_id (room>?)".to_owned(),
            ),
        ];
        for (sql, expected) in expectations {
            let mut statement = connection
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let nulls = vec![rusqlite::types::Null; statement.parameter_count()];
            let plan: Vec<String> = statement
                .query_map(rusqlite::params_from_iter(nulls), |row| row.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert!(plan.contains(&expected), "{sql}: {plan:?}");
            assert!(
                plan.iter()
                    .all(|step| !step.starts_with("SCAN") && !step.contains("TEMP B-TREE")),
                "{sql}: {plan:?}"
            );
        }
    }

    #[test]
    fn micros_round_up_only_when_there_are_leftover_nanoseconds() {
        let whole = start_time();
        assert_eq!(micros_rounded_up(whole), whole.timestamp_micros());
        let partial = whole + TimeDelta::nanoseconds(1);
        assert_eq!(micros_rounded_up(partial), whole.timestamp_micros() + 1);
    }
}
