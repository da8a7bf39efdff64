//! The in-memory backend: fast, and gone when the process ends.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use uuid::Uuid;

use super::idempotency::answer_repeat;
use super::{
    AppendError, Appended, ChatStore, Page, ReadQuery, Retention, RoomCommit, RoomWatch,
    StoreError, StoreOptions, Watchers,
};
use crate::id::IdGenerator;
use crate::message::truncate_to_micros;
use crate::{Clock, IdempotencyKey, Message, NewMessage, RoomName};

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
    /// The id of the message each idempotency key was first used for; keys
    /// of deleted messages go with them.
    keys: HashMap<IdempotencyKey, Uuid>,
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
        let truncated = match query {
            ReadQuery::After { cursor, .. } => {
                self.pruned_through.is_some_and(|pruned| cursor < pruned)
            }
            ReadQuery::Before { .. } | ReadQuery::Latest { .. } => false,
        };
        Page {
            messages: self.messages[query.select(&self.messages)].to_vec(),
            truncated,
        }
    }

    /// The message `key` was first used for, while it is still held.
    fn keyed(&self, key: &IdempotencyKey) -> Option<&Message> {
        let id = *self.keys.get(key)?;
        let index = self.messages.binary_search_by_key(&id, |m| m.id).ok()?;
        Some(&self.messages[index])
    }

    /// Deletes the oldest `count` messages.
    fn drop_oldest(&mut self, count: usize) -> u64 {
        if count == 0 {
            return 0;
        }
        let pruned_through = self.messages[count - 1].id;
        self.pruned_through = Some(pruned_through);
        self.keys.retain(|_, id| *id > pruned_through);
        self.messages.drain(..count);
        count as u64
    }
}

#[async_trait]
impl ChatStore for MemoryStore {
    async fn append(&self, room: &RoomName, message: NewMessage) -> Result<Appended, AppendError> {
        let (stored, previous_newest) = {
            let mut state = self.write_state();
            let now = self.clock.now();
            let entry = state.rooms.entry(room.clone()).or_default();
            if let Some(key) = message.idempotency_key() {
                if let Some(existing) = entry.keyed(key) {
                    if let Some(answer) = answer_repeat(&message, existing.clone(), now) {
                        return answer;
                    }
                }
            }
            let id = state.ids.next(now);
            let key = message.idempotency_key().cloned();
            let stored = message.into_message(id, room.clone(), truncate_to_micros(now));
            let entry = state.rooms.entry(room.clone()).or_default();
            let previous_newest = entry.newest_ever();
            entry.messages.push(stored.clone());
            if let Some(key) = key {
                entry.keys.insert(key, id);
            }
            (stored, previous_newest)
        };
        let commit = RoomCommit {
            previous_newest,
            messages: vec![stored.clone()],
        };
        self.watchers.notify(room, commit);
        Ok(Appended {
            message: stored,
            replayed: false,
        })
    }

    async fn read(&self, room: &RoomName, query: ReadQuery) -> Result<Page, StoreError> {
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

    fn wake_all_watches(&self) {
        self.watchers.wake_all();
    }

    async fn prune(&self) -> Result<u64, StoreError> {
        if !self.retention.is_enabled() {
            return Ok(0);
        }
        let oldest_kept = self.retention.oldest_kept(self.clock.now());
        let mut state = self.write_state();
        let mut deleted = 0;
        for room in state.rooms.values_mut() {
            let over_count = self
                .retention
                .per_room
                .map_or(0, |keep| room.messages.len().saturating_sub(keep.get()));
            // Deletion stops at the first young message in id order, never
            // a binary search: `created_at` follows the clock, which may have
            // stepped back, so it need not grow with the ids.
            let too_old = oldest_kept.map_or(0, |oldest| {
                room.messages
                    .iter()
                    .position(|m| m.created_at >= oldest)
                    .unwrap_or(room.messages.len())
            });
            deleted += room.drop_oldest(over_count.max(too_old));
        }
        Ok(deleted)
    }

    async fn check_health(&self) -> Result<(), StoreError> {
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
