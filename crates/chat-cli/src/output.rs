//! What the user sees: lines on standard output, flushed one by one so a
//! script reading a pipe gets each message the moment it arrives, and
//! one-line reports on standard error.

use std::borrow::Cow;
use std::fmt::Display;
use std::io::{self, StdoutLock, Write};

use chat_core::Message;
use chrono::{Local, NaiveDate, TimeZone};

/// Shown for a message posted without an author.
const ANONYMOUS: &str = "anonymous";

/// Standard output, locked for the whole run.
pub struct Output {
    stdout: StdoutLock<'static>,
}

impl Output {
    /// Locks standard output.
    pub fn new() -> Self {
        Self {
            stdout: io::stdout().lock(),
        }
    }

    /// Writes `line` and a newline, and flushes.
    pub fn line(&mut self, line: impl Display) -> io::Result<()> {
        writeln!(self.stdout, "{line}")?;
        self.stdout.flush()
    }

    /// Writes `message` as one line of JSON, and flushes.
    pub fn json(&mut self, message: &Message) -> io::Result<()> {
        // The conversion keeps the kind of an I/O error, so a closed pipe is
        // still recognised as one.
        serde_json::to_writer(&mut self.stdout, message).map_err(io::Error::from)?;
        self.line("")
    }
}

/// Writes `chat-cli: <text>` on standard error. A failure is ignored: there
/// is nowhere left to report it.
pub fn report(text: impl Display) {
    let _ = writeln!(io::stderr().lock(), "chat-cli: {text}");
}

/// `message` as one line for people: the local time (with the date unless it
/// is today), the author, the body.
pub fn human(message: &Message) -> String {
    human_in(message, &Local, Local::now().date_naive())
}

fn human_in<Tz: TimeZone>(message: &Message, zone: &Tz, today: NaiveDate) -> String
where
    Tz::Offset: Display,
{
    let time = message.created_at.with_timezone(zone);
    let format = if time.date_naive() == today {
        "%H:%M:%S"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    let author = message
        .author
        .as_deref()
        .map_or(Cow::Borrowed(ANONYMOUS), escape_controls);
    format!(
        "{} {author}: {}",
        time.format(format),
        escape_controls(&message.body)
    )
}

/// Escapes control characters other than tab (`\n`, `\r`, `\u{1b}`, ...), so
/// one message stays one line and a body cannot drive the terminal.
fn escape_controls(text: &str) -> Cow<'_, str> {
    let needs_escape = |c: char| c.is_control() && c != '\t';
    if !text.contains(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            escaped.extend(c.escape_debug());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use chat_core::RoomName;
    use chrono::{DateTime, FixedOffset, Utc};
    use uuid::Uuid;

    use super::*;

    fn message(author: Option<&str>, body: &str) -> Message {
        Message {
            id: Uuid::nil(),
            room: RoomName::general(),
            created_at: DateTime::parse_from_rfc3339("2026-11-28T21:21:14.123456Z")
                .unwrap()
                .into(),
            author: author.map(str::to_owned),
            body: body.to_owned(),
        }
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn todays_messages_show_the_time_author_and_body() {
        let line = human_in(
            &message(Some("alice"), "Hello World"),
            &Utc,
            date("2026-11-28"),
        );
        assert_eq!(line, "21:21:14 alice: Hello World");
    }

    #[test]
    fn older_messages_show_the_date_in_the_readers_time_zone() {
        let tokyo = FixedOffset::east_opt(9 * 3600).unwrap();
        let line = human_in(&message(None, "hi"), &tokyo, date("2026-12-01"));
        assert_eq!(line, "2026-11-29 06:21:14 anonymous: hi");
    }

    #[test]
    fn newlines_and_escape_sequences_are_escaped_so_a_message_is_one_line() {
        let line = human_in(
            &message(Some("eve\n"), "one\ntwo\r\n\u{1b}[31mred\tcell"),
            &Utc,
            date("2026-11-28"),
        );
        assert_eq!(
            line,
            r"21:21:14 eve\n: one\ntwo\r\n\u{1b}[31mred".to_owned() + "\tcell"
        );
    }

    #[test]
    fn plain_text_is_not_copied() {
        assert!(matches!(escape_controls("a \\ b"), Cow::Borrowed("a \\ b")));
    }
}
