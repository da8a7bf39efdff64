//! The writer thread: the only write connection, group commit, and pruning.
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
//! every poster in it gets [`StoreError::Unavailable`].

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

#[cfg(test)]
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use super::activity::Activity;
use super::newest::NewestIds;
use super::prune::{PrunePass, WrittenRooms};
use super::queue::Claim;
use super::readers::message_from_row;
use super::{unavailable, BUSY_TIMEOUT};
use crate::id::IdGenerator;
use crate::message::truncate_to_micros;
use crate::store::idempotency::answer_repeat;
use crate::store::{AppendError, Appended, Retention, RoomCommit, StoreError, Watchers};
use crate::{Clock, Message, NewMessage, RoomName};

/// Most appends written in one transaction: enough to absorb a burst, small
/// enough that one failure rejects few posts.
const MAX_BATCH: usize = 1024;

/// How long the writer must be idle after a write before it empties the log.
const IDLE_BEFORE_CHECKPOINT: Duration = Duration::from_secs(1);
/// How long that checkpoint waits for readers on an old snapshot.
const CHECKPOINT_BUSY_TIMEOUT: Duration = Duration::from_millis(50);

const INSERT_MESSAGE: &str = "INSERT INTO messages \
     (id, room, created_at, author, body, idempotency_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
/// The message holding an idempotency key in a room (`messages_room_key`).
const SELECT_KEYED: &str = "SELECT id, created_at, author, body FROM messages \
     WHERE room = ?1 AND idempotency_key = ?2";
/// Frees an expired key for the message about to take it.
const RELEASE_KEY: &str =
    "UPDATE messages SET idempotency_key = NULL WHERE room = ?1 AND idempotency_key = ?2";
/// A write as a post makes and its undoing: the room `''` is no valid room
/// name, so no read ever sees the row, which is gone at commit anyway.
const PROBE: &str = "INSERT INTO messages (id, room, created_at, body) \
     VALUES (zeroblob(16), '', 0, ''); DELETE FROM messages WHERE room = '';";

/// What the writer thread is asked to do.
pub(super) enum Request {
    Append(Append),
    Prune(oneshot::Sender<Result<u64, StoreError>>),
    /// Asks for a write that stores nothing, to learn whether writes work.
    Probe(oneshot::Sender<Result<(), StoreError>>),
}

/// One post waiting for its id and its commit.
pub(super) struct Append {
    pub(super) room: RoomName,
    pub(super) message: NewMessage,
    pub(super) reply: oneshot::Sender<Result<Appended, AppendError>>,
    /// Taken by the writer before it writes the post, unless its poster
    /// gave up first.
    pub(super) claim: Arc<Claim>,
}

/// The writer thread's state: the only write connection, and the id
/// generator that must only ever be used with it.
pub(super) struct Writer {
    pub(super) connection: Connection,
    pub(super) queue: Receiver<Request>,
    /// Prunes that arrived while appends were being batched; they run next.
    pub(super) deferred_prunes: VecDeque<oneshot::Sender<Result<u64, StoreError>>>,
    /// The retention pass under way, if any.
    pub(super) pass: Option<PrunePass>,
    /// Which rooms retention by count must look at next pass.
    pub(super) written: WrittenRooms,
    pub(super) ids: IdGenerator,
    /// Updated after every commit, before the watchers are woken.
    pub(super) newest: Arc<NewestIds>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) retention: Retention,
    pub(super) watchers: Watchers,
    /// What the health check reads.
    pub(super) activity: Arc<Activity>,
    /// True once a commit has grown the log since the last full checkpoint.
    pub(super) wrote_since_checkpoint: bool,
    #[cfg(test)]
    pub(super) append_transactions: Arc<AtomicUsize>,
    /// Declared last so that the lock outlives the connection.
    pub(super) _lock: File,
}

impl Writer {
    /// Serves requests until the store closes the queue and it is empty.
    pub(super) fn run(mut self) {
        loop {
            let request = if self.pass.is_some() {
                // A pass runs one short step at a time, and only while no
                // request waits: a post waits for one step at most.
                match self.queue.try_recv() {
                    Ok(request) => request,
                    Err(TryRecvError::Empty) => {
                        self.prune_step();
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => return,
                }
            } else {
                match self.next_request() {
                    Some(request) => request,
                    None => return,
                }
            };
            self.activity.begin();
            match request {
                Request::Append(first) => self.append_batch(first),
                // One pass at a time: a prune asked for during a pass starts
                // a new one after it, so it sees everything before it.
                Request::Prune(reply) if self.pass.is_some() => {
                    self.deferred_prunes.push_back(reply);
                }
                Request::Prune(reply) => self.start_pass(reply),
                Request::Probe(reply) => {
                    let _ = reply.send(self.probe().map_err(unavailable));
                }
            }
            self.activity.end();
        }
    }

    fn next_request(&mut self) -> Option<Request> {
        if let Some(reply) = self.deferred_prunes.pop_front() {
            return Some(Request::Prune(reply));
        }
        if self.wrote_since_checkpoint {
            match self.queue.recv_timeout(IDLE_BEFORE_CHECKPOINT) {
                Ok(request) => return Some(request),
                Err(RecvTimeoutError::Timeout) => self.checkpoint(),
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
        self.queue.recv().ok()
    }

    /// Copies the log into the file and empties it, once the writer is idle:
    /// the log never stays large after a burst. Readers still on an old
    /// snapshot make it give up quickly; the next idle moment tries again.
    fn checkpoint(&mut self) {
        self.activity.begin();
        let truncated = (|| {
            self.connection.busy_timeout(CHECKPOINT_BUSY_TIMEOUT)?;
            let busy: i64 =
                self.connection
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
            self.connection.busy_timeout(BUSY_TIMEOUT)?;
            Ok::<_, rusqlite::Error>(busy == 0)
        })();
        match truncated {
            Ok(done) => self.wrote_since_checkpoint = !done,
            // Harmless: the log stays as it is until the next write re-arms
            // the checkpoint. Writes must get their usual lock timeout back.
            Err(_) => {
                let _ = self.connection.busy_timeout(BUSY_TIMEOUT);
                self.wrote_since_checkpoint = false;
            }
        }
        self.activity.end();
    }

    /// Writes `first` and every append already queued in one transaction,
    /// then wakes the rooms' watchers and answers the posters.
    fn append_batch(&mut self, first: Append) {
        let mut batch = Vec::new();
        // A post whose poster gave up is never written.
        if first.claim.take() {
            batch.push(first);
        }
        while batch.len() < MAX_BATCH {
            match self.queue.try_recv() {
                Ok(Request::Append(next)) if next.claim.take() => batch.push(next),
                Ok(Request::Append(_)) => {}
                Ok(Request::Prune(reply)) => self.deferred_prunes.push_back(reply),
                Ok(Request::Probe(reply)) => {
                    let _ = reply.send(self.probe().map_err(unavailable));
                }
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            return;
        }
        let (replies, submissions): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|append| (append.reply, (append.room, append.message)))
            .unzip();
        let inserted = self.insert(submissions);
        self.activity.record(inserted.is_ok());
        self.wrote_since_checkpoint = true;
        if let Ok(answers) = &inserted {
            for appended in answers.iter().filter_map(|answer| answer.as_ref().ok()) {
                self.written.insert(&appended.message.room);
            }
        }
        match inserted {
            Ok(answers) => {
                // Wake the watchers before answering, so that by the time a
                // poster hears `Ok`, every watch of its room has fired.
                let mut per_room: BTreeMap<&RoomName, Vec<Message>> = BTreeMap::new();
                for appended in answers.iter().filter_map(|answer| answer.as_ref().ok()) {
                    if !appended.replayed {
                        per_room
                            .entry(&appended.message.room)
                            .or_default()
                            .push(appended.message.clone());
                    }
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
                for (reply, answer) in replies.into_iter().zip(answers) {
                    // A poster that stopped waiting needs no answer; its
                    // message is stored all the same.
                    let _ = reply.send(answer);
                }
            }
            Err(error) => {
                let error = Arc::new(error);
                for reply in replies {
                    let _ = reply.send(Err(unavailable(Arc::clone(&error)).into()));
                }
            }
        }
    }

    /// Assigns ids and times and inserts the messages in one transaction;
    /// a submission whose idempotency key a message holds is answered from
    /// it instead (keys are checked in order, so a repeat within the batch
    /// sees the first).
    fn insert(
        &mut self,
        submissions: Vec<(RoomName, NewMessage)>,
    ) -> rusqlite::Result<Vec<Result<Appended, AppendError>>> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut answers = Vec::with_capacity(submissions.len());
        {
            let mut insert = transaction.prepare_cached(INSERT_MESSAGE)?;
            let mut select_keyed = transaction.prepare_cached(SELECT_KEYED)?;
            let mut release_key = transaction.prepare_cached(RELEASE_KEY)?;
            for (room, message) in submissions {
                let now = self.clock.now();
                let key = message.idempotency_key().map(|key| key.as_str().to_owned());
                if let Some(key) = &key {
                    let existing = select_keyed
                        .query_row(params![room.as_str(), key], |row| {
                            message_from_row(row, &room)
                        })
                        .optional()?;
                    if let Some(existing) = existing {
                        match answer_repeat(&message, existing, now) {
                            Some(answer) => {
                                answers.push(answer);
                                continue;
                            }
                            None => {
                                release_key.execute(params![room.as_str(), key])?;
                            }
                        }
                    }
                }
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
                    key,
                ])?;
                answers.push(Ok(Appended {
                    message,
                    replayed: false,
                }));
            }
        }
        // Dropping an uncommitted transaction rolls it back, so an error
        // anywhere above leaves nothing of the batch.
        transaction.commit()?;
        #[cfg(test)]
        self.append_transactions.fetch_add(1, Ordering::Relaxed);
        Ok(answers)
    }

    /// Writes and deletes a row in one transaction, as a post would (its
    /// triggers, its pages, its sync), leaving nothing behind; records the
    /// outcome as the last write's.
    fn probe(&mut self) -> rusqlite::Result<()> {
        let probed = (|| {
            let transaction = self
                .connection
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            transaction.execute_batch(PROBE)?;
            transaction.commit()
        })();
        self.activity.record(probed.is_ok());
        probed
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::new_message;
    use super::super::SqliteStore;
    use super::*;
    use crate::store::{ChatStore, ReadQuery, StoreOptions};
    use futures_util::future::join_all;
    use tempfile::TempDir;

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
                Ok(appended) => assert!(
                    visible.contains(&appended.message),
                    "{body} acknowledged but lost"
                ),
                Err(AppendError::Store(StoreError::Unavailable(_))) => {
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
        let after = store
            .append(&general, new_message("after"))
            .await
            .unwrap()
            .message;
        assert!(visible.iter().all(|message| message.id < after.id));
    }
}
