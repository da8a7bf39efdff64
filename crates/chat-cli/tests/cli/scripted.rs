//! A stand-in HTTP server that answers what a test scripts and records every
//! request it gets: for what the real server does not do yet (idempotency
//! keys, tokens) or does not do on demand (a 503, a lost answer, an event
//! stream cut mid-event, CRLF line ends).

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What to do with the next request.
pub enum Reply {
    /// Read the request, then close the connection without an answer: a
    /// lost answer, as when the server dies after storing a message.
    Drop,
    /// Answer with this status line (`"201 Created"`), extra headers and
    /// JSON body.
    Answer {
        /// The status code and reason.
        status: &'static str,
        /// Headers besides `Content-Type`, `Content-Length` and `Connection`.
        headers: Vec<(&'static str, &'static str)>,
        /// The JSON body.
        body: String,
    },
    /// Answer `200 text/event-stream` with this body, then close the
    /// connection: a stream the server ended (or lost) there.
    Events(String),
}

impl Reply {
    /// An answer without extra headers.
    pub fn json(status: &'static str, body: impl Into<String>) -> Self {
        Self::Answer {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// The contract's error body, `{"error": code, "message": message}`.
    pub fn error(status: &'static str, code: &str, message: &str) -> Self {
        Self::json(
            status,
            serde_json::json!({ "error": code, "message": message }).to_string(),
        )
    }
}

/// One request, as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query.
    pub target: String,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The value of header `name` (case-insensitive), if it was sent once;
    /// panics if it was sent twice.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self
            .headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str());
        let value = values.next();
        assert!(values.next().is_none(), "{name} sent twice: {self:?}");
        value
    }
}

/// A running scripted server.
pub struct ScriptedServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl ScriptedServer {
    /// Starts a server on a free port that handles one request per
    /// connection, replying with the next of `replies`; once they are used
    /// up it stops listening, so further connections are refused.
    pub async fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        tokio::spawn(async move {
            for reply in replies {
                // A connection closed before it sent a request uses no reply.
                let mut socket = loop {
                    let (mut socket, _) = listener.accept().await.expect("accept");
                    if let Some(request) = read_request(&mut socket).await {
                        recorded.lock().expect("not poisoned").push(request);
                        break socket;
                    }
                };
                let answer = match reply {
                    Reply::Drop => continue,
                    Reply::Answer {
                        status,
                        headers,
                        body,
                    } => {
                        let mut head = format!(
                            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
                             Content-Length: {}\r\nConnection: close\r\n",
                            body.len()
                        );
                        for (name, value) in headers {
                            head.push_str(&format!("{name}: {value}\r\n"));
                        }
                        head + "\r\n" + &body
                    }
                    // Without a length, the body ends where the connection does.
                    Reply::Events(body) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                         Connection: close\r\n\r\n{body}"
                    ),
                };
                socket.write_all(answer.as_bytes()).await.expect("write");
            }
        });
        Self { url, requests }
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("not poisoned").clone()
    }
}

/// Reads one request, its head and its `Content-Length` body; `None` when
/// the client closed the connection first.
async fn read_request(socket: &mut TcpStream) -> Option<Request> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0; 1];
        if socket.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("an ASCII request head");
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map_or(0, |(_, value)| value.parse().expect("a length"));
    let mut body = vec![0; length];
    socket.read_exact(&mut body).await.ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

/// The event of `message` (a [`message_json`]) as the server streams it.
pub fn message_event(message: &serde_json::Value) -> String {
    format!(
        "id: {}\nevent: message\ndata: {message}\n\n",
        message["id"].as_str().expect("an id")
    )
}

/// A stored message as the server would answer it, with id `id`.
pub fn message_json(id: u128, body: &str) -> serde_json::Value {
    serde_json::json!({
        "id": uuid::Uuid::from_u128(id),
        "room": "general",
        "created_at": "2026-11-28T21:21:14.123456Z",
        "author": null,
        "body": body,
    })
}
