//! The HTTP side of the contract: posting a message and reading a page, with
//! every failure sorted into a [`ClientError`] that says whether trying again
//! can help.

use std::time::Duration;

use chat_core::{Message, RoomName};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Seconds a long poll asks the server to wait unless told otherwise (the
/// contract allows 0 to 60).
pub const DEFAULT_LONG_POLL_SECS: u64 = 30;

/// Longest a request that does not wait may take.
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

/// Talks to one room of one server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `/messages`, or `/rooms/{room}/messages`, under the server's base URL.
    messages: Url,
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

/// The answer to a [`Query`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The messages, oldest first.
    pub messages: Vec<Message>,
    /// True when retention deleted messages newer than the cursor before they
    /// could be read.
    pub truncated: bool,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP client could not be set up (e.g. no TLS support available).
    #[error("cannot set up the HTTP client: {}", root_cause(.0))]
    Setup(reqwest::Error),
    /// No answer: the server is down, unreachable, or the connection broke.
    #[error("request to {url} failed: {}", root_cause(.error))]
    Network {
        /// What was requested.
        url: Url,
        /// The underlying failure; only its root cause is shown, since the
        /// layers above it repeat the URL.
        error: reqwest::Error,
    },
    /// The server refused the request with the contract's JSON error.
    #[error("{message} ({code}, HTTP {})", .status.as_u16())]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The machine-readable code, e.g. `payload_too_large`.
        code: String,
        /// The server's explanation.
        message: String,
    },
    /// An error status without the contract's JSON body, e.g. from a proxy.
    #[error("the server answered HTTP {status}")]
    Status {
        /// The HTTP status.
        status: StatusCode,
    },
    /// A success status with a body that is not what the contract promises.
    #[error("the server's answer is not valid: {0}")]
    InvalidAnswer(#[source] serde_json::Error),
}

impl ClientError {
    /// True when the same request may succeed later: the server is
    /// unreachable, restarting, overloaded or failing for a while. Anything
    /// else (a 4xx, a malformed answer) would fail the same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network { .. } => true,
            Self::Api { status, .. } | Self::Status { status } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            Self::Setup(_) | Self::InvalidAnswer(_) => false,
        }
    }
}

/// The body of a POST.
#[derive(Serialize)]
struct Submission<'a> {
    body: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<&'a str>,
}

/// The contract's error body.
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
}

impl Client {
    /// A client for `room` (the server's default room when `None`) on the
    /// server at `server`.
    pub fn new(server: &Url, room: Option<&RoomName>) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("chat-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(ClientError::Setup)?;
        Ok(Self {
            http,
            messages: messages_url(server, room),
        })
    }

    /// Posts one message and returns it as stored. Never retried: a POST
    /// whose answer was lost may have been stored, and a retry would post it
    /// twice.
    pub async fn post(&self, body: &str, author: Option<&str>) -> Result<Message, ClientError> {
        let request = self
            .http
            .post(self.messages.clone())
            .json(&Submission { body, author });
        let (_, message) = self.send(request).await?;
        Ok(message)
    }

    /// Reads one page of the room.
    pub async fn get(&self, query: Query) -> Result<Page, ClientError> {
        let request = match query {
            Query::Latest { limit } => self
                .http
                .get(self.messages.clone())
                .query(&[("limit", limit.to_string()), ("timeout", "0".to_owned())]),
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
        let (headers, messages) = self.send(request).await?;
        let truncated = headers
            .get(HISTORY_TRUNCATED)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
        Ok(Page {
            messages,
            truncated,
        })
    }

    /// Sends `request` and decodes the JSON answer; an error status becomes
    /// the matching [`ClientError`].
    async fn send<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<(HeaderMap, T), ClientError> {
        let network = |error| ClientError::Network {
            url: self.messages.clone(),
            error,
        };
        let response = request.send().await.map_err(network)?;
        let status = response.status();
        let headers = response.headers().clone();
        // Reading the body can fail too (the server stopped mid-answer),
        // which is a network error like any other.
        let bytes = response.bytes().await.map_err(network)?;
        if status.is_success() {
            let answer = serde_json::from_slice(&bytes).map_err(ClientError::InvalidAnswer)?;
            return Ok((headers, answer));
        }
        Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => ClientError::Api {
                status,
                code: body.error,
                message: body.message,
            },
            Err(_) => ClientError::Status { status },
        })
    }
}

/// `/messages` for the default room (as the contract spells it), otherwise
/// `/rooms/{room}/messages`, appended to whatever path `server` already has.
fn messages_url(server: &Url, room: Option<&RoomName>) -> Url {
    let mut url = server.clone();
    url.set_query(None);
    url.set_fragment(None);
    // Always `Ok`: `parse_server` admits only http(s) URLs, which have a path.
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty();
        if let Some(room) = room {
            segments.extend(["rooms", room.as_str()]);
        }
        segments.push("messages");
    }
    url
}

/// The innermost error: for a network failure the useful part ("Connection
/// refused"), without the wrappers that each restate the request.
fn root_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn the_default_room_uses_the_short_path() {
        let messages = messages_url(&url("http://localhost:8080"), None);
        assert_eq!(messages.as_str(), "http://localhost:8080/messages");
    }

    #[test]
    fn a_named_room_uses_the_rooms_path_under_any_base_path() {
        let room = RoomName::parse("ops").unwrap();
        for base in ["http://h/chat", "http://h/chat/", "http://h/chat/?x=1"] {
            assert_eq!(
                messages_url(&url(base), Some(&room)).as_str(),
                "http://h/chat/rooms/ops/messages",
                "{base}"
            );
        }
    }

    #[test]
    fn server_errors_are_transient_and_client_errors_are_not() {
        let api = |status| ClientError::Api {
            status,
            code: "x".into(),
            message: "y".into(),
        };
        assert!(api(StatusCode::SERVICE_UNAVAILABLE).is_transient());
        assert!(ClientError::Status {
            status: StatusCode::BAD_GATEWAY
        }
        .is_transient());
        assert!(!api(StatusCode::BAD_REQUEST).is_transient());
        assert!(!api(StatusCode::PAYLOAD_TOO_LARGE).is_transient());
    }

    #[test]
    fn api_errors_read_as_the_servers_message_code_and_status() {
        let error = ClientError::Api {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "payload_too_large".into(),
            message: "request body is larger than 10000 bytes".into(),
        };
        assert_eq!(
            error.to_string(),
            "request body is larger than 10000 bytes (payload_too_large, HTTP 413)"
        );
    }
}
