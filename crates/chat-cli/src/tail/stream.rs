//! `tail` over the room's event stream (`GET .../events`): one request per
//! connection, each message pushed the moment it is stored.
//!
//! The first connection starts with `after=<cursor>`; every later one with
//! `Last-Event-ID: <id of the last message printed>` (the cursor, as long as
//! nothing has been printed), so a reconnection after a dropped connection,
//! a server restart or an outage resumes exactly after the last message
//! printed. Each reconnection waits as [`Tail::pause`] says: the backoff,
//! but no less than the server's `retry`.

use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{Flow, Tail, PAGE_LIMIT};
use crate::client::StreamStart;
use crate::client_error::ClientError;
use crate::error::CliError;
use crate::event_stream::Delivery;

/// How long a stream must have stayed open for its end, or its breaking,
/// to count as a new event rather than part of an outage: the server's
/// ping interval, so the stream was known to work.
const HEALTHY: Duration = Duration::from_secs(15);

/// Prints every message after `cursor`, for ever or until `--count` is
/// reached.
///
/// A stream is known to work once it has delivered a message or the
/// `truncated` signal, or stayed open for [`HEALTHY`] without going silent
/// (pings arrive every 15 s; a stream that sends nothing at all for 45 s is
/// [`ClientError::Silent`]); only then does the outage it ended count as
/// over (its warning printed again next time, the backoff back to its
/// shortest wait). A server `retry` alone proves nothing: a server that
/// opens streams and drops them at once is still failing, and is reported
/// once and retried with a growing wait.
pub(super) async fn follow(tail: &mut Tail<'_>, mut cursor: Uuid) -> Result<(), CliError> {
    let client = tail.client;
    let mut start = StreamStart::After(cursor);
    loop {
        let mut stream = tail.retrying(|| client.events(start)).await?;
        let opened = Instant::now();
        let mut delivered = false;
        let failure = loop {
            match stream.next().await {
                Ok(Some(deliveries)) => {
                    delivered |= deliveries.iter().any(proves_the_stream);
                    if deliver(tail, deliveries, &mut cursor)? == Flow::Done {
                        return Ok(());
                    }
                }
                // The server ended the stream (it is shutting down, or a
                // proxy cut a long answer short): a new one resumes after
                // the last message printed.
                Ok(None) => break None,
                Err(error) if error.is_transient() => break Some(error),
                Err(error) => return Err(error.into()),
            }
        };
        // A stream that went silent (not even a ping) proved nothing,
        // however long it was open: a proxy holding back its body.
        let silent = matches!(failure, Some(ClientError::Silent { .. }));
        let worked = delivered || (opened.elapsed() >= HEALTHY && !silent);
        if worked {
            tail.recovered();
        }
        match failure {
            Some(error) => tail.failed(&error).await,
            None if worked => tail.pause(None).await,
            None => {
                let error = ClientError::EndedEarly {
                    url: stream.url().clone(),
                };
                tail.failed(&error).await;
            }
        }
        start = StreamStart::LastEventId(cursor);
    }
}

/// Whether `delivery` shows that the stream works: anything but the
/// server's `retry`, which it sends before it knows whether it can serve.
fn proves_the_stream(delivery: &Delivery) -> bool {
    !matches!(delivery, Delivery::Retry(_))
}

/// Handles what arrived together, in order: the messages are printed in
/// pages of at most [`PAGE_LIMIT`], each followed by one save of the
/// cursor, which moves to the last message printed.
fn deliver(
    tail: &mut Tail<'_>,
    deliveries: Vec<Delivery>,
    cursor: &mut Uuid,
) -> Result<Flow, CliError> {
    let mut messages = Vec::new();
    for delivery in deliveries {
        match delivery {
            Delivery::Message(message) => messages.push(message),
            Delivery::Truncated => {
                // Whatever came before the signal is printed first.
                if print(tail, &std::mem::take(&mut messages), cursor)? == Flow::Done {
                    return Ok(Flow::Done);
                }
                tail.truncated(*cursor);
            }
            Delivery::Retry(wait) => tail.reconnect_delay = wait,
        }
    }
    print(tail, &messages, cursor)
}

/// Prints `messages` page by page, moving `cursor` past each page printed.
fn print(
    tail: &mut Tail<'_>,
    messages: &[chat_core::Message],
    cursor: &mut Uuid,
) -> Result<Flow, CliError> {
    for page in messages.chunks(PAGE_LIMIT.into()) {
        let last = page.last().map(|message| message.id);
        if tail.print_page(page, last)? == Flow::Done {
            return Ok(Flow::Done);
        }
        if let Some(last) = last {
            *cursor = last;
        }
    }
    Ok(Flow::Continue)
}
