//! The writer task: ids, idempotency and group commit.
//!
//! One task per instance takes the first waiting append and every append
//! already queued (up to [`MAX_BATCH`]) and commits them in one transaction.
//! Most batches take one round trip: the ids are chosen here, above this
//! instance's last id and the newest id it knows of for each room (from its
//! own commits and other instances' notifications), and the schema's
//! `chat_append` function locks the rooms, checks those ids are above each
//! room's `last_id` and that no key is already held, then inserts, moves
//! `last_id` and notifies, in the one statement's transaction. When it
//! refuses (another instance committed to the room since this one heard, or
//! a key repeats), nothing was stored and the batch takes the locked path:
//!
//! 1. make sure each room of the batch has its `rooms` row, then lock those
//!    rows `FOR UPDATE`, in room order (so two instances never deadlock);
//! 2. per submission, in order: a key that a message of the room holds gets
//!    [`answer_repeat`]'s answer (an expired key is released), otherwise the
//!    message takes the next UUIDv7 above both the room's `last_id` and this
//!    instance's last id;
//! 3. insert the batch's messages in one statement, move each room's
//!    `last_id`, and `pg_notify` each room's newest id, all in the same
//!    transaction, so the notification is delivered exactly when the
//!    messages become visible.
//!
//! Only after the commit are the local watchers woken, then the posters
//! answered. A failed transaction is rolled back and every poster in it gets
//! [`StoreError::Unavailable`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use deadpool_postgres::Pool;
use futures_util::future::{try_join, try_join3};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::readers::message_from_row;
use super::{NewestSeen, CHANNEL};
use crate::id::IdGenerator;
use crate::message::truncate_to_micros;
use crate::store::idempotency::answer_repeat;
use crate::store::{AppendError, Appended, BoxError, RoomCommit, StoreError, Watchers};
use crate::{Clock, Message, NewMessage, RoomName};

/// Most appends committed in one transaction.
const MAX_BATCH: usize = 512;

const ENSURE_ROOMS: &str =
    "INSERT INTO rooms (room) SELECT unnest($1::text[]) ORDER BY 1 ON CONFLICT DO NOTHING";
const LOCK_ROOMS: &str =
    "SELECT room, last_id FROM rooms WHERE room = ANY($1) ORDER BY room FOR UPDATE";
const SELECT_KEYED: &str = "SELECT id, created_at, author, body FROM messages \
     WHERE room = $1 AND idempotency_key = $2";
const RELEASE_KEY: &str =
    "UPDATE messages SET idempotency_key = NULL WHERE room = $1 AND idempotency_key = $2";
const INSERT_MESSAGES: &str = "INSERT INTO messages \
     (room, id, created_at, author, body, idempotency_key) \
     SELECT * FROM unnest($1::text[], $2::uuid[], $3::timestamptz[], $4::bytea[], \
     $5::bytea[], $6::text[])";
const MOVE_LAST_IDS: &str = "UPDATE rooms SET last_id = v.id \
     FROM unnest($1::text[], $2::uuid[]) AS v (room, id) WHERE rooms.room = v.room";
const NOTIFY: &str = "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p";
const APPEND_AT_ONCE: &str = "SELECT appended_room, previous_id FROM chat_append($1, \
     $2::text[], $3::uuid[], $4::timestamptz[], $5::bytea[], $6::bytea[], $7::text[])";

/// One post waiting for its id and its commit.
pub(super) struct Append {
    pub(super) room: RoomName,
    pub(super) message: NewMessage,
    pub(super) reply: oneshot::Sender<Result<Appended, AppendError>>,
}

/// The writer task's state.
pub(super) struct Writer {
    pub(super) pool: Pool,
    pub(super) queue: mpsc::Receiver<Append>,
    /// The last id this instance assigned; ids it assigns keep increasing.
    pub(super) last_id: Option<Uuid>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) watchers: Watchers,
    pub(super) newest: Arc<NewestSeen>,
    #[cfg(test)]
    pub(super) transactions: Arc<std::sync::atomic::AtomicUsize>,
}

type Answer = Result<Appended, AppendError>;
/// A batch's answers in order, and what each room got.
type Committed = (Vec<Answer>, BTreeMap<RoomName, RoomCommit>);
type Submissions = Vec<(RoomName, NewMessage)>;

impl Writer {
    /// Commits appends until the store is dropped.
    pub(super) async fn run(mut self) {
        while let Some(first) = self.queue.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.queue.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            self.append_batch(batch).await;
        }
    }

    async fn append_batch(&mut self, batch: Vec<Append>) {
        let (replies, submissions): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|append| (append.reply, (append.room, append.message)))
            .unzip();
        match self.insert(submissions).await {
            Ok((answers, commits)) => {
                #[cfg(test)]
                self.transactions
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Wake the watchers before answering, so that by the time a
                // poster hears `Ok`, every local watch of its room has fired.
                for (room, commit) in commits {
                    if let Some(last) = commit.messages.last() {
                        let _ = self.newest.advance(&room, last.id);
                    }
                    self.watchers.notify(&room, commit);
                }
                self.newest.take_in_flight();
                for (reply, answer) in replies.into_iter().zip(answers) {
                    // A poster that stopped waiting needs no answer.
                    let _ = reply.send(answer);
                }
            }
            Err(error) => {
                // The commit may have happened all the same (the connection
                // broke after it was sent), and its notification then been
                // skipped as this instance's own: let the watchers look.
                for (room, _) in self.newest.take_in_flight() {
                    self.watchers.notify_changed(&room);
                }
                let error = Shared(Arc::new(error));
                for reply in replies {
                    let _ = reply.send(Err(StoreError::unavailable(error.clone()).into()));
                }
            }
        }
    }

    /// Commits `submissions` in one transaction; answers them in order, and
    /// says what each room got.
    async fn insert(&mut self, submissions: Submissions) -> Result<Committed, BoxError> {
        let mut client = self.pool.get().await?;
        let submissions = match self.insert_at_once(&client, submissions).await? {
            Ok(committed) => return Ok(committed),
            Err(refused) => refused,
        };
        let transaction = client.transaction().await?;
        let rooms: Vec<String> = submissions
            .iter()
            .map(|(room, _)| room.as_str().to_owned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Statements prepared once per connection, and sent together where
        // one does not need the other's answer: a round trip each to the
        // database is most of what a lone append waits for.
        let (ensure_rooms, lock_rooms) = try_join(
            transaction.prepare_cached(ENSURE_ROOMS),
            transaction.prepare_cached(LOCK_ROOMS),
        )
        .await?;
        let (_, locked) = try_join(
            transaction.execute(&ensure_rooms, &[&rooms]),
            transaction.query(&lock_rooms, &[&rooms]),
        )
        .await?;
        let mut last_ids: HashMap<String, Option<Uuid>> = locked
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let previous = last_ids.clone();

        let mut answers = Vec::with_capacity(submissions.len());
        let mut stored: Vec<(Message, Option<String>)> = Vec::new();
        // Keys taken earlier in this batch: (room, key) -> index in `stored`.
        let mut batch_keys: HashMap<(String, String), usize> = HashMap::new();
        for (room, message) in submissions {
            let now = self.clock.now();
            let key = message.idempotency_key().map(|key| key.as_str().to_owned());
            if let Some(key) = &key {
                let in_batch = batch_keys.get(&(room.as_str().to_owned(), key.clone()));
                let existing = match in_batch {
                    Some(&index) => Some(stored[index].0.clone()),
                    None => transaction
                        .query_opt(
                            &transaction.prepare_cached(SELECT_KEYED).await?,
                            &[&room.as_str(), key],
                        )
                        .await?
                        .map(|row| message_from_row(&row, 0, &room)),
                };
                if let Some(existing) = existing {
                    match answer_repeat(&message, existing, now) {
                        Some(answer) => {
                            answers.push(answer);
                            continue;
                        }
                        None => {
                            let release_key = transaction.prepare_cached(RELEASE_KEY).await?;
                            transaction
                                .execute(&release_key, &[&room.as_str(), key])
                                .await?;
                        }
                    }
                }
            }
            let room_last = last_ids.entry(room.as_str().to_owned()).or_default();
            let floor = self.last_id.max(*room_last);
            let id = IdGenerator::starting_after(floor).next(now);
            self.last_id = Some(id);
            *room_last = Some(id);
            let message = message.into_message(id, room, truncate_to_micros(now));
            if let Some(key) = &key {
                batch_keys.insert(
                    (message.room.as_str().to_owned(), key.clone()),
                    stored.len(),
                );
            }
            answers.push(Ok(Appended {
                message: message.clone(),
                replayed: false,
            }));
            stored.push((message, key));
        }

        let commits = commits_of(stored.iter().map(|(message, _)| message), &previous);
        if !stored.is_empty() {
            let mut columns = Columns::default();
            for (message, key) in &stored {
                columns.push_message(message, key.as_deref());
            }
            let (moved_rooms, newest): (Vec<String>, Vec<Uuid>) = commits
                .iter()
                .filter_map(|(room, commit)| {
                    let last = commit.messages.last()?;
                    Some((room.as_str().to_owned(), last.id))
                })
                .unzip();
            let payloads: Vec<String> = moved_rooms
                .iter()
                .zip(&newest)
                .map(|(room, id)| payload(*id, room))
                .collect();
            self.newest.set_in_flight(
                commits
                    .iter()
                    .filter_map(|(room, commit)| Some((room.clone(), commit.messages.last()?.id)))
                    .collect(),
            );
            let (insert_messages, move_last_ids, notify) = try_join3(
                transaction.prepare_cached(INSERT_MESSAGES),
                transaction.prepare_cached(MOVE_LAST_IDS),
                transaction.prepare_cached(NOTIFY),
            )
            .await?;
            // In order on the connection: the insert, the rooms' new last
            // ids, then the notification that fires at commit.
            try_join3(
                transaction.execute(&insert_messages, &columns.params()),
                transaction.execute(&move_last_ids, &[&moved_rooms, &newest]),
                transaction.execute(&notify, &[&CHANNEL, &payloads]),
            )
            .await?;
        }
        transaction.commit().await?;
        Ok((answers, commits))
    }

    /// Commits `submissions` with one call of `chat_append` (one round
    /// trip), ids chosen here above this instance's last id and the newest
    /// id it knows of per room. Hands them back, untouched and unstored, when
    /// the function refuses them or a key repeats within the batch: the
    /// locked path then decides.
    async fn insert_at_once(
        &mut self,
        client: &deadpool_postgres::Client,
        submissions: Submissions,
    ) -> Result<Result<Committed, Submissions>, BoxError> {
        let mut keys = HashSet::new();
        let repeated = submissions.iter().any(|(room, message)| {
            message
                .idempotency_key()
                .is_some_and(|key| !keys.insert((room.as_str(), key.as_str())))
        });
        if repeated {
            return Ok(Err(submissions));
        }
        let mut last_id = self.last_id;
        let mut room_last: HashMap<&RoomName, Option<Uuid>> = HashMap::new();
        let mut stamps = Vec::with_capacity(submissions.len());
        let mut columns = Columns::default();
        for (room, message) in &submissions {
            let now = self.clock.now();
            let known = room_last
                .entry(room)
                .or_insert_with(|| self.newest.get(room));
            let id = IdGenerator::starting_after(last_id.max(*known)).next(now);
            last_id = Some(id);
            *known = Some(id);
            let created_at = truncate_to_micros(now);
            columns.push(
                room.as_str(),
                id,
                created_at,
                message.author(),
                message.body(),
                message.idempotency_key().map(|key| key.as_str()),
            );
            stamps.push((id, created_at));
        }
        self.newest.set_in_flight(
            room_last
                .iter()
                .filter_map(|(room, id)| Some(((*room).clone(), (*id)?)))
                .collect(),
        );
        let append = client.prepare_cached(APPEND_AT_ONCE).await?;
        let [rooms, ids, created_at, authors, bodies, keys] = columns.params();
        let rows = client
            .query(
                &append,
                &[&CHANNEL, rooms, ids, created_at, authors, bodies, keys],
            )
            .await?;
        if rows.is_empty() {
            return Ok(Err(submissions));
        }
        self.last_id = last_id;
        let previous: HashMap<String, Option<Uuid>> =
            rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        let messages: Vec<Message> = submissions
            .into_iter()
            .zip(stamps)
            .map(|((room, message), (id, created_at))| message.into_message(id, room, created_at))
            .collect();
        let commits = commits_of(messages.iter(), &previous);
        let answers = messages
            .into_iter()
            .map(|message| {
                Ok(Appended {
                    message,
                    replayed: false,
                })
            })
            .collect();
        Ok(Ok((answers, commits)))
    }
}

/// What each room got from `messages` (oldest first), given each room's
/// last id before them.
fn commits_of<'a>(
    messages: impl Iterator<Item = &'a Message>,
    previous: &HashMap<String, Option<Uuid>>,
) -> BTreeMap<RoomName, RoomCommit> {
    let mut commits: BTreeMap<RoomName, RoomCommit> = BTreeMap::new();
    for message in messages {
        commits
            .entry(message.room.clone())
            .or_insert_with(|| RoomCommit {
                previous_newest: previous.get(message.room.as_str()).copied().flatten(),
                messages: Vec::new(),
            })
            .messages
            .push(message.clone());
    }
    commits
}

/// One failure, reported to every poster of the batch.
#[derive(Debug, Clone)]
struct Shared(Arc<BoxError>);

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Shared {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// The batch's messages, column by column, for one `unnest` insert.
#[derive(Default)]
struct Columns {
    rooms: Vec<String>,
    ids: Vec<Uuid>,
    created_at: Vec<chrono::DateTime<chrono::Utc>>,
    authors: Vec<Option<Vec<u8>>>,
    bodies: Vec<Vec<u8>>,
    keys: Vec<Option<String>>,
}

/// A statement parameter.
type ParamSql = dyn tokio_postgres::types::ToSql + Sync;

impl Columns {
    /// The columns as statement parameters, in the order `INSERT_MESSAGES`
    /// and `chat_append` take them.
    fn params(&self) -> [&ParamSql; 6] {
        [
            &self.rooms,
            &self.ids,
            &self.created_at,
            &self.authors,
            &self.bodies,
            &self.keys,
        ]
    }

    fn push(
        &mut self,
        room: &str,
        id: Uuid,
        created_at: chrono::DateTime<chrono::Utc>,
        author: Option<&str>,
        body: &str,
        key: Option<&str>,
    ) {
        self.rooms.push(room.to_owned());
        self.ids.push(id);
        self.created_at.push(created_at);
        self.authors
            .push(author.map(|author| author.as_bytes().to_vec()));
        self.bodies.push(body.as_bytes().to_vec());
        self.keys.push(key.map(str::to_owned));
    }

    fn push_message(&mut self, message: &Message, key: Option<&str>) {
        self.push(
            message.room.as_str(),
            message.id,
            message.created_at,
            message.author.as_deref(),
            &message.body,
            key,
        );
    }
}

/// A notification's payload: the room's new newest id, then the room.
pub(super) fn payload(newest: Uuid, room: &str) -> String {
    format!("{newest} {room}")
}

/// The newest id and room of a notification's payload, if it is one of ours.
pub(super) fn parse_payload(payload: &str) -> Option<(Uuid, RoomName)> {
    let (id, room) = payload.split_once(' ')?;
    Some((Uuid::parse_str(id).ok()?, RoomName::parse(room).ok()?))
}
