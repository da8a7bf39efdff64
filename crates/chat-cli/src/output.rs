//! What the user sees: lines on standard output, flushed one by one so a
//! script reading a pipe gets each message the moment it arrives, and
//! one-line reports on standard error.

use std::borrow::Cow;
use std::fmt::Display;
use std::fs::File;
use std::io::{self, Write};

use chat_core::Message;
use chrono::{Local, NaiveDate, TimeZone};

/// Shown for a message posted without an author (stored as `null`).
const NO_AUTHOR: &str = "(no author)";

/// Completes once standard output is a pipe or a socket whose reading end
/// has closed (`chat-cli tail | head -3`, once `head` has its lines), so a
/// run that has nothing to print for a while still ends then; never for a
/// terminal, a file or `/dev/null`, which cannot close.
pub async fn closed() {
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;
    // Error readiness only: the kernel reports it on a pipe or socket with
    // no reader left. Files and /dev/null cannot be watched (the error
    // here), and never close. `with_interest` is deprecated because an
    // arbitrary `T` may close its descriptor while registered; standard
    // output's stays open for the whole process, and its replacement needs
    // `unsafe`, which this workspace forbids.
    #[allow(deprecated)]
    let watched = AsyncFd::with_interest(io::stdout(), Interest::ERROR);
    match watched {
        Ok(stdout) => {
            let _ = stdout.ready(Interest::ERROR).await;
        }
        Err(_) => std::future::pending().await,
    }
}

/// Standard output, locked for the whole run.
pub struct Output {
    writer: Box<dyn Write>,
    /// Standard output again, when it is a regular file, so that it can be
    /// synced to disk.
    file: Option<File>,
}

impl Output {
    /// Locks standard output.
    pub fn new() -> Self {
        Self {
            writer: Box::new(io::stdout().lock()),
            file: stdout_file(),
        }
    }

    /// Writes `line` and a newline, and flushes.
    pub fn line(&mut self, line: impl Display) -> io::Result<()> {
        writeln!(self.writer, "{line}")?;
        self.writer.flush()
    }

    /// Writes `message` as one line of JSON, and flushes.
    pub fn json(&mut self, message: &Message) -> io::Result<()> {
        // The conversion keeps the kind of an I/O error, so a closed pipe is
        // still recognised as one.
        serde_json::to_writer(&mut self.writer, message).map_err(io::Error::from)?;
        self.line("")
    }

    /// When standard output is a regular file, waits until what was written
    /// to it is on disk, so that a cursor saved afterwards cannot survive a
    /// power cut that the lines it stands for do not. A pipe or a terminal
    /// has nothing to sync.
    pub fn sync(&self) -> io::Result<()> {
        self.file.as_ref().map_or(Ok(()), File::sync_data)
    }

    /// Output into `writer` instead of standard output.
    #[cfg(test)]
    pub fn to(writer: impl Write + 'static) -> Self {
        Self {
            writer: Box::new(writer),
            file: None,
        }
    }
}

/// Standard output as a [`File`], when it is a regular file.
#[cfg(unix)]
fn stdout_file() -> Option<File> {
    use std::os::fd::AsFd;

    let file = File::from(io::stdout().as_fd().try_clone_to_owned().ok()?);
    file.metadata().ok()?.is_file().then_some(file)
}

/// Standard output as a [`File`]: not looked for on this platform.
#[cfg(not(unix))]
fn stdout_file() -> Option<File> {
    None
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
        .map_or(Cow::Borrowed(NO_AUTHOR), escape_controls);
    format!(
        "{} {author}: {}",
        time.format(format),
        escape_controls(&message.body)
    )
}

/// Escapes control characters other than tab (`\n`, `\r`, `\u{1b}`, ...), so
/// one message stays one line and a body cannot drive the terminal, and the
/// invisible characters that change how a line reads ([`is_invisible`]).
fn escape_controls(text: &str) -> Cow<'_, str> {
    let is_control = |c: char| c.is_control() && c != '\t';
    if !text.contains(|c| is_control(c) || is_invisible(c)) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_control(c) {
            escaped.extend(c.escape_debug());
        } else if is_invisible(c) {
            escaped.extend(c.escape_unicode());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// Bidirectional overrides, embeddings and isolates (U+202A to U+202E,
/// U+2066 to U+2069), the other bidirectional marks (U+200E, U+200F,
/// U+061C) and zero-width characters (U+200B to U+200D, U+2060, U+FEFF):
/// unseen, they could reorder a line, or make an author or a body look like
/// another, so they are shown as `\u{...}`.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200B}'..='\u{200F}'
            | '\u{061C}'
            | '\u{2060}'
            | '\u{FEFF}'
    )
}

#[cfg(test)]
mod tests {
    use chat_core::RoomName;
    use chrono::{DateTime, FixedOffset, Utc};
    use uuid::Uuid;

    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;

    /// Everything written so far, shared with the test.
    #[derive(Clone, Default)]
    struct SharedBuffer(Rc<RefCell<Vec<u8>>>);

    impl SharedBuffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.borrow().clone()).unwrap()
        }
    }

    impl Write for SharedBuffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

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
        assert_eq!(line, "2026-11-29 06:21:14 (no author): hi");
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
    fn bidirectional_and_zero_width_characters_are_shown_escaped() {
        let body = "a\u{202E}b\u{202A}\u{202B}\u{202C}\u{202D}\u{2066}\u{2067}\u{2068}\u{2069}\
                    \u{200E}\u{200F}\u{061C}\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}z";
        let line = human_in(
            &message(Some("mal\u{202E}lory"), body),
            &Utc,
            date("2026-11-28"),
        );
        assert_eq!(
            line,
            r"21:21:14 mal\u{202e}lory: a\u{202e}b\u{202a}\u{202b}\u{202c}\u{202d}\u{2066}\u{2067}\u{2068}\u{2069}\u{200e}\u{200f}\u{61c}\u{200b}\u{200c}\u{200d}\u{2060}\u{feff}z"
        );
    }

    #[test]
    fn visible_non_ascii_text_is_kept() {
        let text = "caf\u{e9} \u{05e9}\u{05dc}\u{05d5}\u{05dd} \u{1F600} \u{00A0}";
        assert!(matches!(escape_controls(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn json_output_keeps_every_character_exactly() {
        let buffer = SharedBuffer::default();
        let mut out = Output::to(buffer.clone());
        let original = message(None, "x\u{202E}\u{200B}\u{FEFF}\n");
        out.json(&original).unwrap();
        let printed = buffer.text();
        assert!(
            printed.ends_with('\n') && printed.lines().count() == 1,
            "{printed}"
        );
        let parsed: Message = serde_json::from_str(&printed).unwrap();
        assert_eq!(parsed, original);
        assert!(printed.contains(r#""author":null"#), "{printed}");
    }

    #[test]
    fn plain_text_is_not_copied() {
        assert!(matches!(escape_controls("a \\ b"), Cow::Borrowed("a \\ b")));
    }
}
