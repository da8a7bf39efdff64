//! A parser for `text/event-stream` bodies, as the WHATWG HTML standard
//! ("Server-sent events", "Event stream interpretation") defines them: bytes
//! go in as they arrive from the network, in chunks of any size, and complete
//! events come out.
//!
//! - Lines end in CRLF, LF or CR, and a CRLF split between two chunks is one
//!   line end; a multi-byte character split between chunks is kept whole,
//!   since lines are decoded only once complete.
//! - `field: value` (one space after the colon is dropped), `field` alone
//!   (an empty value); a line starting with `:` is a comment (`: ping`) and
//!   is ignored; unknown fields are ignored.
//! - `data` lines are joined with `\n`; a blank line dispatches the event,
//!   unless it has no data (then only its `id` is kept, for the next events).
//! - `id` is remembered across events, as `EventSource`'s last event id is;
//!   `retry` takes only ASCII digits.
//! - An event cut off by the end of the stream (no blank line after it) is
//!   never dispatched: the caller cannot mistake half an event for a whole.

use std::time::Duration;

/// Most bytes one event (its lines, not counting line ends) may hold before
/// the stream is refused: far above the contract's largest message, and a
/// bound on the memory a broken or hostile server can make us use.
const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// What a stream delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A dispatched event.
    Event(Event),
    /// A `retry` field: how long to wait before reconnecting.
    Retry(Duration),
}

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event` field; `message` when the event had none.
    pub kind: String,
    /// The `data` lines, joined with `\n`.
    pub data: String,
    /// The last `id` the stream set, by this event or an earlier one; `None`
    /// when none was, or the last one was empty.
    pub id: Option<String>,
}

/// The stream holds an event larger than [`MAX_EVENT_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an event is over {MAX_EVENT_BYTES} bytes long")]
pub struct EventTooLarge;

/// The state of one stream between chunks.
#[derive(Debug, Default)]
pub struct Parser {
    /// The bytes of the current line, not yet ended.
    line: Vec<u8>,
    /// The previous chunk ended in CR: an LF at the start of the next one
    /// ends no second line.
    after_cr: bool,
    /// Whether the first line (which may start with a byte order mark) has
    /// been read.
    past_first_line: bool,
    /// The current event's `data` lines, each followed by `\n`.
    data: String,
    /// The current event's `event` field, empty for none.
    kind: String,
    /// The last event id, kept from event to event.
    last_id: Option<String>,
}

impl Parser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `chunk`, the next bytes of the stream, and appends what it
    /// completed to `items`, in order. An event over [`MAX_EVENT_BYTES`] is
    /// an error, once the items completed before it are in `items`.
    pub fn feed(&mut self, chunk: &[u8], items: &mut Vec<Item>) -> Result<(), EventTooLarge> {
        let mut rest = chunk;
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            rest = rest.strip_prefix(b"\n").unwrap_or(rest);
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&rest[..end]);
            self.check_size()?;
            let line = std::mem::take(&mut self.line);
            if let Some(item) = self.line_ended(&line) {
                items.push(item);
            }
            let line_end = if rest[end] == b'\r' {
                match rest.get(end + 1) {
                    Some(b'\n') => 2,
                    Some(_) => 1,
                    None => {
                        self.after_cr = true;
                        1
                    }
                }
            } else {
                1
            };
            rest = &rest[end + line_end..];
        }
        self.line.extend_from_slice(rest);
        self.check_size()
    }

    fn check_size(&self) -> Result<(), EventTooLarge> {
        if self.line.len() + self.data.len() > MAX_EVENT_BYTES {
            Err(EventTooLarge)
        } else {
            Ok(())
        }
    }

    /// Interprets one complete line, without its line end.
    fn line_ended(&mut self, line: &[u8]) -> Option<Item> {
        let text = String::from_utf8_lossy(line);
        let mut text: &str = &text;
        if !self.past_first_line {
            self.past_first_line = true;
            text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        }
        if text.is_empty() {
            return self.dispatch().map(Item::Event);
        }
        if text.starts_with(':') {
            return None;
        }
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text, ""),
        };
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "event" => value.clone_into(&mut self.kind),
            // An id holding NUL is ignored, as the standard says.
            "id" if !value.contains('\0') => {
                self.last_id = (!value.is_empty()).then(|| value.to_owned());
            }
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                // Too many digits for a u64 is a wait longer than any other.
                let millis = value.parse().unwrap_or(u64::MAX);
                return Some(Item::Retry(Duration::from_millis(millis)));
            }
            _ => {}
        }
        None
    }

    /// The event gathered so far, if it has data; either way the next event
    /// starts afresh, but for the last id.
    fn dispatch(&mut self) -> Option<Event> {
        let kind = std::mem::take(&mut self.kind);
        let mut data = std::mem::take(&mut self.data);
        if data.is_empty() {
            return None;
        }
        data.pop();
        Some(Event {
            kind: if kind.is_empty() {
                "message".to_owned()
            } else {
                kind
            },
            data,
            id: self.last_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, data: &str, id: Option<&str>) -> Item {
        Item::Event(Event {
            kind: kind.to_owned(),
            data: data.to_owned(),
            id: id.map(str::to_owned),
        })
    }

    /// Everything `chunks`, fed one after the other, complete.
    fn parse(chunks: &[&[u8]]) -> Vec<Item> {
        let mut parser = Parser::new();
        chunks
            .iter()
            .flat_map(|chunk| {
                let mut items = Vec::new();
                parser.feed(chunk, &mut items).unwrap();
                items
            })
            .collect()
    }

    const STREAM: &str = "retry: 2000\n\nid: 1\nevent: message\ndata: {\"a\":1}\n\n\
                          : ping\n\nevent: truncated\ndata: {}\n\n";

    fn stream_items() -> Vec<Item> {
        vec![
            Item::Retry(Duration::from_millis(2000)),
            event("message", "{\"a\":1}", Some("1")),
            event("truncated", "{}", Some("1")),
        ]
    }

    #[test]
    fn a_stream_of_the_contract_gives_its_retry_and_events_and_skips_comments() {
        assert_eq!(parse(&[STREAM.as_bytes()]), stream_items());
    }

    #[test]
    fn every_split_into_two_chunks_gives_the_same_items() {
        let bytes = STREAM.as_bytes();
        for at in 0..=bytes.len() {
            let (head, tail) = bytes.split_at(at);
            assert_eq!(parse(&[head, tail]), stream_items(), "split at {at}");
        }
        let bytes: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse(&bytes), stream_items(), "byte by byte");
    }

    #[test]
    fn crlf_lf_and_cr_line_ends_are_the_same_even_split_between_chunks() {
        let lf = "id: 7\ndata: x\n\n";
        for stream in [
            lf.to_owned(),
            lf.replace('\n', "\r\n"),
            lf.replace('\n', "\r"),
        ] {
            assert_eq!(
                parse(&[stream.as_bytes()]),
                [event("message", "x", Some("7"))],
                "{stream:?}"
            );
        }
        // A CR ending one chunk and an LF starting the next end one line.
        assert_eq!(
            parse(&[b"data: x\r", b"\n\r", b"\n"]),
            [event("message", "x", None)]
        );
        // CR CR is two line ends: the second ends the event.
        assert_eq!(parse(&[b"data: x\r", b"\r"]), [event("message", "x", None)]);
        // An empty chunk between a CR and its LF changes nothing.
        assert_eq!(
            parse(&[b"data: x\r", b"", b"\ndata: y\n\n"]),
            [event("message", "x\ny", None)]
        );
    }

    #[test]
    fn data_lines_are_joined_with_newlines() {
        assert_eq!(
            parse(&[b"data: one\ndata:two\ndata\ndata:  three\n\n"]),
            [event("message", "one\ntwo\n\n three", None)]
        );
    }

    #[test]
    fn an_id_without_data_dispatches_nothing_but_is_kept_for_the_next_events() {
        assert_eq!(
            parse(&[b"id: 5\n\ndata: a\n\nid\ndata: b\n\nid: 6\0\ndata: c\n\n"]),
            [
                event("message", "a", Some("5")),
                event("message", "b", None),
                // An id holding NUL is ignored.
                event("message", "c", None),
            ]
        );
    }

    #[test]
    fn the_event_type_applies_to_one_event_only() {
        assert_eq!(
            parse(&[b"event: truncated\ndata: {}\n\ndata: m\n\nevent: x\n\n"]),
            [event("truncated", "{}", None), event("message", "m", None)]
        );
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        assert_eq!(
            parse(&[b": ping\n:\nfoo: bar\ndata: kept\n: inside\n\n"]),
            [event("message", "kept", None)]
        );
    }

    #[test]
    fn retry_takes_only_digits() {
        assert_eq!(
            parse(&[b"retry: 1x\nretry:\nretry: -5\nretry:300\n\n"]),
            [Item::Retry(Duration::from_millis(300))]
        );
        assert_eq!(
            parse(&[b"retry: 99999999999999999999999\n"]),
            [Item::Retry(Duration::from_millis(u64::MAX))]
        );
    }

    #[test]
    fn an_event_cut_off_by_the_end_of_the_stream_is_not_dispatched() {
        assert_eq!(
            parse(&[b"id: 1\ndata: complete\n\nid: 2\ndata: cut"]).len(),
            1
        );
        assert_eq!(parse(&[b"data: no blank line\n"]), []);
    }

    #[test]
    fn a_byte_order_mark_at_the_start_is_skipped_and_characters_survive_splits() {
        let text = "\u{FEFF}data: caf\u{e9} \u{1F600}\n\n";
        let bytes = text.as_bytes();
        // Split inside the BOM and inside the emoji.
        let (a, rest) = bytes.split_at(1);
        let (b, c) = rest.split_at(rest.len() - 4);
        assert_eq!(
            parse(&[a, b, c]),
            [event("message", "caf\u{e9} \u{1F600}", None)]
        );
        // Only at the very start.
        assert_eq!(
            parse(&[b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"]),
            [event("message", "a", None)]
        );
    }

    #[test]
    fn an_endless_event_is_refused() {
        let mut items = Vec::new();
        let mut parser = Parser::new();
        let line = vec![b'x'; 1024 * 1024];
        parser.feed(b"data: ", &mut items).unwrap();
        let outcome = (0..20).try_for_each(|_| parser.feed(&line, &mut items));
        assert_eq!(outcome, Err(EventTooLarge));
        let mut parser = Parser::new();
        let data_line = [b"data: ", &line[..], b"\n"].concat();
        let outcome = (0..20).try_for_each(|_| parser.feed(&data_line, &mut items));
        assert_eq!(outcome, Err(EventTooLarge));
        assert!(items.is_empty(), "{} items", items.len());
    }

    #[test]
    fn the_events_before_an_endless_one_in_the_same_chunk_are_kept() {
        let mut parser = Parser::new();
        let chunk = [
            &b"id: 1\ndata: whole\n\ndata: "[..],
            &vec![b'x'; MAX_EVENT_BYTES + 1],
        ]
        .concat();
        let mut items = Vec::new();
        assert_eq!(parser.feed(&chunk, &mut items), Err(EventTooLarge));
        assert_eq!(items, [event("message", "whole", Some("1"))]);
    }
}
