//! The newest id of every room: read from the file at open, recorded by the
//! writer after each commit, and consulted by reads before they touch SQLite.

use std::collections::HashMap;
use std::sync::RwLock;

use rusqlite::{Connection, OptionalExtension};
use uuid::Uuid;

use super::id_column;
use crate::RoomName;

/// The first room after `?1`: walking rooms this way costs one index seek per
/// room instead of a scan of every message.
pub(super) const SELECT_NEXT_ROOM: &str =
    "SELECT room FROM messages WHERE room > ?1 ORDER BY room LIMIT 1";
const SELECT_NEWEST_IN_ROOM: &str = "SELECT max(id) FROM messages WHERE room = ?1";
const SELECT_PRUNED_ROOMS: &str = "SELECT room, pruned_through FROM room_state";

/// The newest id each room ever had (retention may have deleted it since).
/// The writer records each commit here before waking the room's watchers;
/// readers use it to answer "nothing newer" without SQLite, which is what
/// every parked poll and every re-poll asks.
#[derive(Debug)]
pub(super) struct NewestIds(pub(super) RwLock<HashMap<String, Uuid>>);

impl NewestIds {
    /// Records `newest` as `room`'s newest id; returns the previous one.
    pub(super) fn record(&self, room: &RoomName, newest: Uuid) -> Option<Uuid> {
        let mut ids = self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        ids.insert(room.to_string(), newest)
    }

    /// The newest id `room` ever had, if it had any: with it,
    /// [`ReadQuery::selects_nothing_up_to`] answers "nothing newer" without
    /// SQLite (then nothing newer than the cursor was ever deleted either, so
    /// nothing is truncated).
    pub(super) fn get(&self, room: &RoomName) -> Option<Uuid> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(room.as_str())
            .copied()
    }
}

/// The newest id each room holds or ever held (retention may have deleted
/// the newest messages): the generator continues above all of them, and
/// watchers learn what each commit follows.
pub(super) fn newest_ids(connection: &Connection) -> rusqlite::Result<HashMap<String, Uuid>> {
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
pub(super) fn rooms(connection: &Connection) -> rusqlite::Result<Vec<String>> {
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

#[cfg(test)]
mod tests {
    use super::super::tests::new_message;
    use super::super::SqliteStore;
    use super::*;
    use crate::store::conformance::{after, options_with, start_time};
    use crate::store::{ChatStore, Retention};
    use crate::ManualClock;
    use chrono::TimeDelta;
    use std::sync::Arc;
    use std::time::Duration;
    use tempfile::TempDir;

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
        let old = store
            .append(&general, new_message("old"))
            .await
            .unwrap()
            .message;
        clock.advance(TimeDelta::hours(1));
        assert_eq!(store.prune().await.unwrap(), 1);
        drop(store);

        // The table is empty now; only the pruning record remembers `old`.
        clock.set(start_time() - TimeDelta::days(1));
        let store = SqliteStore::open(&path, options_with(&clock, retention))
            .await
            .unwrap();
        let newer = store
            .append(&general, new_message("new"))
            .await
            .unwrap()
            .message;
        assert!(newer.id > old.id);
        let page = store.read(&general, after(Uuid::nil(), 10)).await.unwrap();
        assert!(page.truncated);
        assert_eq!(page.messages, [newer]);
    }
}
