//! Server-sent events: the `text/event-stream` format, parsed as it arrives.

use std::time::Instant;

use crate::http::{BodyStream, HttpError};

/// One event of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `id:` field, if the event had one.
    pub id: Option<String>,
    /// The `event:` field; `message` when absent, as in a browser.
    pub kind: String,
    /// The `data:` lines, joined with newlines.
    pub data: String,
    /// When the bytes that completed the event were read.
    pub received_at: Instant,
}

/// The events of a stream body, one at a time.
#[derive(Debug)]
pub struct EventReader {
    body: BodyStream,
    parser: Parser,
}

impl EventReader {
    /// Reads the events of `body`.
    pub fn new(body: BodyStream) -> Self {
        Self {
            body,
            parser: Parser::default(),
        }
    }

    /// The next event, waiting for it; `None` when the stream ended.
    /// Comments (`: ping`) and blocks with only `retry:` are skipped.
    pub async fn next_event(&mut self) -> Result<Option<Event>, HttpError> {
        loop {
            if let Some(event) = self.parser.next() {
                return Ok(Some(event));
            }
            match self.body.next_bytes().await? {
                Some(bytes) => self.parser.feed(&bytes, Instant::now()),
                None => return Ok(None),
            }
        }
    }
}

/// The event-stream parser: bytes in, events out.
#[derive(Debug, Default)]
struct Parser {
    /// Bytes of an incomplete event.
    pending: Vec<u8>,
    /// When the last bytes arrived.
    received_at: Option<Instant>,
}

impl Parser {
    fn feed(&mut self, bytes: &[u8], at: Instant) {
        self.pending.extend_from_slice(bytes);
        self.received_at = Some(at);
    }

    /// The next complete event in what was fed, if any.
    fn next(&mut self) -> Option<Event> {
        loop {
            let (lines_end, block_end) = blank_line(&self.pending)?;
            let block: Vec<u8> = self.pending.drain(..block_end).collect();
            let received_at = self.received_at.unwrap_or_else(Instant::now);
            if let Some(event) = parse_block(&block[..lines_end], received_at) {
                return Some(event);
            }
        }
    }
}

/// Where the first event ends: (end of its lines, end of the blank line).
/// Lines end in `\n` or `\r\n`.
fn blank_line(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|&b| b == b'\n') {
        let line_end = at + offset;
        let next = line_end + 1;
        if next < bytes.len() && bytes[next] == b'\n' {
            return Some((line_end, next + 1));
        }
        if bytes[next..].starts_with(b"\r\n") {
            return Some((line_end, next + 2));
        }
        at = next;
    }
    None
}

/// The event a block of lines makes, or `None` for one with no data, id or
/// type (comments, `retry:`).
fn parse_block(block: &[u8], received_at: Instant) -> Option<Event> {
    let text = String::from_utf8_lossy(block);
    let mut id = None;
    let mut kind = None;
    let mut data: Option<String> = None;
    for line in text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
    {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.to_owned()),
            "event" => kind = Some(value.to_owned()),
            "data" => match &mut data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    if id.is_none() && kind.is_none() && data.is_none() {
        return None;
    }
    Some(Event {
        id,
        kind: kind.unwrap_or_else(|| "message".to_owned()),
        data: data.unwrap_or_default(),
        received_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<Event> {
        let mut parser = Parser::default();
        let mut found = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, Instant::now());
            while let Some(event) = parser.next() {
                found.push(event);
            }
        }
        found
    }

    #[test]
    fn chat_server_events_give_id_type_and_data_after_retry() {
        let stream: &[u8] =
            b"retry: 2000\n\nid: 0193-a\nevent: message\ndata: {\"id\":\"0193-a\"}\n\n: ping\n\n";
        let found = events(&[stream]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id.as_deref(), Some("0193-a"));
        assert_eq!(found[0].kind, "message");
        assert_eq!(found[0].data, r#"{"id":"0193-a"}"#);
    }

    #[test]
    fn nchan_events_without_a_type_are_messages_and_splits_do_not_matter() {
        let stream: &[u8] = b": hi\n\nid: 1796231756:0\ndata: one\n\nid: 1796231756:1\r\ndata: two\r\ndata: lines\r\n\r\n";
        for split in 0..stream.len() {
            let found = events(&[&stream[..split], &stream[split..]]);
            let summary: Vec<_> = found
                .iter()
                .map(|event| {
                    (
                        event.id.clone().unwrap(),
                        event.kind.clone(),
                        event.data.clone(),
                    )
                })
                .collect();
            assert_eq!(
                summary,
                [
                    ("1796231756:0".into(), "message".into(), "one".into()),
                    ("1796231756:1".into(), "message".into(), "two\nlines".into())
                ],
                "split {split}"
            );
        }
    }

    #[test]
    fn a_truncated_event_has_its_type_and_no_id() {
        let found = events(&[b"event: truncated\ndata: {}\n\n"]);
        assert_eq!(
            (found[0].id.as_deref(), found[0].kind.as_str()),
            (None, "truncated")
        );
    }
}
