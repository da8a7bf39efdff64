//! Reads: one statement per page, so the messages and the room's pruning
//! record come from one snapshot even if a prune commits meanwhile.

use deadpool_postgres::Client;
use tokio_postgres::{Row, Statement};
use uuid::Uuid;

use crate::store::{Page, ReadQuery};
use crate::{Message, RoomName};

/// `$1` room; the room's `pruned_through`, then the page's rows (or one row
/// of NULLs when there are none) from the subquery `{page}`.
macro_rules! with_pruned_through {
    ($page:literal) => {
        concat!(
            "SELECT (SELECT pruned_through FROM rooms WHERE room = $1), \
             p.id, p.created_at, p.author, p.body \
             FROM (VALUES (1)) AS one LEFT JOIN LATERAL (",
            $page,
            ") AS p ON true"
        )
    };
}

const SELECT_AFTER: &str = with_pruned_through!(
    "SELECT id, created_at, author, body FROM messages \
     WHERE room = $1 AND id > $2 ORDER BY id LIMIT $3"
);
const SELECT_BEFORE: &str = "SELECT id, created_at, author, body FROM messages \
     WHERE room = $1 AND id < $2 ORDER BY id DESC LIMIT $3";
const SELECT_LATEST: &str = "SELECT id, created_at, author, body FROM messages \
     WHERE room = $1 ORDER BY id DESC LIMIT $2";

/// Prepares the statement [`read_after`] runs, on a connection outside the
/// pool (the pool's connections cache it themselves).
pub(super) async fn prepare_read_after(
    client: &tokio_postgres::Client,
) -> Result<Statement, tokio_postgres::Error> {
    client.prepare(SELECT_AFTER).await
}

/// The messages of `room` after `cursor`, at most `limit`, with `statement`
/// prepared from [`SELECT_AFTER`] on `client`'s connection.
pub(super) async fn read_after(
    client: &tokio_postgres::Client,
    statement: &Statement,
    room: &RoomName,
    cursor: Uuid,
    limit: usize,
) -> Result<Page, tokio_postgres::Error> {
    let rows = client
        .query(statement, &[&room.as_str(), &cursor, &limit_param(limit)])
        .await?;
    let pruned_through: Option<Uuid> = rows.first().and_then(|row| row.get(0));
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.get::<_, Option<Uuid>>(1).is_some() {
            messages.push(message_from_row(row, 1, room));
        }
    }
    Ok(Page {
        messages,
        truncated: pruned_through.is_some_and(|pruned| cursor < pruned),
    })
}

/// The page `query` selects in `room`.
pub(super) async fn read_page(
    client: &Client,
    room: &RoomName,
    query: ReadQuery,
) -> Result<Page, tokio_postgres::Error> {
    let name = room.as_str();
    match query {
        ReadQuery::After { cursor, limit } => {
            let statement = client.prepare_cached(SELECT_AFTER).await?;
            read_after(client, &statement, room, cursor, limit).await
        }
        ReadQuery::Before { cursor, limit } => {
            let statement = client.prepare_cached(SELECT_BEFORE).await?;
            let rows = client
                .query(&statement, &[&name, &cursor, &limit_param(limit)])
                .await?;
            Ok(oldest_first(&rows, room))
        }
        ReadQuery::Latest { limit } => {
            let statement = client.prepare_cached(SELECT_LATEST).await?;
            let rows = client
                .query(&statement, &[&name, &limit_param(limit)])
                .await?;
            Ok(oldest_first(&rows, room))
        }
    }
}

/// A page from rows read newest first, turned the contract's way round.
fn oldest_first(rows: &[Row], room: &RoomName) -> Page {
    Page {
        messages: rows
            .iter()
            .rev()
            .map(|row| message_from_row(row, 0, room))
            .collect(),
        truncated: false,
    }
}

/// The message in columns `first..first + 4` (id, created_at, author, body).
pub(super) fn message_from_row(row: &Row, first: usize, room: &RoomName) -> Message {
    Message {
        id: row.get(first),
        room: room.clone(),
        created_at: row.get(first + 1),
        author: row.get::<_, Option<Vec<u8>>>(first + 2).map(text),
        body: text(row.get(first + 3)),
    }
}

/// Stored UTF-8 bytes as text; only chat-server writes them, from strings.
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

/// A limit as PostgreSQL's `bigint`; no real limit reaches `i64::MAX`.
pub(super) fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
