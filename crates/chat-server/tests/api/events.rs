//! Server-sent events (`GET /events`, `GET /rooms/{room}/events`), read
//! over real HTTP with a small parser of the `text/event-stream` format.

use std::num::NonZeroUsize;
use std::time::Duration;

use chat_core::store::{Retention, StoreOptions};
use chat_core::{ChatStore, Message};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::helpers::{assert_error, backend_tests, spawn_app, spawn_app_with, Backend, TestApp};

/// How long a test waits for an event that should come at once.
const PROMPT: Duration = Duration::from_secs(10);

/// One block of the stream: the lines up to a blank line.
#[derive(Debug, Default, PartialEq, Eq)]
struct Block {
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    retry: Option<String>,
    comment: Option<String>,
}

impl Block {
    fn parse(text: &str) -> Self {
        let mut block = Self::default();
        for line in text.lines() {
            if let Some(comment) = line.strip_prefix(':') {
                block.comment = Some(comment.trim().to_owned());
                continue;
            }
            let (field, value) = line.split_once(": ").unwrap_or((line, ""));
            let slot = match field {
                "id" => &mut block.id,
                "event" => &mut block.event,
                "data" => &mut block.data,
                "retry" => &mut block.retry,
                other => panic!("unexpected field {other:?} in {text:?}"),
            };
            assert!(slot.is_none(), "repeated field in {text:?}");
            *slot = Some(value.to_owned());
        }
        block
    }

    /// The message of a `message` event, checked against its `id:` line.
    fn message(&self) -> Message {
        assert_eq!(self.event.as_deref(), Some("message"), "{self:?}");
        let message: Message = serde_json::from_str(self.data.as_deref().unwrap()).unwrap();
        assert_eq!(self.id, Some(message.id.to_string()));
        message
    }
}

/// An open event stream.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    /// Opens `path` and checks the head and the first line, `retry: 2000`.
    async fn open(app: &TestApp, path: &str, last_event_id: Option<Uuid>) -> Self {
        let mut request = app.client.get(format!("{}{path}", app.address));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers["content-type"], "text/event-stream");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["x-accel-buffering"], "no");
        let mut events = Self {
            response,
            buffer: String::new(),
        };
        let first = events.next().await.expect("the stream starts");
        assert_eq!(first.retry.as_deref(), Some("2000"));
        events
    }

    /// The next block, or `None` when the server ended the stream.
    async fn next(&mut self) -> Option<Block> {
        tokio::time::timeout(PROMPT, self.read_block())
            .await
            .expect("no event within 10 s")
    }

    async fn read_block(&mut self) -> Option<Block> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block = Block::parse(&self.buffer[..end]);
                self.buffer.drain(..end + 2);
                return Some(block);
            }
            let chunk = self.response.chunk().await.expect("a clean stream");
            match chunk {
                Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => {
                    assert!(self.buffer.is_empty(), "cut mid-event: {:?}", self.buffer);
                    return None;
                }
            }
        }
    }

    /// The next `count` messages, skipping pings.
    async fn messages(&mut self, count: usize) -> Vec<Message> {
        let mut messages = Vec::new();
        while messages.len() < count {
            let block = self.next().await.expect("the stream ended early");
            if block.comment.is_none() {
                messages.push(block.message());
            }
        }
        messages
    }
}

async fn events_come_in_order_with_their_id_and_message(backend: Backend) {
    let app = spawn_app(backend).await;
    app.send("/rooms/sse/messages", "history").await;
    let mut events = Events::open(&app, "/rooms/sse/events", None).await;
    let first = app
        .send("/rooms/sse/messages", "first\nwith a new line")
        .await;
    app.send("/rooms/other/messages", "elsewhere").await;
    let second = app.send("/rooms/sse/messages", "second").await;
    assert_eq!(events.messages(2).await, vec![first, second]);

    let mut general = Events::open(&app, "/events", None).await;
    let hello = app.send("/messages", "hello").await;
    assert_eq!(general.messages(1).await, vec![hello]);
}

async fn after_starts_after_the_cursor_and_the_nil_uuid_replays_history(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut stored = Vec::new();
    for n in 1..=3 {
        stored.push(app.send("/messages", &n.to_string()).await);
    }
    let path = format!("/events?after={}", stored[0].id);
    assert_eq!(
        Events::open(&app, &path, None).await.messages(2).await,
        stored[1..]
    );
    let path = format!("/events?after={}", Uuid::nil());
    let mut from_start = Events::open(&app, &path, None).await;
    assert_eq!(from_start.messages(3).await, stored);
    let fourth = app.send("/messages", "4").await;
    assert_eq!(from_start.messages(1).await, vec![fourth.clone()]);

    // Last-Event-ID wins over `after`.
    let mut resumed = Events::open(&app, &path, Some(stored[2].id)).await;
    assert_eq!(resumed.messages(1).await, vec![fourth]);
}

async fn a_reconnect_with_last_event_id_gets_every_message_once_in_order(backend: Backend) {
    const MESSAGES: usize = 60;
    let app = spawn_app(backend).await;
    let address = app.address.clone();
    let poster = tokio::spawn(async move {
        let client = reqwest::Client::new();
        for n in 0..MESSAGES {
            let response = client
                .post(format!("{address}/rooms/resume/messages"))
                .json(&json!({ "body": n.to_string() }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
        }
    });
    let path = format!("/rooms/resume/events?after={}", Uuid::nil());
    let mut received: Vec<Message> = Vec::new();
    while received.len() < MESSAGES {
        // A short connection each time: drop it after a few events, while
        // the poster goes on, and resume from the last one received.
        let last = received.last().map(|m| m.id);
        let mut events = Events::open(&app, &path, last).await;
        let batch = 7.min(MESSAGES - received.len());
        received.extend(events.messages(batch).await);
    }
    poster.await.unwrap();
    let stored = app
        .read_now(
            "/rooms/resume/messages",
            &format!("after={}&limit=1000", Uuid::nil()),
        )
        .await;
    assert_eq!(stored.len(), MESSAGES);
    assert_eq!(received, stored);
}

async fn a_stream_behind_retention_starts_with_a_truncated_event(backend: Backend) {
    let options = StoreOptions {
        retention: Retention {
            per_room: NonZeroUsize::new(2),
            max_age: None,
        },
        ..StoreOptions::default()
    };
    let app = spawn_app_with(backend, options, |_| {}).await;
    let mut stored = Vec::new();
    for n in 1..=4 {
        stored.push(app.send("/messages", &n.to_string()).await);
    }
    assert_eq!(app.store.prune().await.unwrap(), 2);

    for cursor in [Uuid::nil(), stored[0].id] {
        let mut events = Events::open(&app, &format!("/events?after={cursor}"), None).await;
        let truncated = events.next().await.unwrap();
        let expected = Block {
            event: Some("truncated".into()),
            data: Some("{}".into()),
            ..Block::default()
        };
        assert_eq!(truncated, expected);
        assert_eq!(events.messages(2).await, stored[2..]);
    }
    let mut caught_up = Events::open(&app, "/events", Some(stored[2].id)).await;
    assert_eq!(caught_up.next().await.unwrap().message(), stored[3]);
}

async fn bad_room_after_and_last_event_id_are_400_json(backend: Backend) {
    let app = spawn_app(backend).await;
    let get = |path: &str, last_event_id: Option<&str>| {
        let mut request = app.client.get(format!("{}{path}", app.address));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        request.send()
    };
    let id = Uuid::from_u128(42);
    for (path, header, code) in [
        ("/rooms/no%20spaces/events".to_owned(), None, "invalid_room"),
        (
            "/events?after=not-a-uuid".to_owned(),
            None,
            "invalid_parameter",
        ),
        ("/events?after=".to_owned(), None, "invalid_parameter"),
        (
            format!("/events?after={id}&after={id}"),
            None,
            "invalid_parameter",
        ),
        (
            "/events".to_owned(),
            Some("not-a-uuid"),
            "invalid_parameter",
        ),
        ("/events".to_owned(), Some(""), "invalid_parameter"),
        // A bad `after` is refused even where a good Last-Event-ID wins.
        (
            "/events?after=bad".to_owned(),
            Some("01936f0e-8a3c-7c1e-9d2b-3f4a5b6c7d8e"),
            "invalid_parameter",
        ),
        (
            format!("/events?after={id}"),
            Some("42"),
            "invalid_parameter",
        ),
    ] {
        let response = get(&path, header).await.unwrap();
        assert_eq!(assert_error(response, 400).await, code, "{path} {header:?}");
    }
    let post = app.post_json("/events", &json!({ "body": "x" })).await;
    assert_eq!(post.headers()["allow"], "GET");
    assert_error(post, 405).await;
}

async fn a_silent_stream_gets_pings(backend: Backend) {
    let app = spawn_app_with(backend, StoreOptions::default(), |config| {
        config.sse_ping_interval = 1;
    })
    .await;
    let mut events = Events::open(&app, "/events", None).await;
    let ping = Block {
        comment: Some("ping".into()),
        ..Block::default()
    };
    assert_eq!(events.next().await.unwrap(), ping);
    let message = app.send("/messages", "between pings").await;
    assert_eq!(events.messages(1).await, vec![message]);
    assert_eq!(events.next().await.unwrap(), ping);
}

async fn shutdown_ends_event_streams(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut events = Events::open(&app, "/events", None).await;
    let mut other = Events::open(&app, "/rooms/quiet/events", None).await;
    app.trigger_shutdown();
    assert_eq!(events.next().await, None);
    assert_eq!(other.next().await, None);
    tokio::time::timeout(Duration::from_secs(15), app.stopped())
        .await
        .expect("the server must exit")
        .unwrap();
}

/// A client that never reads while megabytes of events are due: the server
/// keeps only what the socket buffers hold and closes the connection once
/// nothing could be written for 30 s (a keep-alive probe of the client then
/// meets the reset, which the test awaits).
async fn a_client_that_stops_reading_is_cut_off(backend: Backend) {
    const MESSAGES: usize = 100;
    const BODY: usize = 90_000;
    let app = spawn_app_with(backend, StoreOptions::default(), |config| {
        config.max_body_bytes = 100_000;
    })
    .await;
    let address = app
        .address
        .strip_prefix("http://")
        .unwrap()
        .parse()
        .unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(1))
        .with_interval(Duration::from_secs(1));
    socket2::SockRef::from(&stream)
        .set_tcp_keepalive(&keepalive)
        .unwrap();
    stream
        .write_all(b"GET /events HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    app.store.wait_for_watches(1).await;
    let body = "x".repeat(BODY);
    for _ in 0..MESSAGES {
        app.send("/messages", &body).await;
    }

    let reset = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(error) = stream.take_error().unwrap() {
                return error;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the server never closed the connection of a client that does not read");
    assert_eq!(reset.kind(), std::io::ErrorKind::ConnectionReset);
    let mut received = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut received).await;
    assert!(
        received.len() < MESSAGES * BODY / 2,
        "{} bytes reached a client that did not read",
        received.len()
    );
}

backend_tests!(
    events_come_in_order_with_their_id_and_message,
    after_starts_after_the_cursor_and_the_nil_uuid_replays_history,
    a_reconnect_with_last_event_id_gets_every_message_once_in_order,
    a_stream_behind_retention_starts_with_a_truncated_event,
    bad_room_after_and_last_event_id_are_400_json,
    a_silent_stream_gets_pings,
    shutdown_ends_event_streams,
    a_client_that_stops_reading_is_cut_off,
);
