//! A lean HTTP/1.1 client over a tokio [`TcpStream`](tokio::net::TcpStream):
//! just enough for the chat contract, and cheap enough per connection that
//! the generator can hold tens of thousands of parked polls.
//!
//! - [`request`]: a request serialized once into bytes, so a poster or a
//!   poller reuses it without formatting anything per round trip.
//! - [`response`]: the response head, parsed with `httparse`, and how long
//!   its body is (only `Content-Length` framing for answers that end;
//!   chunked bodies are refused with a clear error there, since the
//!   contract's server never sends them outside event streams).
//! - [`connection`]: one keep-alive connection; requests may be pipelined.
//! - [`client`]: a connection that reconnects itself when the server closes.
//! - [`stream`]: the body of a response that may never end (an event
//!   stream), chunked or close-delimited, read as it arrives.

pub mod client;
pub mod connection;
pub mod request;
pub mod response;
pub mod stream;

use std::io;
use std::net::SocketAddr;

pub use client::Client;
pub use connection::Connection;
pub use request::Request;
pub use response::Response;
pub use stream::BodyStream;

/// Why an exchange over HTTP failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The TCP connection could not be opened.
    #[error("cannot connect to {addr}")]
    Connect {
        /// Where the client tried to connect.
        addr: SocketAddr,
        /// Why it could not.
        #[source]
        source: io::Error,
    },
    /// Reading or writing the socket failed.
    #[error("connection error")]
    Io(#[from] io::Error),
    /// The server closed the connection before a complete response.
    #[error("the server closed the connection before a complete response")]
    Closed,
    /// The response head is not valid HTTP/1.x.
    #[error("malformed response head: {0}")]
    MalformedHead(#[from] httparse::Error),
    /// The response head did not end within the size this client accepts.
    #[error("response head larger than {} bytes", response::MAX_HEAD_BYTES)]
    HeadTooLarge,
    /// The response uses a transfer coding, which this client does not decode.
    #[error(
        "the response uses `Transfer-Encoding: {0}`, which this client does not decode \
         (the contract's server answers with Content-Length)"
    )]
    UnsupportedTransferEncoding(String),
    /// A response that must have a body gave no `Content-Length`.
    #[error("the response has a body but no Content-Length")]
    MissingContentLength,
    /// `Content-Length` is not a number, or two of them disagree.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// A chunked body is not valid chunked coding.
    #[error("malformed chunked body")]
    MalformedChunk,
    /// The body is larger than this client accepts.
    #[error("response body of {length} bytes is larger than {limit} bytes")]
    BodyTooLarge {
        /// The declared length.
        length: usize,
        /// The most this client accepts.
        limit: usize,
    },
}
