//! Retention in the writer thread, one short step at a time.
//!
//! # Pruning never holds posts up for long
//!
//! A pass deletes what retention no longer keeps (the same rules as
//! `MemoryStore::prune`), room by room. It runs in steps: one step looks at a
//! few rooms ([`ROOMS_PER_STEP`]) or deletes one batch of one room
//! ([`PRUNE_BATCH`] messages, one transaction), and the writer serves every
//! request waiting before each step, so a post waits for one step at most,
//! between rooms as well as within one. Rooms are walked by an index seek
//! from the last one, never listed all at once.
//!
//! Retention by count looks only at rooms written to since the previous pass
//! ([`WrittenRooms`]; every room on the first pass after opening): a room
//! nobody wrote to cannot have grown past the limit. Its check still reads up
//! to `keep` index entries, but only for rooms that changed.
//!
//! Only ever the oldest messages of a room go, up to a boundary id, so
//! "everything up to `pruned_through` is gone" stays true even when the
//! clock stepped back and `created_at` is not in id order.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::newest::SELECT_NEXT_ROOM;
use super::writer::Writer;
use super::{count_param, id_column, unavailable};
use crate::store::StoreError;
use crate::RoomName;

/// Most messages one pruning transaction deletes, so that posts queued behind
/// a large deletion wait for one short transaction, not the whole job.
const PRUNE_BATCH: usize = 500;
/// Most rooms one step looks at.
const ROOMS_PER_STEP: usize = 32;

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

/// The rooms written to since the last pass, which retention by count must
/// look at; all of them until a first pass has looked at every room.
#[derive(Debug)]
pub(super) struct WrittenRooms {
    every_room: bool,
    rooms: BTreeSet<String>,
}

impl Default for WrittenRooms {
    fn default() -> Self {
        Self {
            every_room: true,
            rooms: BTreeSet::new(),
        }
    }
}

impl WrittenRooms {
    pub(super) fn insert(&mut self, room: &RoomName) {
        if !self.every_room && !self.rooms.contains(room.as_str()) {
            self.rooms.insert(room.to_string());
        }
    }
}

/// Which rooms a pass visits.
#[derive(Debug)]
enum Visit {
    /// Every room, after `last` in name order.
    Every { last: String },
    /// These rooms only (retention by count alone).
    Only(Vec<String>),
}

/// A retention pass under way.
#[derive(Debug)]
pub(super) struct PrunePass {
    reply: oneshot::Sender<Result<u64, StoreError>>,
    /// Messages created at or after this (microseconds) are young; `None`
    /// without an age limit.
    young_from: Option<i64>,
    visit: Visit,
    /// Rooms whose count must be checked; `None`: every room's.
    count_rooms: Option<BTreeSet<String>>,
    /// The room being deleted from, and its bound.
    deleting: Option<(String, Uuid)>,
    deleted: u64,
}

impl Writer {
    /// Starts a pass that answers `reply` when it is done.
    pub(super) fn start_pass(&mut self, reply: oneshot::Sender<Result<u64, StoreError>>) {
        if !self.retention.is_enabled() {
            let _ = reply.send(Ok(0));
            return;
        }
        let young_from = self
            .retention
            .oldest_kept(self.clock.now())
            .map(micros_rounded_up);
        let written = std::mem::replace(
            &mut self.written,
            WrittenRooms {
                every_room: false,
                rooms: BTreeSet::new(),
            },
        );
        let count_rooms = (!written.every_room).then_some(written.rooms);
        let visit = match (&count_rooms, young_from) {
            (Some(rooms), None) => Visit::Only(rooms.iter().rev().cloned().collect()),
            _ => Visit::Every {
                // The empty string sorts before every valid room name.
                last: String::new(),
            },
        };
        self.pass = Some(PrunePass {
            reply,
            young_from,
            visit,
            count_rooms,
            deleting: None,
            deleted: 0,
        });
    }

    /// Runs one step of the pass under way; answers it once it is done.
    pub(super) fn prune_step(&mut self) {
        let Some(mut pass) = self.pass.take() else {
            return;
        };
        self.activity.begin();
        let step = self.step(&mut pass);
        self.activity.end();
        match step {
            Ok(false) => self.pass = Some(pass),
            // A caller that stopped waiting needs no answer.
            Ok(true) => {
                let _ = pass.reply.send(Ok(pass.deleted));
            }
            Err(error) => {
                // The rooms this pass was to look at are not known any more.
                self.written.every_room = true;
                let _ = pass.reply.send(Err(unavailable(error)));
            }
        }
    }

    /// One batch of deletions, or a look at a few rooms; true once the pass
    /// is done.
    fn step(&mut self, pass: &mut PrunePass) -> rusqlite::Result<bool> {
        if let Some((room, bound)) = &pass.deleting {
            let removed = self.prune_batch(room, *bound)?;
            pass.deleted += removed as u64;
            if removed < PRUNE_BATCH {
                pass.deleting = None;
            }
            return Ok(false);
        }
        for _ in 0..ROOMS_PER_STEP {
            let room = match &mut pass.visit {
                Visit::Only(rooms) => rooms.pop(),
                Visit::Every { last } => {
                    let next = self
                        .connection
                        .prepare_cached(SELECT_NEXT_ROOM)?
                        .query_row([&*last], |row| row.get::<_, String>(0))
                        .optional()?;
                    if let Some(room) = &next {
                        last.clone_from(room);
                    }
                    next
                }
            };
            let Some(room) = room else {
                return Ok(true);
            };
            let check_count = pass
                .count_rooms
                .as_ref()
                .is_none_or(|rooms| rooms.contains(&room));
            if let Some(bound) = self.prune_bound(&room, pass.young_from, check_count)? {
                pass.deleting = Some((room, bound));
                return Ok(false);
            }
        }
        Ok(false)
    }

    /// The id below which `room`'s messages go, or `None` when all stay.
    /// Messages created at or after `young_from` (microseconds) are young;
    /// the count is only checked when `check_count`.
    fn prune_bound(
        &self,
        room: &str,
        young_from: Option<i64>,
        check_count: bool,
    ) -> rusqlite::Result<Option<Uuid>> {
        let by_count = match self.retention.per_room.filter(|_| check_count) {
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
        self.wrote_since_checkpoint = true;
        Ok(deleted)
    }
}

/// `time` in whole microseconds, rounded up: stored times are whole
/// microseconds, and for those `created_at < time` is the same as
/// `created_at < time rounded up`.
fn micros_rounded_up(time: DateTime<Utc>) -> i64 {
    let has_nanos = time.timestamp_subsec_nanos() % 1_000 != 0;
    time.timestamp_micros() + i64::from(has_nanos)
}

#[cfg(test)]
mod tests {
    use super::super::tests::new_message;
    use super::super::SqliteStore;
    use super::*;
    use crate::store::conformance::start_time;
    use crate::store::{ChatStore, ReadQuery, Retention, StoreOptions};
    use crate::Message;
    use chrono::TimeDelta;
    use futures_util::future::join_all;
    use std::num::NonZeroUsize;
    use tempfile::TempDir;

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
            .map(|result| result.unwrap().message)
            .collect();
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

    #[test]
    fn micros_round_up_only_when_there_are_leftover_nanoseconds() {
        let whole = start_time();
        assert_eq!(micros_rounded_up(whole), whole.timestamp_micros());
        let partial = whole + TimeDelta::nanoseconds(1);
        assert_eq!(micros_rounded_up(partial), whole.timestamp_micros() + 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_post_during_a_long_pass_does_not_wait_for_the_pass() {
        const ROOMS: usize = 10_000;
        let dir = TempDir::new().unwrap();
        let options = StoreOptions {
            retention: Retention {
                per_room: NonZeroUsize::new(10),
                max_age: None,
            },
            ..StoreOptions::default()
        };
        let store = std::sync::Arc::new(
            SqliteStore::open(dir.path().join("chat.db"), options)
                .await
                .unwrap(),
        );
        let rooms: Vec<RoomName> = (0..ROOMS)
            .map(|n| RoomName::parse(&format!("room-{n}")).unwrap())
            .collect();
        for chunk in rooms.chunks(2_000) {
            let appends = chunk
                .iter()
                .map(|room| store.append(room, new_message("x")));
            for result in join_all(appends).await {
                result.unwrap();
            }
        }
        let prune = tokio::spawn({
            let store = std::sync::Arc::clone(&store);
            async move { store.prune().await.unwrap() }
        });
        // Wait until the pass is under way, then post.
        while store.activity.busy_for().is_none() && !prune.is_finished() {
            tokio::task::yield_now().await;
        }
        store
            .append(&RoomName::general(), new_message("during"))
            .await
            .unwrap();
        assert!(
            !prune.is_finished(),
            "the post waited for the whole pass over {ROOMS} rooms"
        );
        assert_eq!(prune.await.unwrap(), 0);
    }

    /// POST latency while a retention pass walks 100,000 rooms; run with
    /// `cargo test -p chat-core --all-features --release prune_latency -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement, not a check: prints figures"]
    async fn prune_latency_over_100k_rooms() {
        use crate::store::{ChatStore, Retention, StoreOptions};
        use crate::{NewMessage, RoomName};
        use futures_util::future::join_all;
        use std::num::NonZeroUsize;
        use std::sync::Arc;
        use std::time::{Duration, Instant};
        const ROOMS: usize = 100_000;
        let dir = tempfile::TempDir::new().unwrap();
        let options = StoreOptions {
            retention: Retention {
                per_room: NonZeroUsize::new(10),
                max_age: None,
            },
            ..StoreOptions::default()
        };
        let store = Arc::new(
            super::super::SqliteStore::open(dir.path().join("chat.db"), options)
                .await
                .unwrap(),
        );
        let message = || NewMessage::new("hello".to_owned(), None).unwrap();
        let rooms: Vec<RoomName> = (0..ROOMS)
            .map(|n| RoomName::parse(&format!("room-{n}")).unwrap())
            .collect();
        for chunk in rooms.chunks(2_000) {
            for result in join_all(chunk.iter().map(|room| store.append(room, message()))).await {
                result.unwrap();
            }
        }
        let general = RoomName::general();
        for _ in 0..12 {
            store.append(&general, message()).await.unwrap();
        }
        let started = Instant::now();
        let prune = tokio::spawn({
            let store = Arc::clone(&store);
            async move { store.prune().await.unwrap() }
        });
        let mut latencies = Vec::new();
        while !prune.is_finished() {
            let post = Instant::now();
            let _ = store.append(&general, message()).await;
            latencies.push(post.elapsed());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let pass = started.elapsed();
        prune.await.unwrap();
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        println!(
            "prune pass over {ROOMS} rooms: {pass:?}; {} posts during it: p50 {:?}, p99 {:?}, max {:?}",
            latencies.len(),
            at(0.5),
            at(0.99),
            latencies.last().unwrap()
        );
    }
}
