//! The tables, and their versioned migrations.
//!
//! # Schema
//!
//! `messages(room, id, created_at, author, body, idempotency_key)` with the
//! primary key `(room, id)`: "newer than a cursor in room R" and "newest N
//! of room R" are index range scans. PostgreSQL compares `uuid` values byte
//! by byte, which is the unsigned 128-bit order the contract compares ids
//! by. Bodies and authors are UTF-8 bytes (`bytea`): `text` cannot hold
//! the NUL character, which a message may contain. `rooms(room, last_id, pruned_through)` holds each room's newest id
//! ever (locked by every append, it orders the room's commits) and the
//! newest id retention deleted (so a cursor that fell behind reads as
//! truncated). Idempotency keys are unique per room among the messages that
//! hold one (a partial unique index).
//!
//! The [`MIGRATIONS`] compiled into the binary create and upgrade it;
//! `chat_schema.version` says how many a database has had. Migrating runs in
//! one transaction under a transaction-level advisory lock, so instances
//! starting together take turns; a database from a newer chat-server is
//! refused instead of being misread.

use deadpool_postgres::Client;

use crate::store::OpenError;

/// The advisory-lock key migrations run under (any constant of our own).
const MIGRATION_LOCK: i64 = 0x6368_6174_0001;

/// The schema, one step per entry: entry `n` (counting from 1) takes a
/// database from version `n - 1` to `n`. Entries that have shipped never
/// change; a new schema is a new entry.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: messages with idempotency keys, and the per-room ordering row.
    "CREATE TABLE messages (
         room text NOT NULL,
         id uuid NOT NULL,
         created_at timestamptz NOT NULL,
         author bytea,
         body bytea NOT NULL,
         idempotency_key text,
         PRIMARY KEY (room, id)
     );
     CREATE UNIQUE INDEX messages_room_key ON messages (room, idempotency_key)
         WHERE idempotency_key IS NOT NULL;
     CREATE TABLE rooms (
         room text PRIMARY KEY,
         last_id uuid,
         pruned_through uuid
     );",
    // 2: a whole append in one statement (one round trip, its own
    // transaction). It stores nothing and returns no row when the locked path
    // must decide: an id not above its room's last id (another instance
    // committed since this one last heard of the room), or a key a message
    // of the room already holds (a repeat, or an expired key to release).
    // Otherwise it does what the locked path does, and returns each room's
    // last id from before the append.
    "CREATE FUNCTION chat_append(
         channel text, rooms_in text[], ids uuid[], created timestamptz[],
         authors bytea[], bodies bytea[], keys text[]
     ) RETURNS TABLE (appended_room text, previous_id uuid)
     LANGUAGE plpgsql AS $fn$
     DECLARE
         locked_rooms text[];
         previous_ids uuid[];
     BEGIN
         INSERT INTO rooms (room)
             SELECT DISTINCT r FROM unnest(rooms_in) AS r ORDER BY 1
             ON CONFLICT DO NOTHING;
         SELECT array_agg(l.room ORDER BY l.room), array_agg(l.last_id ORDER BY l.room)
             INTO locked_rooms, previous_ids
             FROM (SELECT r.room, r.last_id FROM rooms r
                   WHERE r.room = ANY (rooms_in) ORDER BY r.room FOR UPDATE) AS l;
         IF EXISTS (SELECT 1 FROM unnest(rooms_in, ids) AS n (room, id)
                    JOIN rooms r ON r.room = n.room WHERE r.last_id >= n.id)
            OR EXISTS (SELECT 1 FROM unnest(rooms_in, keys) AS n (room, key)
                       JOIN messages m ON m.room = n.room AND m.idempotency_key = n.key)
         THEN
             RETURN;
         END IF;
         INSERT INTO messages (room, id, created_at, author, body, idempotency_key)
             SELECT * FROM unnest(rooms_in, ids, created, authors, bodies, keys);
         UPDATE rooms SET last_id = v.id
             FROM (SELECT DISTINCT ON (n.room) n.room, n.id FROM unnest(rooms_in, ids) AS n (room, id)
                   ORDER BY n.room, n.id DESC) AS v
             WHERE rooms.room = v.room;
         PERFORM pg_notify(channel, v.id::text || ' ' || v.room)
             FROM (SELECT DISTINCT ON (n.room) n.room, n.id FROM unnest(rooms_in, ids) AS n (room, id)
                   ORDER BY n.room, n.id DESC) AS v;
         RETURN QUERY SELECT * FROM unnest(locked_rooms, previous_ids);
     END
     $fn$;",
    // 3: `chat_append` keeps one generic plan per statement. Its statements
    // take arrays, whose length PostgreSQL reads off each call's values, so
    // every call's custom plan looked cheaper than the generic one and was
    // planned afresh: about a fifth of a lone append's time in the database
    // after an idle gap (pgbench, one client, 20 ms between appends:
    // 1.52-1.63 ms per call before, 1.32-1.42 ms after).
    "ALTER FUNCTION chat_append(text, text[], uuid[], timestamptz[], bytea[], bytea[], text[])
         SET plan_cache_mode = force_generic_plan;",
];

/// Brings the schema up to date: all of it or none.
pub(super) async fn migrate(client: &mut Client) -> Result<(), OpenError> {
    let failed = |error| OpenError::failed("cannot create or upgrade the schema", error);
    let transaction = client.transaction().await.map_err(failed)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(failed)?;
    transaction
        .batch_execute("CREATE TABLE IF NOT EXISTS chat_schema (version integer NOT NULL)")
        .await
        .map_err(failed)?;
    let found: i32 = transaction
        .query_one("SELECT coalesce(max(version), 0) FROM chat_schema", &[])
        .await
        .map_err(failed)?
        .get(0);
    let known = MIGRATIONS.len();
    let applied = match usize::try_from(found) {
        Ok(applied) if applied <= known => applied,
        _ => {
            return Err(OpenError::Failed {
                reason: format!(
                    "database schema version {found} is newer than this chat-server \
                     supports ({known}); upgrade chat-server"
                ),
                source: None,
            })
        }
    };
    if applied == known {
        return Ok(());
    }
    for migration in &MIGRATIONS[applied..] {
        transaction.batch_execute(migration).await.map_err(failed)?;
    }
    let version = i32::try_from(known).expect("few migrations");
    transaction
        .execute("DELETE FROM chat_schema", &[])
        .await
        .map_err(failed)?;
    transaction
        .execute("INSERT INTO chat_schema (version) VALUES ($1)", &[&version])
        .await
        .map_err(failed)?;
    transaction.commit().await.map_err(failed)
}

/// The version this build migrates to, for tests that fake a newer one.
#[cfg(test)]
pub(super) fn known_version() -> usize {
    MIGRATIONS.len()
}
