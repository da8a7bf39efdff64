//! `chat-cli tail`: print recent messages, then follow the room for ever by
//! long-polling with `after=<id of the last message printed>`.
//!
//! That cursor is the whole state: it only moves once a message is printed,
//! so after any failure (a network error, a server restart, a 5xx) the next
//! poll asks again from the same place, and no message is printed twice or
//! skipped.

use std::time::Duration;

use chat_core::Message;
use tokio::time::Instant;
use uuid::Uuid;

use crate::cli::TailArgs;
use crate::client::{Client, ClientError, Page, Query};
use crate::cursor_file::CursorFile;
use crate::error::CliError;
use crate::output::{self, Output};

/// Most messages asked for in one poll.
const PAGE_LIMIT: u16 = 100;

/// Wait before the first retry after a failure.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Longest wait between retries, so a restarted server is noticed quickly.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Prints the room as `args` asks until `--count` is reached, or for ever.
pub async fn run(client: &Client, args: &TailArgs, out: &mut Output) -> Result<(), CliError> {
    let cursor_file = args.cursor_file.clone().map(CursorFile::new);
    let saved = match &cursor_file {
        Some(file) => file.load()?,
        None => None,
    };
    let mut tail = Tail {
        client,
        out,
        json: args.json,
        cursor_file,
        remaining: args.count,
        backoff: Backoff::new(),
        outage_reported: false,
    };
    let mut started_in_empty_room = false;
    let mut cursor = match saved.or(args.after) {
        Some(cursor) => cursor,
        None => {
            // Even `-n 0` reads one message: the newest id is where following
            // starts. An empty room starts from the nil UUID, its very start.
            let page = tail
                .fetch(Query::Latest {
                    limit: args.recent.max(1),
                })
                .await?;
            let newest = page
                .messages
                .last()
                .map_or(Uuid::nil(), |message| message.id);
            started_in_empty_room = newest.is_nil();
            let skip = page.messages.len().saturating_sub(args.recent.into());
            if tail.print_all(&page.messages[skip..])? == Flow::Done {
                return Ok(());
            }
            // Stored even when nothing was printed, so that a run stopped
            // before any message arrives still resumes from here.
            if let Some(file) = &tail.cursor_file {
                file.save(newest)?;
            }
            newest
        }
    };
    loop {
        let limit = tail.page_limit();
        let query = Query::After {
            cursor,
            limit,
            wait_secs: args.poll_timeout,
        };
        let page = tail.fetch(query).await?;
        // A room that retention emptied before we started is flagged as
        // truncated after the nil cursor, yet nothing was missed since then.
        if page.truncated && !(started_in_empty_room && cursor.is_nil()) {
            output::report(
                "warning: messages were deleted by the server's retention before they could be \
                 read; some are missing",
            );
        }
        if tail.print_all(&page.messages)? == Flow::Done {
            return Ok(());
        }
        if let Some(last) = page.messages.last() {
            cursor = last.id;
        }
    }
}

/// Whether to go on after printing a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    /// `--count` messages have been printed.
    Done,
}

/// The state of one `tail` run.
struct Tail<'a> {
    client: &'a Client,
    out: &'a mut Output,
    json: bool,
    cursor_file: Option<CursorFile>,
    /// Messages still to print before exiting, with `--count`.
    remaining: Option<u64>,
    backoff: Backoff,
    /// Whether the current run of failures has been reported already.
    outage_reported: bool,
}

impl Tail<'_> {
    /// A full page, or only as many messages as `--count` still lets us print.
    fn page_limit(&self) -> u16 {
        self.remaining.map_or(PAGE_LIMIT, |remaining| {
            u16::try_from(remaining.min(PAGE_LIMIT.into())).unwrap_or(PAGE_LIMIT)
        })
    }

    /// Reads a page, retrying transient failures for as long as they last;
    /// only a permanent error (a 4xx, a malformed answer) is returned.
    async fn fetch(&mut self, query: Query) -> Result<Page, ClientError> {
        loop {
            let started = Instant::now();
            match self.client.get(query).await {
                // A long poll answers `[]` early only when the server is
                // shutting down; polling again at once would spin until it
                // has gone, so wait as after a failure.
                // An empty answer in less than half the wait it asked for did
                // not wait out its timeout: the server is shutting down.
                Ok(page)
                    if page.messages.is_empty()
                        && matches!(query, Query::After { wait_secs, .. }
                            if started.elapsed() < Duration::from_secs(wait_secs) / 2) =>
                {
                    tokio::time::sleep(self.backoff.next_delay()).await;
                    return Ok(page);
                }
                Ok(page) => {
                    self.backoff.reset();
                    self.outage_reported = false;
                    return Ok(page);
                }
                Err(error) if error.is_transient() => {
                    // Once per outage, not once per attempt.
                    if !self.outage_reported {
                        output::report(format_args!("warning: {error}; retrying"));
                        self.outage_reported = true;
                    }
                    tokio::time::sleep(self.backoff.next_delay()).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Prints `messages` in order, recording each in the cursor file, and
    /// stops early once `--count` is reached.
    fn print_all(&mut self, messages: &[Message]) -> Result<Flow, CliError> {
        for message in messages {
            if self.json {
                self.out.json(message)
            } else {
                self.out.line(output::human(message))
            }
            .map_err(CliError::Stdout)?;
            if let Some(file) = &self.cursor_file {
                file.save(message.id)?;
            }
            if let Some(remaining) = &mut self.remaining {
                *remaining -= 1;
                if *remaining == 0 {
                    return Ok(Flow::Done);
                }
            }
        }
        Ok(Flow::Continue)
    }
}

/// Capped exponential backoff: 100 ms, 200 ms, 400 ms, ... up to 5 s, back to
/// 100 ms after a success.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self {
            next: FIRST_RETRY_DELAY,
        }
    }

    /// The wait before the next attempt; each call doubles the one after.
    fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (delay * 2).min(MAX_RETRY_DELAY);
        delay
    }

    fn reset(&mut self) {
        self.next = FIRST_RETRY_DELAY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap_and_resets() {
        let mut backoff = Backoff::new();
        let delays: Vec<u128> = (0..8).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), FIRST_RETRY_DELAY);
    }
}
