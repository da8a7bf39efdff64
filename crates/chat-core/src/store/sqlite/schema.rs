//! The file: its schema and migrations, and the write connection's settings.
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

use std::path::Path;

use rusqlite::{Connection, OpenFlags, TransactionBehavior, MAIN_DB};

use super::{count_param, open_error, open_failed, read_only, BUSY_TIMEOUT};
use crate::store::OpenError;

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
    // 2: idempotency keys, unique per room among the messages that hold one.
    "ALTER TABLE messages ADD COLUMN idempotency_key TEXT;
     CREATE UNIQUE INDEX messages_room_key ON messages (room, idempotency_key)
         WHERE idempotency_key IS NOT NULL;",
];

/// The size, in bytes, the write-ahead log is cut back to once it restarts
/// after a burst (SQLite's `journal_size_limit`).
pub(super) const JOURNAL_SIZE_LIMIT: i64 = 4 << 20;

/// Opens the write connection: WAL, synchronous=FULL, a bounded log, and a
/// check of the header and schema, so a file that is not a database or has a
/// damaged schema is refused at start-up.
pub(super) fn open_writer(path: &Path) -> Result<Connection, OpenError> {
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
    // After a burst, the log is cut back to this size when it restarts.
    connection
        .pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)
        .map_err(failed)?;
    // A start-up check whose cost does not grow with the file: the header
    // (read above) and the schema must be readable. A full `quick_check`
    // reads every page, minutes for a large file on every restart; damage
    // in the messages shows when they are read, as 503 and in the log.
    connection
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| {
            row.get::<_, i64>(0)
        })
        .map_err(failed)?;
    Ok(connection)
}

/// Brings the schema up to date in one transaction: all of it or none.
pub(super) fn migrate(connection: &mut Connection, path: &Path) -> Result<(), OpenError> {
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

#[cfg(test)]
mod tests {
    use super::super::tests::open_error_reason;
    use super::*;
    use tempfile::TempDir;

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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_shrinks_once_the_writer_is_idle_after_a_burst() {
        use super::super::tests::new_message;
        use super::super::SqliteStore;
        use crate::store::{ChatStore, StoreOptions};
        use crate::RoomName;
        use futures_util::future::join_all;
        use std::time::{Duration, Instant};

        let dir = TempDir::new().unwrap();
        let path = dir.path().join("chat.db");
        let store = SqliteStore::open(&path, StoreOptions::default())
            .await
            .unwrap();
        let general = RoomName::general();
        let body = "x".repeat(2_000);
        let appends = (0..4_000).map(|_| store.append(&general, new_message(&body)));
        for result in join_all(appends).await {
            result.unwrap();
        }
        let wal = dir.path().join("chat.db-wal");
        let wal_size = || std::fs::metadata(&wal).map_or(0, |meta| meta.len());
        assert!(wal_size() > 2 << 20, "the burst grew the log");
        let deadline = Instant::now() + Duration::from_secs(10);
        while wal_size() > 0 {
            assert!(
                Instant::now() < deadline,
                "the log still holds {} bytes",
                wal_size()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(store);
    }
}
