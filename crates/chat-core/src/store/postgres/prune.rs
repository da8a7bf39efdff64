//! Retention on a shared database: one instance prunes at a time.
//!
//! Pruning takes a session advisory lock with `pg_try_advisory_lock`; an
//! instance that does not get it deletes nothing this round (another one is
//! pruning). The rules are the other backends': per room, only the oldest
//! messages go, up to a boundary id (the larger of what the count limit and
//! the age limit, by [`Retention::oldest_kept`], remove), in short
//! statements of at most [`PRUNE_BATCH`] deletions, each recording the newest deleted
//! id in `rooms.pruned_through` so that a cursor behind it reads as
//! truncated. Keys go with their messages.

use deadpool_postgres::Client;
use uuid::Uuid;

use super::readers::limit_param;
use crate::store::{Retention, StoreOptions};

/// The advisory-lock key pruning runs under.
const PRUNE_LOCK: i64 = 0x6368_6174_0002;

/// Most messages one pruning transaction deletes.
const PRUNE_BATCH: usize = 500;

const SELECT_ROOMS: &str = "SELECT room FROM rooms ORDER BY room";
const SELECT_OLDEST_KEPT_BY_COUNT: &str =
    "SELECT id FROM messages WHERE room = $1 ORDER BY id DESC OFFSET $2 LIMIT 1";
const SELECT_OLDEST_YOUNG: &str =
    "SELECT id FROM messages WHERE room = $1 AND created_at >= $2 ORDER BY id LIMIT 1";
/// Deletes one batch and records it in one statement, so no reader sees the
/// deletion without the record. (`GREATEST` ignores NULLs; `uuid` has no
/// `max()` before PostgreSQL 18.)
const DELETE_BATCH: &str = "WITH gone AS (DELETE FROM messages WHERE room = $1 AND id IN \
     (SELECT id FROM messages WHERE room = $1 AND id < $2 ORDER BY id LIMIT $3) RETURNING id), \
     recorded AS (UPDATE rooms SET pruned_through = \
     GREATEST(pruned_through, (SELECT id FROM gone ORDER BY id DESC LIMIT 1)) \
     WHERE room = $1 AND EXISTS (SELECT 1 FROM gone) RETURNING 1) \
     SELECT count(*) FROM gone";

/// Deletes what `options.retention` no longer keeps; 0 when another
/// instance holds the pruning lock.
pub(super) async fn prune(
    client: &Client,
    options: &StoreOptions,
) -> Result<u64, tokio_postgres::Error> {
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&PRUNE_LOCK])
        .await?
        .get(0);
    if !locked {
        return Ok(0);
    }
    let deleted = prune_locked(client, options).await;
    // A connection that broke released the lock with its session.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&PRUNE_LOCK])
        .await;
    let deleted = deleted?;
    unlocked?;
    Ok(deleted)
}

async fn prune_locked(
    client: &Client,
    options: &StoreOptions,
) -> Result<u64, tokio_postgres::Error> {
    let oldest_kept = options.retention.oldest_kept(options.clock.now());
    let rooms: Vec<String> = client
        .query(SELECT_ROOMS, &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut deleted = 0;
    for room in rooms {
        let Some(bound) = prune_bound(client, &room, &options.retention, oldest_kept).await? else {
            continue;
        };
        loop {
            let removed: i64 = client
                .query_one(DELETE_BATCH, &[&room, &bound, &limit_param(PRUNE_BATCH)])
                .await?
                .get(0);
            deleted += u64::try_from(removed).unwrap_or(0);
            if removed < limit_param(PRUNE_BATCH) {
                break;
            }
        }
    }
    Ok(deleted)
}

/// The id below which `room`'s messages go, or `None` when all stay.
async fn prune_bound(
    client: &Client,
    room: &str,
    retention: &Retention,
    oldest_kept: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Option<Uuid>, tokio_postgres::Error> {
    let by_count = match retention.per_room {
        Some(keep) => client
            .query_opt(
                SELECT_OLDEST_KEPT_BY_COUNT,
                &[&room, &limit_param(keep.get() - 1)],
            )
            .await?
            .map(|row| row.get::<_, Uuid>(0)),
        None => None,
    };
    let by_age = match oldest_kept {
        // Nothing young: everything goes. A generated id has version 7, so
        // none equals the maximum UUID.
        Some(oldest) => Some(
            client
                .query_opt(SELECT_OLDEST_YOUNG, &[&room, &oldest])
                .await?
                .map_or(Uuid::max(), |row| row.get(0)),
        ),
        None => None,
    };
    Ok(by_count.max(by_age))
}
