//! The pool of read-only connections, and the reads they run.
//!
//! # Reads
//!
//! Reads run on tokio's blocking threads (never on an async worker), on a
//! small pool of read-only connections; under WAL they never wait for the
//! writer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Params, Row};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::{count_param, id_column, unavailable, BUSY_TIMEOUT};
use crate::store::StoreError;
use crate::store::{Page, ReadQuery};
use crate::{Message, RoomName};

/// Read connections, and so reads running at once: more would only compete
/// for the machine's few cores.
const READERS: usize = 4;
/// How long a health read that succeeded answers later health checks. A
/// burst of them (a load balancer's, or one per new connection) then does
/// not queue on the pool, holding each request, and whatever its client
/// sent behind it, while it waits.
const CHECK_REUSE: Duration = Duration::from_secs(1);

const SELECT_AFTER: &str = "SELECT id, created_at, author, body FROM messages \
     WHERE room = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
const SELECT_BEFORE: &str = "SELECT id, created_at, author, body FROM messages \
     WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";
const SELECT_LATEST: &str = "SELECT id, created_at, author, body FROM messages \
     WHERE room = ?1 ORDER BY id DESC LIMIT ?2";
const SELECT_PRUNED_THROUGH: &str = "SELECT pruned_through FROM room_state WHERE room = ?1";

/// Read-only connections, each used by one blocking task at a time.
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection: reads beyond [`READERS`] wait here, on the
    /// async side, instead of occupying blocking threads.
    permits: Arc<Semaphore>,
    /// When the last health read succeeded.
    checked: LastSuccess,
}

impl Readers {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::with_capacity(READERS)),
            permits: Arc::new(Semaphore::new(READERS)),
            checked: LastSuccess::default(),
        }
    }

    /// Checks that the file can be read: by a read, or by one that succeeded
    /// less than [`CHECK_REUSE`] ago. A failure is never reused, so a store
    /// that recovers is healthy at its next check.
    pub(super) async fn check(self: &Arc<Self>) -> Result<(), StoreError> {
        if self.checked.within(Instant::now(), CHECK_REUSE) {
            return Ok(());
        }
        self.run(|connection| check_readable(connection)).await?;
        self.checked.record(Instant::now());
        Ok(())
    }

    /// Runs `work` on a read connection on a blocking thread.
    pub(super) async fn run<T, F>(self: &Arc<Self>, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            readers.with_connection(work).map_err(unavailable)
        })
        .await
        .map_err(unavailable)?
    }

    /// Runs `work` on an idle connection, or on a new one when none is idle.
    pub(super) fn with_connection<T>(
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

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    Ok(connection)
}

/// When something last succeeded.
#[derive(Debug, Default)]
struct LastSuccess(Mutex<Option<Instant>>);

impl LastSuccess {
    /// True when it succeeded less than `reuse` before `now`.
    fn within(&self, now: Instant, reuse: Duration) -> bool {
        self.lock()
            .is_some_and(|at| now.saturating_duration_since(at) < reuse)
    }

    fn record(&self, now: Instant) {
        *self.lock() = Some(now);
    }

    fn lock(&self) -> MutexGuard<'_, Option<Instant>> {
        // One instant: always consistent.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A trivial query that still has to read the file.
pub(super) fn check_readable(connection: &Connection) -> rusqlite::Result<()> {
    connection
        .query_row("SELECT 1 FROM messages LIMIT 1", [], |_| Ok(()))
        .optional()
        .map(drop)
}

pub(super) fn read_page(
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
pub(super) fn message_from_row(row: &Row<'_>, room: &RoomName) -> rusqlite::Result<Message> {
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_success_stands_for_the_reuse_window_only() {
        let last = super::LastSuccess::default();
        let now = std::time::Instant::now();
        let second = std::time::Duration::from_secs(1);
        assert!(!last.within(now, second), "nothing succeeded yet");
        last.record(now);
        assert!(last.within(now + second / 2, second));
        assert!(!last.within(now + second, second));
    }

    use super::super::newest::SELECT_NEXT_ROOM;
    use super::super::schema::migrate;
    use super::*;

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
}
