//! The protocols the bench speaks, as it uses them: the requests it sends and
//! what it expects back.
//!
//! - [`Protocol::Chat`], the chat contract: a `201` with the stored message
//!   for a POST, a `200` with a JSON array of messages for a GET, events on
//!   `/rooms/{room}/events`.
//! - [`Protocol::Nchan`], Nchan's (the peer measured beside chat-server):
//!   `POST /pub?chan=ROOM` answers `201`/`202` with the channel's
//!   `last_message_id`; a long poll `GET /sub?chan=ROOM` answers one message
//!   with its id in `Last-Modified` and `Etag`, which the next poll sends back
//!   as `If-Modified-Since` and `If-None-Match`, or `408` when its time ran
//!   out; the same URL with `Accept: text/event-stream` is its EventSource
//!   stream. See [`crate::nchan`] for its ids.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use uuid::Uuid;

use crate::error::BenchError;
use crate::http::{Client, Connection, Request, Response};
use crate::nchan;
use crate::sse::{Event, EventReader};
use crate::target::Target;

/// The most messages one GET may return.
pub const MAX_LIMIT: usize = 1000;
/// The `limit` a poller asks for (the contract's default): a poller chained
/// on its cursor normally gets one message per answer.
pub const POLL_LIMIT: usize = 100;
/// How much longer than the requested `timeout` the bench waits for a poll's
/// answer before it calls the poll lost: generous, because a loaded server
/// is slow, but bounded, so a run always ends.
const ANSWER_GRACE: Duration = Duration::from_secs(10);
/// How long any request that should be answered at once may take.
const PROMPT_DEADLINE: Duration = Duration::from_secs(30);
/// How much of an unexpected body an error message quotes.
const QUOTED_BODY_BYTES: usize = 200;
/// Nchan's long-poll timeout (`nchan_subscriber_timeout` in
/// `scripts/nchan.conf`): a poll cannot ask for its own.
const NCHAN_POLL_TIMEOUT_SECS: u64 = 60;
/// What the bench posts to Nchan, which stores any body.
const NCHAN_BODY: &[u8] = b"chat-bench";

/// The protocol of the server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The chat contract (chat-server, or `chat-bench-reference`).
    Chat,
    /// Nchan's publisher and subscriber endpoints, `/pub` and `/sub`.
    Nchan,
}

/// The requests of one room on one server.
#[derive(Debug, Clone)]
pub struct Api {
    target: Target,
    protocol: Protocol,
    /// Chat: `/rooms/{room}/messages`; Nchan: `/pub?chan={room}`.
    publish_path: String,
    /// Chat: `/rooms/{room}/messages`; Nchan: `/sub?chan={room}`.
    subscribe_path: String,
    /// Chat: `/rooms/{room}/events`; Nchan: `/sub?chan={room}`.
    events_path: String,
    /// `Bearer <token>` for a chat-server with access control on.
    authorization: Option<String>,
    /// Where pollers and streams connect, in turn: the server itself, or
    /// other instances on the same store.
    subscribers: Vec<Target>,
    /// How many subscriber connections have been opened, to pick the next
    /// one's instance.
    opened: Arc<AtomicUsize>,
}

/// The answer to a GET: the ids of the messages, oldest first, and when the
/// answer was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The ids, in the order the server listed them.
    pub ids: Vec<Uuid>,
    /// When the last byte of the answer arrived.
    pub received_at: Instant,
}

/// Only the id of each message: the bench checks ids, and skipping the other
/// fields keeps parsing from dominating the catch-up figures.
#[derive(Deserialize)]
struct IdOnly {
    id: Uuid,
}

impl Api {
    /// The requests of `room` on `target`, in `protocol`; the room name
    /// (Nchan's channel) is checked here because it goes into the request line.
    pub fn new(target: Target, protocol: Protocol, room: &str) -> Result<Self, String> {
        let valid = (1..=64).contains(&room.len())
            && room
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(format!(
                "`{room}` is not a room name ([A-Za-z0-9_-]{{1,64}})"
            ));
        }
        let (publish_path, subscribe_path, events_path) = match protocol {
            Protocol::Chat => (
                format!("/rooms/{room}/messages"),
                format!("/rooms/{room}/messages"),
                format!("/rooms/{room}/events"),
            ),
            Protocol::Nchan => (
                format!("/pub?chan={room}"),
                format!("/sub?chan={room}"),
                format!("/sub?chan={room}"),
            ),
        };
        Ok(Self {
            subscribers: vec![target.clone()],
            target,
            protocol,
            publish_path,
            subscribe_path,
            events_path,
            authorization: None,
            opened: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Spreads pollers and streams over `subscribers` in turn (instances
    /// that share the server's store), so that what is posted to the server
    /// is delivered by the others; an empty list keeps them on the server.
    pub fn with_subscribers(mut self, subscribers: Vec<Target>) -> Self {
        if !subscribers.is_empty() {
            self.subscribers = subscribers;
        }
        self
    }

    /// Sends `token` as `Authorization: Bearer` on every chat request but
    /// the sentinel (`/healthz`): to measure a server with access control on.
    pub fn with_token(mut self, token: &str) -> Self {
        self.authorization = Some(format!("Bearer {token}"));
        self
    }

    /// A chat request on this server, with the token if there is one.
    fn chat_request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Request {
        let mut all = headers.to_vec();
        if let Some(authorization) = &self.authorization {
            all.push(("Authorization", authorization));
        }
        Request::new(method, &self.target.host, target, &all, body)
    }

    /// Refuses a scenario that needs the chat contract when the target
    /// speaks another protocol.
    pub fn require_chat(&self, scenario: &str, why: &str) -> Result<(), BenchError> {
        match self.protocol {
            Protocol::Chat => Ok(()),
            Protocol::Nchan => Err(BenchError::Unsupported(format!(
                "{scenario} does not apply to Nchan: {why}"
            ))),
        }
    }

    /// A client with its own keep-alive connection.
    pub fn client(&self) -> Client {
        Client::new(self.target.addr)
    }

    /// Opens one connection for a poller or a stream, on the next of the
    /// subscriber instances.
    pub async fn connect(&self) -> Result<Connection, BenchError> {
        let turn = self.opened.fetch_add(1, Ordering::Relaxed);
        let opening = Connection::open(self.subscribers[turn % self.subscribers.len()].addr);
        Ok(within(PROMPT_DEADLINE, "opening a connection", opening).await??)
    }

    /// `POST` of a short message.
    pub fn post(&self) -> Request {
        match self.protocol {
            Protocol::Chat => self.chat_request(
                "POST",
                &self.publish_path,
                &[],
                Some((
                    "application/json",
                    br#"{"body":"chat-bench","author":"chat-bench"}"#,
                )),
            ),
            Protocol::Nchan => Request::new(
                "POST",
                &self.target.host,
                &self.publish_path,
                &[("Accept", "application/json")],
                Some(("text/plain", NCHAN_BODY)),
            ),
        }
    }

    /// The id of the message a POST stored: the contract's `201` and
    /// message, or Nchan's `201`/`202` and `last_message_id`.
    pub fn posted_id(&self, response: &Response) -> Result<Uuid, BenchError> {
        match self.protocol {
            Protocol::Chat => posted_id(response),
            Protocol::Nchan => {
                let status = if response.status == 202 { 202 } else { 201 };
                expect_status("POST", status, response)?;
                nchan_last_id(response, "POST response")
            }
        }
    }

    /// `GET` of up to `limit` messages after `cursor`, waiting up to
    /// `timeout_secs` for one. Nchan answers one message per poll and has
    /// its own timeout, so it is sent neither.
    pub fn poll(&self, cursor: Uuid, limit: usize, timeout_secs: u64) -> Request {
        match self.protocol {
            Protocol::Chat => {
                let target = format!(
                    "{}?after={cursor}&limit={limit}&timeout={timeout_secs}",
                    self.subscribe_path
                );
                self.chat_request("GET", &target, &[], None)
            }
            Protocol::Nchan => match nchan::cursor_headers(cursor) {
                Some((since, tag)) => Request::new(
                    "GET",
                    &self.target.host,
                    &self.subscribe_path,
                    &[("If-Modified-Since", &since), ("If-None-Match", &tag)],
                    None,
                ),
                None => Request::get(&self.target.host, &self.subscribe_path),
            },
        }
    }

    /// The ids a poll's answer holds: the contract's `200` and JSON array,
    /// or Nchan's one message (`200`) or none (`408`, its time ran out).
    pub fn page_ids(&self, response: &Response) -> Result<Vec<Uuid>, BenchError> {
        match self.protocol {
            Protocol::Chat => page_ids(response),
            Protocol::Nchan if response.status == 408 => Ok(Vec::new()),
            Protocol::Nchan => {
                expect_status("GET", 200, response)?;
                let id = response
                    .header("Last-Modified")
                    .zip(response.header("Etag"))
                    .and_then(|(since, tag)| nchan::id_from_headers(since, tag))
                    .ok_or_else(|| {
                        BenchError::Protocol(
                            "a long-poll answer without a valid Last-Modified and Etag".into(),
                        )
                    })?;
                Ok(vec![id])
            }
        }
    }

    /// Reads the answer to a poll sent with `timeout_secs` on `connection`.
    pub async fn await_page(
        &self,
        connection: &mut Connection,
        timeout_secs: u64,
    ) -> Result<Page, BenchError> {
        let timeout_secs = match self.protocol {
            Protocol::Chat => timeout_secs,
            Protocol::Nchan => NCHAN_POLL_TIMEOUT_SECS,
        };
        let deadline = Duration::from_secs(timeout_secs) + ANSWER_GRACE;
        let response =
            within(deadline, "a long poll's answer", connection.read_response()).await??;
        Ok(Page {
            ids: self.page_ids(&response)?,
            received_at: response.received_at,
        })
    }

    /// Opens the room's event stream on `connection`, starting with the
    /// next new message, and returns once the server answered `200` with
    /// `text/event-stream`: from then on every message posted reaches it.
    pub async fn open_events(&self, connection: Connection) -> Result<EventReader, BenchError> {
        let accept = [("Accept", "text/event-stream")];
        let request = match self.protocol {
            Protocol::Chat => self.chat_request("GET", &self.events_path, &accept, None),
            Protocol::Nchan => {
                Request::new("GET", &self.target.host, &self.events_path, &accept, None)
            }
        };
        let body = within(
            PROMPT_DEADLINE,
            "opening an event stream",
            connection.open_stream(&request),
        )
        .await??;
        let content_type = body.header("Content-Type").unwrap_or_default();
        if body.status() != 200 || !content_type.starts_with("text/event-stream") {
            return Err(BenchError::Status {
                what: "GET of an event stream",
                expected: 200,
                got: body.status(),
                body: format!("Content-Type: {content_type}"),
            });
        }
        Ok(EventReader::new(body))
    }

    /// The id of the message an event carries: a chat-server event is
    /// `event: message` with the message's UUID as `id`; Nchan's has no type
    /// and `SECONDS:TAG` as `id`. Anything else (a `truncated` event) is an
    /// error: the bench's streams start at the newest message.
    pub fn event_message_id(&self, event: &Event) -> Result<Uuid, BenchError> {
        let id = event.id.as_deref().filter(|_| event.kind == "message");
        let parsed = match self.protocol {
            Protocol::Chat => id.and_then(|id| id.parse().ok()),
            Protocol::Nchan => id.and_then(nchan::parse_message_id),
        };
        parsed.ok_or_else(|| {
            BenchError::Protocol(format!(
                "an event that is no message: event {:?}, id {:?}",
                event.kind, event.id
            ))
        })
    }

    /// `GET /healthz`: answered at once and touching no room, the sentinel
    /// that proves a pipelined poll behind it has reached the server.
    fn sentinel(&self) -> Request {
        Request::get(&self.target.host, "/healthz")
    }

    /// The id of the room's newest message, or the nil UUID for an empty
    /// room: the cursor from which a poller sees only what is posted next.
    /// (Nchan: the channel's `last_message_id`; `404` is a channel with none.)
    pub async fn newest_id(&self, client: &mut Client) -> Result<Uuid, BenchError> {
        if self.protocol == Protocol::Nchan {
            let info = Request::new(
                "GET",
                &self.target.host,
                &self.publish_path,
                &[("Accept", "application/json")],
                None,
            );
            let (_, response) = prompt_round_trip(client, &info, "reading the channel").await?;
            if response.status == 404 {
                return Ok(Uuid::nil());
            }
            expect_status("GET of the channel", 200, &response)?;
            return nchan_last_id(&response, "channel info");
        }
        let latest = self.chat_request(
            "GET",
            &format!("{}?limit=1&timeout=0", self.subscribe_path),
            &[],
            None,
        );
        let (_, response) = within(
            PROMPT_DEADLINE,
            "reading the newest message",
            client.round_trip(&latest),
        )
        .await??;
        let ids = page_ids(&response)?;
        Ok(ids.last().copied().unwrap_or(Uuid::nil()))
    }

    /// Sends `poll` behind the sentinel in one write and returns once the
    /// sentinel is answered. From then on the poll is in the server's hands:
    /// its bytes arrived with the sentinel's, and HTTP/1.1 answers pipelined
    /// requests in order, so the server has read up to it and moves straight
    /// on to it. Only how soon it parks remains unobservable, never whether
    /// it is answered: a poll that parks late still gets the message, at once.
    pub async fn park(
        &self,
        connection: &mut Connection,
        poll: &Request,
    ) -> Result<(), BenchError> {
        let sentinel = self.sentinel();
        connection.send(&[&sentinel, poll]).await?;
        let response = within(
            PROMPT_DEADLINE,
            "the sentinel before a poll",
            connection.read_response(),
        )
        .await??;
        connection.acknowledge_now()?;
        expect_status("GET /healthz", 200, &response)
    }
}

/// Sends `request` and reads its answer, which must come promptly.
pub async fn prompt_round_trip(
    client: &mut Client,
    request: &Request,
    what: &'static str,
) -> Result<(Instant, Response), BenchError> {
    Ok(within(PROMPT_DEADLINE, what, client.round_trip(request)).await??)
}

/// Nchan's channel information, as `Accept: application/json` gives it.
#[derive(Deserialize)]
struct NchanChannel {
    last_message_id: String,
}

/// The `last_message_id` of a Nchan channel-information body.
fn nchan_last_id(response: &Response, what: &'static str) -> Result<Uuid, BenchError> {
    let channel: NchanChannel = serde_json::from_slice(&response.body)
        .map_err(|source| BenchError::Json { what, source })?;
    nchan::parse_message_id(&channel.last_message_id).ok_or_else(|| {
        BenchError::Protocol(format!(
            "{what}: `{}` is not a Nchan message id",
            channel.last_message_id
        ))
    })
}

/// The id of the message a POST stored: the contract's `201` and message.
fn posted_id(response: &Response) -> Result<Uuid, BenchError> {
    expect_status("POST", 201, response)?;
    let message: IdOnly =
        serde_json::from_slice(&response.body).map_err(|source| BenchError::Json {
            what: "POST response",
            source,
        })?;
    Ok(message.id)
}

/// The ids of a GET's messages: the contract's `200` and JSON array.
fn page_ids(response: &Response) -> Result<Vec<Uuid>, BenchError> {
    expect_status("GET", 200, response)?;
    let messages: Vec<IdOnly> =
        serde_json::from_slice(&response.body).map_err(|source| BenchError::Json {
            what: "GET response",
            source,
        })?;
    Ok(messages.into_iter().map(|message| message.id).collect())
}

/// A room name no earlier run used, so a run starts from an empty room and
/// nothing else posts into it.
pub fn fresh_room(scenario: &str) -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "bench-{scenario}-{}-{}",
        since_epoch.as_millis(),
        std::process::id()
    )
}

fn expect_status(what: &'static str, expected: u16, response: &Response) -> Result<(), BenchError> {
    if response.status == expected {
        return Ok(());
    }
    let quoted = &response.body[..response.body.len().min(QUOTED_BODY_BYTES)];
    Err(BenchError::Status {
        what,
        expected,
        got: response.status,
        body: String::from_utf8_lossy(quoted).into_owned(),
    })
}

/// Bounds `future` by `limit`, naming what timed out.
async fn within<F: std::future::Future>(
    limit: Duration,
    what: &str,
    future: F,
) -> Result<F::Output, BenchError> {
    tokio::time::timeout(limit, future).await.map_err(|_| {
        BenchError::Timeout(format!("no answer to {what} within {} s", limit.as_secs()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        with_head(status, "", body)
    }

    fn with_head(status: u16, headers: &str, body: &str) -> Response {
        Response {
            status,
            head: format!("HTTP/1.1 {status} X\r\n{headers}\r\n").into_bytes(),
            body: body.as_bytes().to_vec(),
            received_at: Instant::now(),
        }
    }

    fn api(protocol: Protocol) -> Api {
        Api::new("http://127.0.0.1:1".parse().unwrap(), protocol, "room-1").unwrap()
    }

    fn text(request: &Request) -> String {
        String::from_utf8(request.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn a_token_goes_on_every_chat_request_but_the_sentinel() {
        let plain = api(Protocol::Chat);
        assert!(!text(&plain.post()).contains("Authorization"));
        let with = api(Protocol::Chat).with_token("s3cret");
        let bearer = "\r\nAuthorization: Bearer s3cret\r\n";
        let post = text(&with.post());
        assert!(
            post.starts_with("POST /rooms/room-1/messages HTTP/1.1\r\n"),
            "{post}"
        );
        assert!(post.contains(bearer), "{post}");
        assert!(post.ends_with(r#"{"body":"chat-bench","author":"chat-bench"}"#));
        assert!(text(&with.poll(Uuid::nil(), POLL_LIMIT, 60)).contains(bearer));
        assert!(!text(&with.sentinel()).contains("Authorization"));
    }

    #[test]
    fn nchan_requests_name_the_channel_and_carry_the_cursor_as_conditions() {
        let nchan = api(Protocol::Nchan);
        let post = text(&nchan.post());
        assert!(
            post.starts_with("POST /pub?chan=room-1 HTTP/1.1\r\n"),
            "{post}"
        );
        assert!(post.contains("\r\nAccept: application/json\r\n"));
        assert!(post.ends_with("\r\n\r\nchat-bench"));
        let first = text(&nchan.poll(Uuid::nil(), POLL_LIMIT, 60));
        assert_eq!(
            first,
            "GET /sub?chan=room-1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n"
        );
        let cursor = nchan::parse_message_id("1796231756:2").unwrap();
        let next = text(&nchan.poll(cursor, POLL_LIMIT, 60));
        assert!(next.contains("\r\nIf-Modified-Since: Wed, 02 Dec 2026 17:15:56 GMT\r\n"));
        assert!(next.contains("\r\nIf-None-Match: 2\r\n"));
        assert!(!next.contains("timeout"));
    }

    #[test]
    fn nchan_answers_yield_the_ids_of_their_messages() {
        let nchan = api(Protocol::Nchan);
        let published = r#"{"messages": 2, "requested": -1, "subscribers": 0, "last_message_id": "1796231756:1" }"#;
        let id = nchan::parse_message_id("1796231756:1").unwrap();
        assert_eq!(nchan.posted_id(&response(202, published)).unwrap(), id);
        assert_eq!(nchan.posted_id(&response(201, published)).unwrap(), id);
        assert!(nchan.posted_id(&response(500, "")).is_err());
        let answer = with_head(
            200,
            "Last-Modified: Wed, 02 Dec 2026 17:15:56 GMT\r\nEtag: 1\r\n",
            "chat-bench",
        );
        assert_eq!(nchan.page_ids(&answer).unwrap(), vec![id]);
        assert_eq!(
            nchan.page_ids(&response(408, "")).unwrap(),
            Vec::<Uuid>::new()
        );
        assert!(matches!(
            nchan.page_ids(&response(200, "chat-bench")),
            Err(BenchError::Protocol(_))
        ));
    }

    #[test]
    fn event_ids_are_read_in_each_protocol_and_other_events_refused() {
        let event = |kind: &str, id: Option<&str>| Event {
            id: id.map(str::to_owned),
            kind: kind.to_owned(),
            data: String::new(),
            received_at: Instant::now(),
        };
        let uuid = "01936f0e-8a3c-7c1e-9d2b-3f4a5b6c7d8e";
        assert_eq!(
            api(Protocol::Chat)
                .event_message_id(&event("message", Some(uuid)))
                .unwrap(),
            uuid.parse::<Uuid>().unwrap()
        );
        assert_eq!(
            api(Protocol::Nchan)
                .event_message_id(&event("message", Some("1796231756:0")))
                .unwrap(),
            nchan::message_id(1_796_231_756, 0)
        );
        assert!(api(Protocol::Chat)
            .event_message_id(&event("truncated", None))
            .is_err());
        assert!(api(Protocol::Nchan)
            .event_message_id(&event("message", Some(uuid)))
            .is_err());
    }

    #[test]
    fn chat_requests_are_those_of_the_contract() {
        let chat = api(Protocol::Chat);
        let poll = text(&chat.poll(Uuid::nil(), 100, 60));
        assert!(poll.starts_with(
            "GET /rooms/room-1/messages?after=00000000-0000-0000-0000-000000000000&limit=100&timeout=60 "
        ));
        assert!(chat.require_chat("catchup", "x").is_ok());
        assert!(api(Protocol::Nchan).require_chat("catchup", "x").is_err());
    }

    #[test]
    fn pages_and_posts_yield_their_ids() {
        let a = "01936f0e-8a3c-7c1e-9d2b-3f4a5b6c7d8e";
        let b = "01936f0e-8a3c-7c1e-9d2b-3f4a5b6c7d8f";
        let page = format!(r#"[{{"id":"{a}","body":"x","room":"r"}},{{"id":"{b}"}}]"#);
        assert_eq!(
            page_ids(&response(200, &page)).unwrap(),
            vec![a.parse::<Uuid>().unwrap(), b.parse().unwrap()]
        );
        let posted = format!(r#"{{"id":"{a}","author":null}}"#);
        assert_eq!(
            posted_id(&response(201, &posted)).unwrap(),
            a.parse::<Uuid>().unwrap()
        );
    }

    #[test]
    fn another_status_or_shape_is_an_error_that_quotes_the_server() {
        let error = posted_id(&response(503, r#"{"error":"store_unavailable"}"#)).unwrap_err();
        assert!(error.to_string().contains("expected status 201, got 503"));
        assert!(error.to_string().contains("store_unavailable"));
        assert!(matches!(
            page_ids(&response(200, "{}")),
            Err(BenchError::Json { .. })
        ));
    }

    #[test]
    fn room_names_are_checked_before_they_reach_a_request_line() {
        let target: Target = "http://127.0.0.1:1".parse().unwrap();
        let chat = Protocol::Chat;
        assert!(Api::new(target.clone(), chat, "general").is_ok());
        assert!(Api::new(target.clone(), chat, &fresh_room("latency")).is_ok());
        for bad in ["", "a b", "a/b", "x?y", "x&y", &"r".repeat(65)] {
            assert!(Api::new(target.clone(), chat, bad).is_err(), "{bad:?}");
            assert!(
                Api::new(target.clone(), Protocol::Nchan, bad).is_err(),
                "{bad:?}"
            );
        }
    }
}
