//! `chat-cli tail`: print recent messages, then follow the room for ever,
//! over the room's event stream ([`stream`], the default) or by
//! long-polling ([`long_poll`], `--long-poll`), from the id of the last
//! message printed.
//!
//! Within a run, that cursor is the whole state: it only moves once a
//! message has been printed, so after any failure (a network error, a server
//! restart, a 5xx) the next poll, or the next stream with `Last-Event-ID`,
//! asks again from the same place, and no message is printed twice or
//! skipped.
//!
//! Across runs (`--cursor-file`) printing is at least once: each page (a
//! poll's answer, or the events that arrived together, at most
//! [`PAGE_LIMIT`] messages) is printed (flushed, and synced to disk when
//! standard output is a regular file) before the cursor file is saved, once
//! per page, with the id of the last message printed. A run killed between
//! the two prints that page again next time, each message recognisable by
//! its id; no message is ever skipped. (Saving first would lose the page
//! instead.)
//!
//! Both transports share everything here: the starting point, printing,
//! the cursor file, the truncation warning, and retrying with [`Backoff`].

mod long_poll;
mod stream;

use std::future::Future;
use std::time::Duration;

use chat_core::Message;
use uuid::Uuid;

use crate::cli::TailArgs;
use crate::client::{Client, Query};
use crate::client_error::ClientError;
use crate::cursor_file::CursorFile;
use crate::error::CliError;
use crate::output::{self, Output};
use crate::retry::Backoff;

/// Most messages printed before the cursor is saved; most asked for in one
/// poll.
const PAGE_LIMIT: u16 = 100;

/// Prints the room as `args` asks until `--count` is reached, or for ever.
pub async fn run(client: &Client, args: &TailArgs, out: &mut Output) -> Result<(), CliError> {
    let cursor_file = args
        .cursor_file
        .clone()
        .map(|path| CursorFile::new(path, client.server(), client.room()));
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
        started_in_empty_room: false,
        backoff: Backoff::new(),
        outage_reported: false,
        reconnect_delay: Duration::ZERO,
    };
    let cursor = match saved.or(args.after) {
        Some(cursor) => cursor,
        None => match tail.start_at_newest(args.recent).await? {
            Some(newest) => newest,
            None => return Ok(()),
        },
    };
    if args.long_poll {
        long_poll::follow(&mut tail, cursor, args.poll_timeout).await
    } else {
        stream::follow(&mut tail, cursor).await
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
    /// Whether the room was empty when following started from its newest
    /// message.
    started_in_empty_room: bool,
    backoff: Backoff,
    /// Whether the current run of failures has been reported already.
    outage_reported: bool,
    /// The least wait before opening another event stream, as the server's
    /// `retry` asked.
    reconnect_delay: Duration,
}

impl Tail<'_> {
    /// Prints the newest `recent` messages and saves where following starts,
    /// the id of the newest message, even when nothing was printed, so that
    /// a run stopped before any message arrives still resumes from here.
    /// Returns that id (the nil UUID, the room's very start, for an empty
    /// room), or `None` when `--count` was reached.
    async fn start_at_newest(&mut self, recent: u16) -> Result<Option<Uuid>, CliError> {
        let client = self.client;
        // Even `-n 0` reads one message: the newest id is where following
        // starts.
        let query = Query::Latest {
            limit: recent.max(1),
        };
        let page = self.retrying(|| client.get(query)).await?;
        self.recovered();
        let newest = page
            .messages
            .last()
            .map_or(Uuid::nil(), |message| message.id);
        self.started_in_empty_room = newest.is_nil();
        let skip = page.messages.len().saturating_sub(recent.into());
        let flow = self.print_page(&page.messages[skip..], Some(newest))?;
        Ok((flow == Flow::Continue).then_some(newest))
    }

    /// A full page, or only as many messages as `--count` still lets us print.
    fn page_limit(&self) -> u16 {
        self.remaining.map_or(PAGE_LIMIT, |remaining| {
            u16::try_from(remaining.min(PAGE_LIMIT.into())).unwrap_or(PAGE_LIMIT)
        })
    }

    /// Runs `attempt` until it succeeds or fails for good (a 4xx, a
    /// malformed answer), waiting after each transient failure; the caller
    /// decides whether the success ends the outage ([`Self::recovered`]).
    async fn retrying<T, F, Fut>(&mut self, mut attempt: F) -> Result<T, ClientError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        loop {
            match attempt().await {
                Err(error) if error.is_transient() => self.failed(&error).await,
                outcome => return outcome,
            }
        }
    }

    /// Reports `error` (once per outage, not once per attempt) and waits
    /// before the next attempt.
    async fn failed(&mut self, error: &ClientError) {
        if !self.outage_reported {
            output::report(format_args!("warning: {error}; retrying"));
            self.outage_reported = true;
        }
        self.pause(error.retry_after()).await;
    }

    /// Waits before the next attempt: the backoff's next delay, or what the
    /// server asked for when that is longer (`Retry-After`, or the event
    /// stream's `retry`).
    async fn pause(&mut self, retry_after: Option<Duration>) {
        let requested = retry_after.unwrap_or_default().max(self.reconnect_delay);
        tokio::time::sleep(self.backoff.next_delay_at_least(requested)).await;
    }

    /// Notes that the server answered as it should: the next failure starts
    /// a new outage, retried from the shortest wait.
    fn recovered(&mut self) {
        self.backoff.reset();
        self.outage_reported = false;
    }

    /// Warns that retention deleted messages after `cursor` before they
    /// could be read, unless that is only the history of a room that was
    /// already empty when following started, where nothing was missed.
    fn truncated(&self, cursor: Uuid) {
        if !(self.started_in_empty_room && cursor.is_nil()) {
            output::report(
                "warning: messages were deleted by the server's retention before they could be \
                 read; some are missing",
            );
        }
    }

    /// Prints `messages` in order, stopping early once `--count` is
    /// reached, then saves one cursor: `resume_after` when every message was
    /// printed (the starting point of `-n 0` lies past a page printing
    /// none), else the id of the last one printed, even when a later write
    /// failed, since that one did reach standard output.
    fn print_page(
        &mut self,
        messages: &[Message],
        resume_after: Option<Uuid>,
    ) -> Result<Flow, CliError> {
        let mut printed = 0;
        let outcome = self.print_each(messages, &mut printed);
        let cursor = match outcome {
            Ok(Flow::Continue) => resume_after,
            _ => printed.checked_sub(1).map(|last| messages[last].id),
        };
        if let Some(cursor) = cursor {
            self.save(cursor)?;
        }
        outcome
    }

    /// Prints `messages` in order, counting them in `printed`, until
    /// `--count` is reached.
    fn print_each(&mut self, messages: &[Message], printed: &mut usize) -> Result<Flow, CliError> {
        for message in messages {
            if self.json {
                self.out.json(message)
            } else {
                self.out.line(output::human(message))
            }
            .map_err(CliError::Stdout)?;
            *printed += 1;
            if let Some(remaining) = &mut self.remaining {
                *remaining -= 1;
                if *remaining == 0 {
                    return Ok(Flow::Done);
                }
            }
        }
        Ok(Flow::Continue)
    }

    /// Stores `cursor` in the cursor file, if there is one, once what was
    /// printed is on disk: a power cut must not keep the cursor and lose the
    /// lines it stands for.
    fn save(&self, cursor: Uuid) -> Result<(), CliError> {
        if let Some(file) = &self.cursor_file {
            self.out.sync().map_err(CliError::Stdout)?;
            file.save(cursor)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::io::{self, Write};
    use std::path::PathBuf;
    use std::rc::Rc;

    use chat_core::RoomName;
    use reqwest::Url;

    use super::*;

    /// Standard output for a test: at each message (each flush), notes what
    /// the cursor file holds; refuses to write once `capacity` messages have
    /// been written.
    #[derive(Clone)]
    struct Observer {
        cursor: PathBuf,
        capacity: usize,
        seen: Rc<RefCell<Vec<String>>>,
    }

    impl Write for Observer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if self.seen.borrow().len() == self.capacity {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            let content = std::fs::read_to_string(&self.cursor).unwrap_or_default();
            self.seen.borrow_mut().push(content);
            Ok(())
        }
    }

    fn message(id: u128) -> Message {
        Message {
            id: Uuid::from_u128(id),
            room: RoomName::general(),
            created_at: chrono::Utc::now(),
            author: None,
            body: format!("m{id}"),
        }
    }

    /// Prints `page` with `--count` `count` into an [`Observer`] of
    /// `capacity` messages, starting from a cursor file that holds id 100.
    /// Returns the outcome, what the file held as each message was printed,
    /// and what it holds in the end.
    fn print(
        page: &[Message],
        resume_after: Option<Uuid>,
        count: Option<u64>,
        capacity: usize,
    ) -> (Result<Flow, CliError>, Vec<String>, Option<Uuid>) {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("cursor");
        let server = Url::parse("http://127.0.0.1:9/").unwrap();
        let file = CursorFile::new(path.clone(), &server, &RoomName::general());
        file.save(Uuid::from_u128(100)).unwrap();
        let client = Client::new(&server, None, None).unwrap();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let mut out = Output::to(Observer {
            cursor: path,
            capacity,
            seen: Rc::clone(&seen),
        });
        let mut tail = Tail {
            client: &client,
            out: &mut out,
            json: true,
            cursor_file: Some(file.clone()),
            remaining: count,
            started_in_empty_room: false,
            backoff: Backoff::new(),
            outage_reported: false,
            reconnect_delay: Duration::ZERO,
        };
        let outcome = tail.print_page(page, resume_after);
        let seen = seen.borrow().clone();
        (outcome, seen, file.load().unwrap())
    }

    #[test]
    fn a_page_is_printed_in_full_before_its_cursor_is_saved_once() {
        let page = [message(1), message(2), message(3)];
        let (outcome, seen, saved) = print(&page, Some(page[2].id), None, usize::MAX);
        assert_eq!(outcome.unwrap(), Flow::Continue);
        assert_eq!(seen.len(), 3);
        let before = Uuid::from_u128(100).to_string();
        for content in &seen {
            assert!(
                content.contains(&before),
                "saved during the page: {content}"
            );
        }
        assert_eq!(saved, Some(page[2].id));
    }

    #[test]
    fn count_stops_within_a_page_and_saves_the_last_message_printed() {
        let page = [message(1), message(2), message(3)];
        let (outcome, seen, saved) = print(&page, Some(page[2].id), Some(2), usize::MAX);
        assert_eq!(outcome.unwrap(), Flow::Done);
        assert_eq!(seen.len(), 2);
        assert_eq!(saved, Some(page[1].id));
    }

    #[test]
    fn a_failed_write_saves_the_messages_printed_before_it() {
        let page = [message(1), message(2), message(3)];
        let (outcome, seen, saved) = print(&page, Some(page[2].id), None, 2);
        assert!(outcome.unwrap_err().is_closed_stdout());
        assert_eq!(seen.len(), 2);
        assert_eq!(saved, Some(page[1].id));
        let (outcome, _, saved) = print(&page, Some(page[2].id), None, 0);
        assert!(outcome.is_err());
        assert_eq!(saved, Some(Uuid::from_u128(100)), "nothing was printed");
    }

    #[test]
    fn a_page_printing_nothing_saves_where_following_starts() {
        let (outcome, seen, saved) = print(&[], Some(Uuid::from_u128(9)), None, usize::MAX);
        assert_eq!(outcome.unwrap(), Flow::Continue);
        assert!(seen.is_empty());
        assert_eq!(saved, Some(Uuid::from_u128(9)));
        let (_, _, unchanged) = print(&[], None, None, usize::MAX);
        assert_eq!(unchanged, Some(Uuid::from_u128(100)));
    }
}
