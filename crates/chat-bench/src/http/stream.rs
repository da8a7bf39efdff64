//! The body of a response that may never end (an event stream), read as it
//! arrives: chunked, close-delimited or with a length.

use super::response::{header_value, Framing};
use super::{Connection, HttpError};

/// The body of one response, decoded piece by piece as the server sends it.
#[derive(Debug)]
pub struct BodyStream {
    connection: Connection,
    status: u16,
    head: Vec<u8>,
    decoder: Decoder,
}

#[derive(Debug)]
enum Decoder {
    /// This many body bytes remain.
    Length(usize),
    Chunked(ChunkedDecoder),
    UntilClose {
        closed: bool,
    },
}

impl BodyStream {
    pub(super) fn new(
        connection: Connection,
        status: u16,
        head: Vec<u8>,
        framing: Framing,
    ) -> Self {
        let decoder = match framing {
            Framing::Length(length) => Decoder::Length(length),
            Framing::Chunked => Decoder::Chunked(ChunkedDecoder::default()),
            Framing::UntilClose => Decoder::UntilClose { closed: false },
        };
        Self {
            connection,
            status,
            head,
            decoder,
        }
    }

    /// The status code of the response.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The value of the first response header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.head, name)
    }

    /// The next body bytes, waiting for them; `None` once the body ended.
    pub async fn next_bytes(&mut self) -> Result<Option<Vec<u8>>, HttpError> {
        loop {
            if self.ended() {
                return Ok(None);
            }
            let raw = self.connection.take_buffered();
            if !raw.is_empty() {
                let decoded = self.decode(raw)?;
                if !decoded.is_empty() {
                    return Ok(Some(decoded));
                }
                continue;
            }
            match self.connection.fill().await {
                Ok(()) => {}
                Err(HttpError::Closed) => match &mut self.decoder {
                    Decoder::UntilClose { closed } => *closed = true,
                    _ => return Err(HttpError::Closed),
                },
                Err(error) => return Err(error),
            }
        }
    }

    fn ended(&self) -> bool {
        match &self.decoder {
            Decoder::Length(remaining) => *remaining == 0,
            Decoder::Chunked(chunked) => chunked.done,
            Decoder::UntilClose { closed } => *closed,
        }
    }

    fn decode(&mut self, mut raw: Vec<u8>) -> Result<Vec<u8>, HttpError> {
        match &mut self.decoder {
            Decoder::Length(remaining) => {
                // Bytes past the body would be a next response, which a
                // stream's connection never carries.
                raw.truncate(*remaining);
                *remaining -= raw.len();
                Ok(raw)
            }
            Decoder::Chunked(chunked) => chunked.feed(&raw),
            Decoder::UntilClose { .. } => Ok(raw),
        }
    }
}

/// Decodes `Transfer-Encoding: chunked` incrementally: bytes go in as they
/// arrive, split anywhere, and the data of the chunks comes out.
#[derive(Debug, Default)]
struct ChunkedDecoder {
    /// Raw bytes not decoded yet (an incomplete size line or chunk end).
    pending: Vec<u8>,
    /// Data bytes of the current chunk still to come.
    remaining: usize,
    /// Whether the CRLF after the current chunk's data is still to come.
    in_chunk: bool,
    /// The last, empty chunk was seen.
    done: bool,
}

/// The longest chunk-size line accepted (size, extensions and CRLF).
const MAX_CHUNK_LINE: usize = 1024;

impl ChunkedDecoder {
    fn feed(&mut self, raw: &[u8]) -> Result<Vec<u8>, HttpError> {
        self.pending.extend_from_slice(raw);
        let mut out = Vec::new();
        let mut at = 0;
        while !self.done {
            if self.remaining > 0 {
                let take = self.remaining.min(self.pending.len() - at);
                if take == 0 {
                    break;
                }
                out.extend_from_slice(&self.pending[at..at + take]);
                at += take;
                self.remaining -= take;
                continue;
            }
            if self.in_chunk {
                if self.pending.len() - at < 2 {
                    break;
                }
                if &self.pending[at..at + 2] != b"\r\n" {
                    return Err(HttpError::MalformedChunk);
                }
                at += 2;
                self.in_chunk = false;
                continue;
            }
            let rest = &self.pending[at..];
            let Some(end) = rest.windows(2).position(|pair| pair == b"\r\n") else {
                if rest.len() > MAX_CHUNK_LINE {
                    return Err(HttpError::MalformedChunk);
                }
                break;
            };
            let line = std::str::from_utf8(&rest[..end]).map_err(|_| HttpError::MalformedChunk)?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| HttpError::MalformedChunk)?;
            at += end + 2;
            if size == 0 {
                // Trailers, if any, are not read: the body is over.
                self.done = true;
            } else {
                self.remaining = size;
                self.in_chunk = true;
            }
        }
        self.pending.drain(..at);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"d\r\nretry: 2000\n\n\r\n6;ext=1\r\n: ping\r\n0\r\n\r\n";

    #[test]
    fn chunks_are_decoded_whole() {
        let mut decoder = ChunkedDecoder::default();
        assert_eq!(decoder.feed(BODY).unwrap(), b"retry: 2000\n\n: ping");
        assert!(decoder.done);
    }

    #[test]
    fn chunks_split_at_every_byte_give_the_same_data() {
        for split in 0..BODY.len() {
            let mut decoder = ChunkedDecoder::default();
            let mut data = decoder.feed(&BODY[..split]).unwrap();
            data.extend(decoder.feed(&BODY[split..]).unwrap());
            assert_eq!(data, b"retry: 2000\n\n: ping", "split {split}");
            assert!(decoder.done, "split {split}");
        }
    }

    #[test]
    fn a_bad_size_or_missing_crlf_is_an_error() {
        assert!(matches!(
            ChunkedDecoder::default().feed(b"zz\r\n"),
            Err(HttpError::MalformedChunk)
        ));
        assert!(matches!(
            ChunkedDecoder::default().feed(b"2\r\nabXY"),
            Err(HttpError::MalformedChunk)
        ));
    }
}
