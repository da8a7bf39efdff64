//! Response heads and body framing.

use std::time::Instant;

use super::HttpError;

/// The largest response head accepted; the contract's heads are a few hundred
/// bytes, so anything near this is a broken server, not a big response.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The largest response body accepted: a full page of 1,000 messages with
/// 10,000-byte bodies, with room to spare.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Headers beyond this many make the head malformed (`httparse` needs a
/// fixed-size slot array; the contract's responses carry about six).
const MAX_HEADERS: usize = 32;

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The head as received, status line and headers, blank line included:
    /// kept whole and searched only when a header is asked for, so a poller
    /// that needs none pays nothing for them.
    pub head: Vec<u8>,
    /// The body, exactly `Content-Length` bytes.
    pub body: Vec<u8>,
    /// When the last byte of the response was read: what "received" means in
    /// every measurement.
    pub received_at: Instant,
}

impl Response {
    /// The value of the first header called `name` (any case), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.head, name)
    }
}

/// The value of the first header called `name` in the complete head `head`.
pub(crate) fn header_value<'h>(head: &'h [u8], name: &str) -> Option<&'h str> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    response.parse(head).ok()?;
    response
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case(name))
        .and_then(|header| std::str::from_utf8(header.value).ok())
}

/// What the head of a response says about the bytes that follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    /// The status code.
    pub status: u16,
    /// How many bytes the head itself takes, blank line included.
    pub head_len: usize,
    /// How many body bytes follow the head.
    pub body_len: usize,
    /// Whether the connection can carry another request afterwards.
    pub keep_alive: bool,
}

/// How the body of a response that may be endless (an event stream) ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// After this many bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`: at the last, empty chunk.
    Chunked,
    /// When the server closes the connection.
    UntilClose,
}

/// A head whose body may be framed in any of the ways [`Framing`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamHead {
    /// The status code.
    pub status: u16,
    /// How many bytes the head itself takes, blank line included.
    pub head_len: usize,
    /// How the body ends.
    pub framing: Framing,
}

/// Parses the head at the start of `buf`: `Ok(None)` while it is incomplete.
///
/// Only `Content-Length` framing is supported. A transfer coding (chunked)
/// is an error rather than a guess, and so is a body delimited by closing the
/// connection, since either would make the figures measure something else.
/// (An event stream, which is endless, is read with [`parse_stream_head`].)
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<Head>, HttpError> {
    let Some((head, keep_alive, transfer_encoding)) = parse_any_head(buf)? else {
        return Ok(None);
    };
    let body_len = match (head.framing, transfer_encoding) {
        (Framing::Length(length), _) => length,
        (_, Some(coding)) => return Err(HttpError::UnsupportedTransferEncoding(coding)),
        (_, None) => return Err(HttpError::MissingContentLength),
    };
    Ok(Some(Head {
        status: head.status,
        head_len: head.head_len,
        body_len,
        keep_alive,
    }))
}

/// Parses the head of a response whose body may be an endless stream:
/// `Ok(None)` while it is incomplete. Chunked and close-delimited bodies are
/// accepted; another transfer coding is an error.
pub(crate) fn parse_stream_head(buf: &[u8]) -> Result<Option<StreamHead>, HttpError> {
    match parse_any_head(buf)? {
        None => Ok(None),
        Some((_, _, Some(coding))) if !coding.eq_ignore_ascii_case("chunked") => {
            Err(HttpError::UnsupportedTransferEncoding(coding))
        }
        Some((head, _, _)) => Ok(Some(head)),
    }
}

/// The head, whether the connection stays open, and the transfer coding the
/// server named, if any (a chunked body has [`Framing::Chunked`]).
fn parse_any_head(buf: &[u8]) -> Result<Option<(StreamHead, bool, Option<String>)>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf)? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial if buf.len() > MAX_HEAD_BYTES => {
            return Err(HttpError::HeadTooLarge)
        }
        httparse::Status::Partial => return Ok(None),
    };
    let status = response.code.unwrap_or_default();
    // HTTP/1.1 keeps the connection open unless told otherwise; 1.0 the reverse.
    let mut keep_alive = response.version == Some(1);
    let mut content_length = None;
    let mut transfer_encoding = None;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let length = std::str::from_utf8(header.value)
                .ok()
                .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|text| text.parse::<usize>().ok())
                .ok_or(HttpError::InvalidContentLength)?;
            if content_length.is_some_and(|earlier| earlier != length) {
                return Err(HttpError::InvalidContentLength);
            }
            content_length = Some(length);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = Some(String::from_utf8_lossy(header.value).trim().to_owned());
        } else if header.name.eq_ignore_ascii_case("connection") {
            let value = String::from_utf8_lossy(header.value);
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    // These statuses never have a body, whatever the headers say.
    let bodiless = (100..200).contains(&status) || status == 204 || status == 304;
    let chunked = transfer_encoding
        .as_deref()
        .is_some_and(|coding| coding.eq_ignore_ascii_case("chunked"));
    let framing = match content_length {
        _ if bodiless => Framing::Length(0),
        // A transfer coding overrides any Content-Length (RFC 9112, 6.3).
        _ if chunked => Framing::Chunked,
        _ if transfer_encoding.is_some() => Framing::UntilClose,
        Some(length) if length > MAX_BODY_BYTES => {
            return Err(HttpError::BodyTooLarge {
                length,
                limit: MAX_BODY_BYTES,
            })
        }
        Some(length) => Framing::Length(length),
        None => Framing::UntilClose,
    };
    let head = StreamHead {
        status,
        head_len,
        framing,
    };
    Ok(Some((head, keep_alive, transfer_encoding)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATED: &[u8] = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\
        content-type: application/json\r\ndate: Sat, 28 Nov 2026 21:21:14 GMT\r\n\r\n{}";

    #[test]
    fn a_complete_head_gives_status_lengths_and_keep_alive() {
        let head = parse_head(CREATED).unwrap().unwrap();
        assert_eq!(head.status, 201);
        assert_eq!(head.head_len, CREATED.len() - 2);
        assert_eq!(head.body_len, 2);
        assert!(head.keep_alive);
    }

    #[test]
    fn an_incomplete_head_asks_for_more_bytes_at_every_split() {
        let head_len = CREATED.len() - 2;
        for split in 0..head_len {
            assert_eq!(
                parse_head(&CREATED[..split]).unwrap(),
                None,
                "split {split}"
            );
        }
        assert!(parse_head(&CREATED[..head_len]).unwrap().is_some());
    }

    #[test]
    fn connection_close_and_http_1_0_end_keep_alive() {
        let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert!(!parse_head(close).unwrap().unwrap().keep_alive);
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(!parse_head(old).unwrap().unwrap().keep_alive);
        let old_kept = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n";
        assert!(parse_head(old_kept).unwrap().unwrap().keep_alive);
    }

    #[test]
    fn chunked_bodies_are_refused_clearly() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n";
        let error = parse_head(chunked).unwrap_err();
        assert!(
            matches!(error, HttpError::UnsupportedTransferEncoding(ref coding) if coding == "chunked")
        );
        assert!(error.to_string().contains("Transfer-Encoding: chunked"));
    }

    #[test]
    fn a_stream_head_accepts_chunked_and_close_delimited_bodies() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let head = parse_stream_head(chunked).unwrap().unwrap();
        assert_eq!((head.status, head.framing), (200, Framing::Chunked));
        assert_eq!(head.head_len, chunked.len());
        let nchan = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n: hi\n\n";
        let head = parse_stream_head(nchan).unwrap().unwrap();
        assert_eq!(head.framing, Framing::UntilClose);
        let error = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(
            parse_stream_head(error).unwrap().unwrap().framing,
            Framing::Length(2)
        );
        let gzip = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n";
        assert!(matches!(
            parse_stream_head(gzip),
            Err(HttpError::UnsupportedTransferEncoding(_))
        ));
    }

    #[test]
    fn headers_are_found_in_a_kept_head_in_any_case() {
        let head = b"HTTP/1.1 200 OK\r\nLast-Modified: Wed, 02 Dec 2026 17:15:56 GMT\r\n\
            Etag: 0\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            header_value(head, "last-modified"),
            Some("Wed, 02 Dec 2026 17:15:56 GMT")
        );
        assert_eq!(header_value(head, "ETag"), Some("0"));
        assert_eq!(header_value(head, "If-None-Match"), None);
    }

    #[test]
    fn a_body_without_a_length_is_refused_but_a_204_needs_none() {
        let unframed = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[]";
        assert!(matches!(
            parse_head(unframed),
            Err(HttpError::MissingContentLength)
        ));
        let no_content = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(parse_head(no_content).unwrap().unwrap().body_len, 0);
    }

    #[test]
    fn bad_or_conflicting_lengths_are_refused() {
        for head in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
        ] {
            assert!(
                matches!(parse_head(head), Err(HttpError::InvalidContentLength)),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        let huge = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        assert!(matches!(
            parse_head(huge.as_bytes()),
            Err(HttpError::BodyTooLarge { .. })
        ));
    }

    #[test]
    fn garbage_and_endless_heads_are_errors() {
        assert!(matches!(
            parse_head(b"SSH-2.0-OpenSSH\r\n\r\n"),
            Err(HttpError::MalformedHead(_))
        ));
        let mut endless = b"HTTP/1.1 200 OK\r\nX-Padding: ".to_vec();
        endless.resize(MAX_HEAD_BYTES + 1, b'a');
        assert!(matches!(parse_head(&endless), Err(HttpError::HeadTooLarge)));
    }
}
