//! [`ClientError`]: why a request failed, as one line the user can act on,
//! and whether trying the same request again can help.

use std::fmt;
use std::time::Duration;

use chat_core::RoomName;
use reqwest::{StatusCode, Url};
use serde::Deserialize;

/// What a request was for, so that a refusal can say what was not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading a room's messages.
    Read,
    /// Posting into a room.
    Post,
}

/// An error status from the server, with the contract's JSON error body when
/// it sent one (a proxy may not).
#[derive(Debug)]
pub struct Refusal {
    /// The HTTP status.
    pub status: StatusCode,
    /// The contract's error body, when the answer had one.
    pub body: Option<ErrorBody>,
    /// How long the server asked us to wait before trying again
    /// (`Retry-After`), when it said.
    pub retry_after: Option<Duration>,
}

/// The contract's error body: `{"error": "<code>", "message": "<text>"}`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    /// The machine-readable code, e.g. `payload_too_large`.
    #[serde(rename = "error")]
    pub code: String,
    /// The server's explanation.
    pub message: String,
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
    /// `401`: no token where the server needs one, or a token it does not
    /// know.
    #[error(
        "{} {}",
        if *.token_sent {
            "the server does not know this token (check --token or CHAT_TOKEN)"
        } else {
            "the server needs a token here: pass --token or set CHAT_TOKEN"
        },
        .refusal.tag()
    )]
    Unauthorized {
        /// Whether the request carried a token.
        token_sent: bool,
        /// The answer.
        refusal: Refusal,
    },
    /// `403`: the token (or anonymous access) does not allow this in this
    /// room.
    #[error(
        "not allowed to {} room \"{room}\" {}{} {}",
        match .access { Access::Read => "read", Access::Post => "post in" },
        if *.token_sent { "with this token" } else { "without a token" },
        ServerSays(.refusal),
        .refusal.tag()
    )]
    Forbidden {
        /// What was refused.
        access: Access,
        /// Where.
        room: RoomName,
        /// Whether the request carried a token.
        token_sent: bool,
        /// The answer.
        refusal: Refusal,
    },
    /// `413`: the request body, the message and the JSON around it, is over
    /// the server's limit.
    #[error("message too long: {} {}", TooLong(.refusal), .refusal.tag())]
    TooLarge {
        /// The answer.
        refusal: Refusal,
    },
    /// Any other error status.
    #[error("{0}")]
    Refused(Refusal),
    /// Nothing came from the server for too long: its answer's head, or on
    /// an open event stream, not even the ping it sends after a silence.
    #[error("no answer from {url} for {} s", .silence.as_secs())]
    Silent {
        /// What was requested.
        url: Url,
        /// How long nothing came.
        silence: Duration,
    },
    /// The server ended an event stream soon after opening it, before it
    /// delivered a message (its `retry` aside): it is shutting down, or
    /// something in between cuts streams short.
    #[error("the event stream from {url} ended before it delivered anything")]
    EndedEarly {
        /// What was requested.
        url: Url,
    },
    /// A success status with a body that is not what the contract promises.
    #[error("the server's answer is not valid: {0}")]
    InvalidAnswer(#[source] serde_json::Error),
    /// An event stream that is not what the contract promises.
    #[error("the server's event stream is not valid: {0}")]
    InvalidEvents(String),
}

impl ClientError {
    /// The error for `refusal`, an answer to a request for `access` in
    /// `room`, sent with a token or not.
    pub fn refused(refusal: Refusal, access: Access, room: &RoomName, token_sent: bool) -> Self {
        match refusal.status {
            StatusCode::UNAUTHORIZED => Self::Unauthorized {
                token_sent,
                refusal,
            },
            StatusCode::FORBIDDEN => Self::Forbidden {
                access,
                room: room.clone(),
                token_sent,
                refusal,
            },
            StatusCode::PAYLOAD_TOO_LARGE => Self::TooLarge { refusal },
            _ => Self::Refused(refusal),
        }
    }

    /// A request to `url` that got no answer, or lost it part-way.
    pub fn network(url: &Url, error: reqwest::Error) -> Self {
        Self::Network {
            url: url.clone(),
            error,
        }
    }

    /// True when the same request may succeed later: the server is
    /// unreachable, restarting, overloaded or failing for a while. Anything
    /// else (a 4xx, a malformed answer) would fail the same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network { .. } | Self::Silent { .. } | Self::EndedEarly { .. } => true,
            Self::Refused(refusal) => {
                refusal.status.is_server_error() || refusal.status == StatusCode::TOO_MANY_REQUESTS
            }
            Self::Setup(_)
            | Self::Unauthorized { .. }
            | Self::Forbidden { .. }
            | Self::TooLarge { .. }
            | Self::InvalidAnswer(_)
            | Self::InvalidEvents(_) => false,
        }
    }

    /// How long the server asked us to wait before trying again, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Refused(refusal) => refusal.retry_after,
            _ => None,
        }
    }
}

impl Refusal {
    /// `(code, HTTP 413)`, or `(HTTP 413)` without an error body: what a
    /// script can match on.
    fn tag(&self) -> Tag<'_> {
        Tag(self)
    }
}

/// The server's explanation when it gave one, else its status.
impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.body {
            Some(body) => write!(f, "{} {}", body.message, self.tag()),
            None => write!(f, "the server answered HTTP {}", self.status),
        }
    }
}

/// See [`Refusal::tag`].
struct Tag<'a>(&'a Refusal);

impl fmt::Display for Tag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.0.status.as_u16();
        match &self.0.body {
            Some(body) => write!(f, "({}, HTTP {status})", body.code),
            None => write!(f, "(HTTP {status})"),
        }
    }
}

/// `: <the server's message>`, or nothing when it sent none.
struct ServerSays<'a>(&'a Refusal);

impl fmt::Display for ServerSays<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.body {
            Some(body) => write!(f, ": {}", body.message),
            None => Ok(()),
        }
    }
}

/// What the limit is, as precisely as the server said it.
struct TooLong<'a>(&'a Refusal);

impl fmt::Display for TooLong<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self
            .0
            .body
            .as_ref()
            .and_then(|body| stated_limit(&body.message))
        {
            Some(limit) => write!(
                f,
                "the server accepts request bodies of at most {limit} bytes, the JSON around \
                 the message included"
            ),
            None => f.write_str(
                "the request body, the JSON around the message included, is over the server's \
                 size limit",
            ),
        }
    }
}

/// The number of bytes a message such as "request body is larger than
/// 10000 bytes" states, if it states one.
fn stated_limit(message: &str) -> Option<u64> {
    let words: Vec<&str> = message.split_whitespace().collect();
    words.windows(2).find_map(|pair| {
        if !pair[1].starts_with("byte") {
            return None;
        }
        let digits: String = pair[0]
            .chars()
            .filter(|c| !matches!(c, ',' | '_'))
            .collect();
        digits.parse().ok()
    })
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

    fn refusal(status: StatusCode, code: &str, message: &str) -> Refusal {
        Refusal {
            status,
            body: Some(ErrorBody {
                code: code.into(),
                message: message.into(),
            }),
            retry_after: None,
        }
    }

    fn refused(refusal: Refusal, access: Access, token_sent: bool) -> ClientError {
        let room = RoomName::parse("ops").unwrap();
        ClientError::refused(refusal, access, &room, token_sent)
    }

    #[test]
    fn server_errors_are_transient_and_client_errors_are_not() {
        let api = |status| refused(refusal(status, "x", "y"), Access::Read, false);
        assert!(api(StatusCode::SERVICE_UNAVAILABLE).is_transient());
        assert!(api(StatusCode::TOO_MANY_REQUESTS).is_transient());
        assert!(ClientError::Refused(Refusal {
            status: StatusCode::BAD_GATEWAY,
            body: None,
            retry_after: None,
        })
        .is_transient());
        for status in [
            StatusCode::BAD_REQUEST,
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNPROCESSABLE_ENTITY,
        ] {
            assert!(!api(status).is_transient(), "{status}");
        }
    }

    #[test]
    fn api_errors_read_as_the_servers_message_code_and_status() {
        let error = refused(
            refusal(StatusCode::NOT_FOUND, "not_found", "no such path"),
            Access::Read,
            false,
        );
        assert_eq!(error.to_string(), "no such path (not_found, HTTP 404)");
        let bare = ClientError::Refused(Refusal {
            status: StatusCode::BAD_GATEWAY,
            body: None,
            retry_after: None,
        });
        assert_eq!(bare.to_string(), "the server answered HTTP 502 Bad Gateway");
    }

    #[test]
    fn a_413_says_how_long_a_request_body_may_be_when_the_server_says_it() {
        let stated = refused(
            refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body is larger than 10,000 bytes",
            ),
            Access::Post,
            false,
        );
        assert_eq!(
            stated.to_string(),
            "message too long: the server accepts request bodies of at most 10000 bytes, the \
             JSON around the message included (payload_too_large, HTTP 413)"
        );
        let unstated = refused(
            Refusal {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                body: None,
                retry_after: None,
            },
            Access::Post,
            false,
        );
        assert_eq!(
            unstated.to_string(),
            "message too long: the request body, the JSON around the message included, is over \
             the server's size limit (HTTP 413)"
        );
    }

    #[test]
    fn a_401_tells_a_missing_token_from_an_unknown_one() {
        let unauthorized = || refusal(StatusCode::UNAUTHORIZED, "unauthorized", "who are you?");
        assert_eq!(
            refused(unauthorized(), Access::Read, false).to_string(),
            "the server needs a token here: pass --token or set CHAT_TOKEN \
             (unauthorized, HTTP 401)"
        );
        assert_eq!(
            refused(unauthorized(), Access::Post, true).to_string(),
            "the server does not know this token (check --token or CHAT_TOKEN) \
             (unauthorized, HTTP 401)"
        );
    }

    #[test]
    fn a_403_names_what_was_not_allowed_where() {
        let forbidden = || refusal(StatusCode::FORBIDDEN, "forbidden", "no write on ops");
        assert_eq!(
            refused(forbidden(), Access::Post, true).to_string(),
            "not allowed to post in room \"ops\" with this token: no write on ops \
             (forbidden, HTTP 403)"
        );
        let bare = Refusal {
            status: StatusCode::FORBIDDEN,
            body: None,
            retry_after: None,
        };
        assert_eq!(
            refused(bare, Access::Read, false).to_string(),
            "not allowed to read room \"ops\" without a token (HTTP 403)"
        );
    }

    #[test]
    fn the_stated_limit_is_the_number_before_bytes() {
        assert_eq!(stated_limit("larger than 10000 bytes"), Some(10_000));
        assert_eq!(stated_limit("at most 1_024 bytes allowed"), Some(1024));
        assert_eq!(stated_limit("over 3 limits, 5 byte"), Some(5));
        assert_eq!(stated_limit("request body too large"), None);
        assert_eq!(stated_limit("many bytes"), None);
    }
}
