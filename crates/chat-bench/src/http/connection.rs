//! One keep-alive connection.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::response::{parse_head, parse_stream_head, Response};
use super::stream::BodyStream;
use super::{HttpError, Request};

/// Bytes reserved per read: a whole small response in one system call.
const READ_CHUNK: usize = 4096;

/// An open HTTP/1.1 connection to the server.
///
/// Its read buffer is allocated only once the socket is readable and handed
/// over to the response when it is complete, so a connection whose poll is
/// parked holds no buffer at all: what a parked poller costs the generator is
/// the socket and its task.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    /// Bytes read but not yet consumed (a head in progress, or a pipelined
    /// response that arrived together with the one before it).
    buf: Vec<u8>,
    /// False once the server said it will close the connection.
    reusable: bool,
}

impl Connection {
    /// Opens a connection, with Nagle's algorithm off so a request leaves at
    /// once instead of waiting for the previous segment's acknowledgement.
    pub async fn open(addr: SocketAddr) -> Result<Self, HttpError> {
        let connect_error = |source| HttpError::Connect { addr, source };
        let stream = TcpStream::connect(addr).await.map_err(connect_error)?;
        stream.set_nodelay(true).map_err(connect_error)?;
        Ok(Self {
            stream,
            buf: Vec::new(),
            reusable: true,
        })
    }

    /// Writes `requests` in one go (pipelined when there are several) and
    /// returns the time just before the write: what "sent" means in every
    /// measurement.
    pub async fn send(&mut self, requests: &[&Request]) -> Result<Instant, HttpError> {
        let joined;
        let bytes = match requests {
            [one] => one.as_bytes(),
            many => {
                joined = many
                    .iter()
                    .flat_map(|request| request.as_bytes())
                    .copied()
                    .collect::<Vec<u8>>();
                &joined
            }
        };
        let sent_at = Instant::now();
        self.stream.write_all(bytes).await?;
        Ok(sent_at)
    }

    /// Reads the next response (responses come back in request order).
    pub async fn read_response(&mut self) -> Result<Response, HttpError> {
        let head = loop {
            if let Some(head) = parse_head(&self.buf)? {
                break head;
            }
            self.fill().await?;
        };
        let total = head.head_len + head.body_len;
        while self.buf.len() < total {
            self.fill().await?;
        }
        let received_at = Instant::now();
        let head_bytes = self.buf[..head.head_len].to_vec();
        let body = if self.buf.len() == total {
            // The usual case: hand the buffer itself over, leaving none behind.
            let mut bytes = std::mem::take(&mut self.buf);
            bytes.drain(..head.head_len);
            bytes
        } else {
            let body = self.buf[head.head_len..total].to_vec();
            self.buf.drain(..total);
            body
        };
        self.reusable &= head.keep_alive;
        Ok(Response {
            status: head.status,
            head: head_bytes,
            body,
            received_at,
        })
    }

    /// Sends one request and reads its response; returns when it was sent.
    pub async fn round_trip(
        &mut self,
        request: &Request,
    ) -> Result<(Instant, Response), HttpError> {
        let sent_at = self.send(&[request]).await?;
        Ok((sent_at, self.read_response().await?))
    }

    /// Acknowledges what has been read at once, rather than when the
    /// kernel's delayed-ACK timer (about 40 ms) fires.
    ///
    /// Needed after reading one of two pipelined responses: a server that
    /// leaves Nagle's algorithm on (actix-web's default) holds the second,
    /// small response until the first is acknowledged, and with nothing more
    /// to send the client would acknowledge late. A client that sends its
    /// next request after each answer carries the ACK with it, so this stall
    /// belongs to pipelining alone and must not leak into the figures.
    pub fn acknowledge_now(&self) -> Result<(), HttpError> {
        Ok(self.stream.set_quickack(true)?)
    }

    /// Whether another request may be sent on this connection.
    pub fn is_reusable(&self) -> bool {
        self.reusable
    }

    /// Sends `request` and reads the head of its answer, whose body may be
    /// endless: the connection becomes a [`BodyStream`] of that body.
    pub async fn open_stream(mut self, request: &Request) -> Result<BodyStream, HttpError> {
        self.send(&[request]).await?;
        let head = loop {
            if let Some(head) = parse_stream_head(&self.buf)? {
                break head;
            }
            self.fill().await?;
        };
        let head_bytes = self.buf[..head.head_len].to_vec();
        self.buf.drain(..head.head_len);
        Ok(BodyStream::new(self, head.status, head_bytes, head.framing))
    }

    /// Takes the bytes read but not consumed yet.
    pub(super) fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Reads whatever the socket has, waiting for readiness first so that no
    /// buffer is reserved while the server has nothing to say.
    pub(super) async fn fill(&mut self) -> Result<(), HttpError> {
        loop {
            self.stream.readable().await?;
            self.buf.reserve(READ_CHUNK);
            match self.stream.try_read_buf(&mut self.buf) {
                Ok(0) => return Err(HttpError::Closed),
                Ok(_) => return Ok(()),
                // Readiness can be spurious; wait again.
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// A server that reads `expect` bytes of requests, then writes `replies`
    /// one write at a time (so responses arrive split or merged as given).
    async fn canned_server(expect: usize, replies: Vec<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0; expect];
            socket.read_exact(&mut request).await.unwrap();
            for reply in replies {
                socket.write_all(reply).await.unwrap();
                socket.flush().await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn responses_split_across_writes_or_merged_in_one_are_both_read() {
        let get = Request::get("h", "/");
        let addr = canned_server(
            get.as_bytes().len() * 3,
            vec![
                b"HTTP/1.1 200 OK\r\nContent-Le",
                b"ngth: 5\r\n\r\nhel",
                b"loHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}",
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]",
            ],
        )
        .await;
        let mut connection = Connection::open(addr).await.unwrap();
        connection.send(&[&get, &get, &get]).await.unwrap();

        let first = connection.read_response().await.unwrap();
        assert_eq!((first.status, &first.body[..]), (200, &b"hello"[..]));
        let second = connection.read_response().await.unwrap();
        assert_eq!((second.status, &second.body[..]), (201, &b"{}"[..]));
        assert!(connection.is_reusable());
        let third = connection.read_response().await.unwrap();
        assert_eq!(&third.body[..], b"[]");
        assert!(!connection.is_reusable());
    }

    #[tokio::test]
    async fn a_connection_closed_mid_body_is_an_error() {
        let get = Request::get("h", "/");
        let addr = canned_server(
            get.as_bytes().len(),
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"],
        )
        .await;
        let mut connection = Connection::open(addr).await.unwrap();
        let error = connection.round_trip(&get).await.unwrap_err();
        assert!(matches!(error, HttpError::Closed), "{error:?}");
    }
}
