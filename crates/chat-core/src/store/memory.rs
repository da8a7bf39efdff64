//! The in-memory backend: fast, and gone when the process ends.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use chrono::TimeDelta;
use uuid::Uuid;

use super::{ChatStore, Page, ReadQuery, Retention, RoomCommit, RoomWatch, StoreOptions, Watchers};
use crate::id::IdGenerator;
use crate::message::truncate_to_micros;
use crate::{ChatError, Clock, Message, NewMessage, RoomName};

/// Keeps every room's messages in a sorted `Vec` behind one lock.
///
/// Ids are assigned under the write lock, so they increase in the order in
/// which messages become visible; readers binary-search by id.
#[derive(Debug)]
pub struct MemoryStore {
    state: RwLock<State>,
    watchers: Watchers,
    retention: Retention,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, Default)]
struct State {
    rooms: HashMap<RoomName, Room>,
    ids: IdGenerator,
}

#[derive(Debug, Default)]
struct Room {
    /// Sorted by id.
    messages: Vec<Message>,
    /// The newest id that retention deleted, if any.
    pruned_through: Option<Uuid>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new(options: StoreOptions) -> Self {
        Self {
            state: RwLock::default(),
            watchers: Watchers::default(),
            retention: options.retention,
            clock: options.clock,
        }
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Room {
    /// The newest id the room ever had: retention deletes oldest first, so
    /// it is the last message's, or the last deleted one's.
    fn newest_ever(&self) -> Option<Uuid> {
        self.messages.last().map(|m| m.id).or(self.pruned_through)
    }

    fn read(&self, query: ReadQuery) -> Page {
        let messages = &self.messages;
        let (range, truncated) = match query {
            ReadQuery::After { cursor, limit } => {
                let start = messages.partition_point(|m| m.id <= cursor);
                let truncated = self.pruned_through.is_some_and(|pruned| cursor < pruned);
                (
                    start..messages.len().min(start.saturating_add(limit)),
                    truncated,
                )
            }
            ReadQuery::Before { cursor, limit } => {
                let end = messages.partition_point(|m| m.id < cursor);
                (end.saturating_sub(limit)..end, false)
            }
            ReadQuery::Latest { limit } => {
                (messages.len().saturating_sub(limit)..messages.len(), false)
            }
        };
        Page {
            messages: messages[range].to_vec(),
            truncated,
        }
    }

    /// Deletes the oldest `count` messages.
    fn drop_oldest(&mut self, count: usize) -> u64 {
        if count == 0 {
            return 0;
        }
        self.pruned_through = Some(self.messages[count - 1].id);
        self.messages.drain(..count);
        count as u64
    }
}

#[async_trait]
impl ChatStore for MemoryStore {
    async fn append(&self, room: &RoomName, message: NewMessage) -> Result<Message, ChatError> {
        let (stored, previous_newest) = {
            let mut state = self.write_state();
            let now = self.clock.now();
            let id = state.ids.next(now);
            let stored = message.into_message(id, room.clone(), truncate_to_micros(now));
            let room = state.rooms.entry(room.clone()).or_default();
            let previous_newest = room.newest_ever();
            room.messages.push(stored.clone());
            (stored, previous_newest)
        };
        let commit = RoomCommit {
            previous_newest,
            messages: vec![stored.clone()],
        };
        self.watchers.notify(room, commit);
        Ok(stored)
    }

    async fn read(&self, room: &RoomName, query: ReadQuery) -> Result<Page, ChatError> {
        Ok(self
            .read_state()
            .rooms
            .get(room)
            .map(|room| room.read(query))
            .unwrap_or_default())
    }

    fn watch(&self, room: &RoomName) -> RoomWatch {
        self.watchers.subscribe(room)
    }

    async fn prune(&self) -> Result<u64, ChatError> {
        if !self.retention.is_enabled() {
            return Ok(0);
        }
        let oldest_kept = self
            .retention
            .max_age
            .and_then(|age| TimeDelta::from_std(age).ok())
            .map(|age| self.clock.now() - age);
        let mut state = self.write_state();
        let mut deleted = 0;
        for room in state.rooms.values_mut() {
            let over_count = self
                .retention
                .per_room
                .map_or(0, |keep| room.messages.len().saturating_sub(keep.get()));
            let too_old = oldest_kept.map_or(0, |oldest| {
                room.messages.partition_point(|m| m.created_at < oldest)
            });
            deleted += room.drop_oldest(over_count.max(too_old));
        }
        Ok(deleted)
    }

    async fn check_health(&self) -> Result<(), ChatError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::conformance::{conformance_suite, Fixture};
    use super::*;

    async fn fixture(options: StoreOptions) -> Fixture {
        Fixture::new(Arc::new(MemoryStore::new(options)), ())
    }

    conformance_suite!(fixture);
}
