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

/// Opens the write connection: WAL, synchronous=FULL, and a quick integrity
/// check, so a damaged file is refused at start-up.
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
}
