//! The HTTP side of the contract: posting a message, reading a page and
//! opening an event stream, with every failure sorted into a [`ClientError`]
//! that says whether trying again can help.

use std::time::Duration;

use chat_core::{Message, RoomName};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::client_error::{Access, ClientError, ErrorBody, Refusal};
use crate::event_stream::{EventStream, EVENT_STREAM};

/// Seconds a long poll asks the server to wait unless told otherwise (the
/// contract allows 0 to 60).
pub const DEFAULT_LONG_POLL_SECS: u64 = 30;

/// Longest a request that does not wait may take; for an event stream, the
/// longest its answer's head may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Room beyond a long poll's own wait for a slow network, so a healthy poll
/// never times out on our side.
const LONG_POLL_GRACE: Duration = Duration::from_secs(15);

/// Longest a connection attempt may take; a server that is down or
/// unreachable should be noticed quickly.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Set to `true` on a page when retention deleted messages the cursor had not
/// reached yet.
const HISTORY_TRUNCATED: &str = "chat-history-truncated";

/// Names a POST, so that the server stores it once however often it is sent.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Where an event stream resumes: the id of the last event received.
const LAST_EVENT_ID: &str = "last-event-id";

/// Talks to one room of one server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// The server's base URL, without query or fragment, ending in `/`.
    server: Url,
    /// The room; `general` when the default room is used.
    room: RoomName,
    /// `/messages`, or `/rooms/{room}/messages`, under the server's base URL.
    messages: Url,
    /// `/events`, or `/rooms/{room}/events`, under the server's base URL.
    events: Url,
    /// Whether every request carries a token.
    token_sent: bool,
}

/// Which page of a room to read; the answer is always oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// The newest `limit` messages, answered at once even when there are none.
    Latest {
        /// Most messages returned (1 to 1000).
        limit: u16,
    },
    /// The oldest `limit` messages newer than `cursor`, long-polling for up
    /// to `wait_secs` when there are none yet.
    After {
        /// Exclusive lower bound; the nil UUID means the start of the room.
        cursor: Uuid,
        /// Most messages returned (1 to 1000).
        limit: u16,
        /// Seconds the server may wait for a message (0 to 60).
        wait_secs: u64,
    },
}

/// Where an event stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    /// After this message id, given as the `after` query parameter: how a
    /// first connection starts.
    After(Uuid),
    /// After this message id, given as the `Last-Event-ID` header: how a
    /// stream resumes, as a browser's `EventSource` does.
    LastEventId(Uuid),
}

/// The answer to a [`Query`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The messages, oldest first.
    pub messages: Vec<Message>,
    /// True when retention deleted messages newer than the cursor before they
    /// could be read.
    pub truncated: bool,
}

/// An access token, checked and ready to go into the `Authorization`
/// header; its `Debug` form does not show it.
#[derive(Debug, Clone)]
pub struct BearerToken(HeaderValue);

impl BearerToken {
    /// Accepts a token of visible ASCII characters (what `chat-server token
    /// new` prints), the only ones a header can carry unambiguously.
    pub fn parse(token: &str) -> Result<Self, String> {
        if token.is_empty() {
            return Err("a token cannot be empty".to_owned());
        }
        if let Some(bad) = token.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(format!(
                "a token is made of visible ASCII characters, without spaces; it contains {bad:?}"
            ));
        }
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|error| format!("not a valid token: {error}"))?;
        value.set_sensitive(true);
        Ok(Self(value))
    }
}

/// The body of a POST.
#[derive(Serialize)]
struct Submission<'a> {
    body: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<&'a str>,
}

impl Client {
    /// A client for `room` (the server's default room when `None`) on the
    /// server at `server`, sending `token` with every request.
    pub fn new(
        server: &Url,
        room: Option<&RoomName>,
        token: Option<&BearerToken>,
    ) -> Result<Self, ClientError> {
        let mut headers = HeaderMap::new();
        if let Some(BearerToken(value)) = token {
            headers.insert(AUTHORIZATION, value.clone());
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("chat-cli/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            // No overall timeout: an event stream stays open for good. Each
            // request sets its own instead.
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(ClientError::Setup)?;
        let server = base_url(server);
        Ok(Self {
            http,
            messages: room_url(&server, room, "messages"),
            events: room_url(&server, room, "events"),
            server,
            room: room.cloned().unwrap_or_else(RoomName::general),
            token_sent: token.is_some(),
        })
    }

    /// The server's base URL, normalised: without query or fragment, ending
    /// in `/`, so `http://h:8080` and `http://h:8080/` are one server.
    pub fn server(&self) -> &Url {
        &self.server
    }

    /// The room, `general` for the default room.
    pub fn room(&self) -> &RoomName {
        &self.room
    }

    /// Posts one message under `idempotency_key` and returns it as stored:
    /// a `201`, or the `200` replay of the message a previous attempt with
    /// the same key stored. Sending the same key again is therefore safe.
    pub async fn post(
        &self,
        body: &str,
        author: Option<&str>,
        idempotency_key: &str,
    ) -> Result<Message, ClientError> {
        let request = self
            .http
            .post(self.messages.clone())
            .timeout(REQUEST_TIMEOUT)
            .header(IDEMPOTENCY_KEY, idempotency_key)
            .json(&Submission { body, author });
        let (_, message) = self.send(request, Access::Post).await?;
        Ok(message)
    }

    /// Reads one page of the room.
    pub async fn get(&self, query: Query) -> Result<Page, ClientError> {
        let request = match query {
            Query::Latest { limit } => self
                .http
                .get(self.messages.clone())
                .query(&[("limit", limit.to_string()), ("timeout", "0".to_owned())])
                .timeout(REQUEST_TIMEOUT),
            Query::After {
                cursor,
                limit,
                wait_secs,
            } => self
                .http
                .get(self.messages.clone())
                .query(&[
                    ("after", cursor.to_string()),
                    ("limit", limit.to_string()),
                    ("timeout", wait_secs.to_string()),
                ])
                .timeout(Duration::from_secs(wait_secs) + LONG_POLL_GRACE),
        };
        let (headers, messages) = self.send(request, Access::Read).await?;
        let truncated = headers
            .get(HISTORY_TRUNCATED)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
        Ok(Page {
            messages,
            truncated,
        })
    }

    /// Opens the room's event stream, starting after `start`. An error
    /// status, or an answer that is not an event stream, is an error before
    /// any event.
    pub async fn events(&self, start: StreamStart) -> Result<EventStream, ClientError> {
        let request = self
            .http
            .get(self.events.clone())
            .header(ACCEPT, EVENT_STREAM);
        let request = match start {
            StreamStart::After(cursor) => request.query(&[("after", cursor.to_string())]),
            StreamStart::LastEventId(cursor) => request.header(LAST_EVENT_ID, cursor.to_string()),
        };
        let answer = self.answer(request, Access::Read, &self.events);
        let response = tokio::time::timeout(REQUEST_TIMEOUT, answer)
            .await
            .map_err(|_| ClientError::Silent {
                url: self.events.clone(),
                silence: REQUEST_TIMEOUT,
            })??;
        EventStream::new(response, self.events.clone())
    }

    /// Sends `request` and decodes the JSON answer; an error status becomes
    /// the matching [`ClientError`].
    async fn send<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        access: Access,
    ) -> Result<(HeaderMap, T), ClientError> {
        let response = self.answer(request, access, &self.messages).await?;
        let headers = response.headers().clone();
        // Reading the body can fail too (the server stopped mid-answer),
        // which is a network error like any other.
        let bytes = response
            .bytes()
            .await
            .map_err(|error| ClientError::network(&self.messages, error))?;
        let answer = serde_json::from_slice(&bytes).map_err(ClientError::InvalidAnswer)?;
        Ok((headers, answer))
    }

    /// Sends `request` (to `url`, for error messages) and returns a success
    /// answer with its body unread; an error status becomes the matching
    /// [`ClientError`].
    async fn answer(
        &self,
        request: RequestBuilder,
        access: Access,
        url: &Url,
    ) -> Result<Response, ClientError> {
        let network = |error| ClientError::network(url, error);
        let response = request.send().await.map_err(network)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(network)?;
        let refusal = Refusal {
            status,
            body: serde_json::from_slice::<ErrorBody>(&bytes).ok(),
            retry_after,
        };
        Err(ClientError::refused(
            refusal,
            access,
            &self.room,
            self.token_sent,
        ))
    }
}

/// The `Retry-After` of an answer, when it gives seconds (an HTTP date is
/// not worth a clock comparison here).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// `server` without query or fragment, its path ending in `/`.
pub(crate) fn base_url(server: &Url) -> Url {
    let mut url = server.clone();
    url.set_query(None);
    url.set_fragment(None);
    // Always `Ok`: `parse_server` admits only http(s) URLs, which have a path.
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push("");
    }
    url
}

/// `/<leaf>` for the default room (as the contract spells `/messages` and
/// `/events`), otherwise `/rooms/{room}/<leaf>`, appended to the path of
/// `base` (a [`base_url`]).
fn room_url(base: &Url, room: Option<&RoomName>, leaf: &str) -> Url {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty();
        if let Some(room) = room {
            segments.extend(["rooms", room.as_str()]);
        }
        segments.push(leaf);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn the_default_room_uses_the_short_path() {
        let client = Client::new(&url("http://localhost:8080"), None, None).unwrap();
        assert_eq!(client.messages.as_str(), "http://localhost:8080/messages");
        assert_eq!(client.events.as_str(), "http://localhost:8080/events");
    }

    #[test]
    fn a_named_room_uses_the_rooms_path_under_any_base_path() {
        let room = RoomName::parse("ops").unwrap();
        for base in ["http://h/chat", "http://h/chat/", "http://h/chat/?x=1#y"] {
            let client = Client::new(&url(base), Some(&room), None).unwrap();
            assert_eq!(
                client.messages.as_str(),
                "http://h/chat/rooms/ops/messages",
                "{base}"
            );
            assert_eq!(
                client.events.as_str(),
                "http://h/chat/rooms/ops/events",
                "{base}"
            );
            assert_eq!(client.server().as_str(), "http://h/chat/", "{base}");
            assert_eq!(client.room(), &room);
        }
    }

    #[test]
    fn the_default_room_is_general_on_a_normalised_server() {
        let client = Client::new(&url("HTTP://Example.COM:80"), None, None).unwrap();
        assert_eq!(client.server().as_str(), "http://example.com/");
        assert_eq!(client.room(), &RoomName::general());
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let headers = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert_eq!(retry_after(&headers(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&headers("Wed, 21 Oct 2026 07:28:00 GMT")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn a_token_becomes_a_hidden_bearer_header() {
        let token = BearerToken::parse("s3cr3t_-.~+/=").unwrap();
        assert_eq!(token.0, "Bearer s3cr3t_-.~+/=");
        assert!(!format!("{token:?}").contains("s3cr3t"), "{token:?}");
        for bad in ["", "two words", "tab\there", "caf\u{e9}"] {
            assert!(BearerToken::parse(bad).is_err(), "{bad:?}");
        }
    }
}
