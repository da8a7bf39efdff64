//! `tail --long-poll`: follow the room with one `GET .../messages?after=`
//! per page, each waiting up to `--poll-timeout` seconds for a message.
//!
//! A request per page, where the stream needs one per connection; kept for
//! proxies that buffer a streamed answer until it ends (which would hold
//! every event back), and for servers without event streams.

use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use super::{Flow, Tail};
use crate::client::{Page, Query};
use crate::client_error::ClientError;
use crate::error::CliError;

/// Prints every message after `cursor`, for ever or until `--count` is
/// reached, each poll waiting up to `wait_secs` seconds.
pub(super) async fn follow(
    tail: &mut Tail<'_>,
    mut cursor: Uuid,
    wait_secs: u64,
) -> Result<(), CliError> {
    loop {
        let query = Query::After {
            cursor,
            limit: tail.page_limit(),
            wait_secs,
        };
        let page = fetch(tail, query, wait_secs).await?;
        if page.truncated {
            tail.truncated(cursor);
        }
        let last = page.messages.last().map(|message| message.id);
        if tail.print_page(&page.messages, last)? == Flow::Done {
            return Ok(());
        }
        if let Some(last) = last {
            cursor = last;
        }
    }
}

/// Reads a page, retrying transient failures for as long as they last;
/// only a permanent error (a 4xx, a malformed answer) is returned.
async fn fetch(tail: &mut Tail<'_>, query: Query, wait_secs: u64) -> Result<Page, ClientError> {
    let client = tail.client;
    let (page, took) = tail
        .retrying(|| async {
            let started = Instant::now();
            let page = client.get(query).await?;
            Ok((page, started.elapsed()))
        })
        .await?;
    // A long poll answers `[]` early only when the server is shutting down
    // (an empty answer in less than half the wait it asked for did not wait
    // out its timeout); polling again at once would spin until it has gone,
    // so wait as after a failure.
    if page.messages.is_empty() && took < Duration::from_secs(wait_secs) / 2 {
        tail.pause(None).await;
    } else {
        tail.recovered();
    }
    Ok(page)
}
