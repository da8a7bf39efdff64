//! The chat contract as the bench uses it: the requests it sends and what it
//! expects back (a `201` with the stored message for a POST, a `200` with a
//! JSON array of messages for a GET).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use uuid::Uuid;

use crate::error::BenchError;
use crate::http::{Client, Connection, Request, Response};
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

/// The requests of one room on one server.
#[derive(Debug, Clone)]
pub struct Api {
    target: Target,
    /// `/rooms/{room}/messages`.
    messages_path: String,
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
    /// The contract of `room` on `target`; the room name is checked here
    /// because it goes into the request line.
    pub fn new(target: Target, room: &str) -> Result<Self, String> {
        let valid = (1..=64).contains(&room.len())
            && room
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(format!(
                "`{room}` is not a room name ([A-Za-z0-9_-]{{1,64}})"
            ));
        }
        Ok(Self {
            target,
            messages_path: format!("/rooms/{room}/messages"),
        })
    }

    /// A client with its own keep-alive connection.
    pub fn client(&self) -> Client {
        Client::new(self.target.addr)
    }

    /// Opens one connection.
    pub async fn connect(&self) -> Result<Connection, BenchError> {
        let opening = Connection::open(self.target.addr);
        Ok(within(PROMPT_DEADLINE, "opening a connection", opening).await??)
    }

    /// `POST` of a short message.
    pub fn post(&self) -> Request {
        Request::post_json(
            &self.target.host,
            &self.messages_path,
            br#"{"body":"chat-bench","author":"chat-bench"}"#,
        )
    }

    /// `GET` of up to `limit` messages after `cursor`, waiting up to
    /// `timeout_secs` for one.
    pub fn poll(&self, cursor: Uuid, limit: usize, timeout_secs: u64) -> Request {
        let target = format!(
            "{}?after={cursor}&limit={limit}&timeout={timeout_secs}",
            self.messages_path
        );
        Request::get(&self.target.host, &target)
    }

    /// `GET /healthz`: answered at once and touching no room, the sentinel
    /// that proves a pipelined poll behind it has reached the server.
    fn sentinel(&self) -> Request {
        Request::get(&self.target.host, "/healthz")
    }

    /// The id of the room's newest message, or the nil UUID for an empty
    /// room: the cursor from which a poller sees only what is posted next.
    pub async fn newest_id(&self, client: &mut Client) -> Result<Uuid, BenchError> {
        let latest = Request::get(
            &self.target.host,
            &format!("{}?limit=1&timeout=0", self.messages_path),
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

/// Reads the answer to a poll sent with `timeout_secs` on `connection`.
pub async fn await_page(
    connection: &mut Connection,
    timeout_secs: u64,
) -> Result<Page, BenchError> {
    let deadline = Duration::from_secs(timeout_secs) + ANSWER_GRACE;
    let response = within(deadline, "a long poll's answer", connection.read_response()).await??;
    Ok(Page {
        ids: page_ids(&response)?,
        received_at: response.received_at,
    })
}

/// Sends `request` and reads its answer, which must come promptly.
pub async fn prompt_round_trip(
    client: &mut Client,
    request: &Request,
    what: &'static str,
) -> Result<(Instant, Response), BenchError> {
    Ok(within(PROMPT_DEADLINE, what, client.round_trip(request)).await??)
}

/// The id of the message a POST stored: the contract's `201` and message.
pub fn posted_id(response: &Response) -> Result<Uuid, BenchError> {
    expect_status("POST", 201, response)?;
    let message: IdOnly =
        serde_json::from_slice(&response.body).map_err(|source| BenchError::Json {
            what: "POST response",
            source,
        })?;
    Ok(message.id)
}

/// The ids of a GET's messages: the contract's `200` and JSON array.
pub fn page_ids(response: &Response) -> Result<Vec<Uuid>, BenchError> {
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
        Response {
            status,
            body: body.as_bytes().to_vec(),
            received_at: Instant::now(),
        }
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
        assert!(Api::new(target.clone(), "general").is_ok());
        assert!(Api::new(target.clone(), &fresh_room("latency")).is_ok());
        for bad in ["", "a b", "a/b", "x?y", &"r".repeat(65)] {
            assert!(Api::new(target.clone(), bad).is_err(), "{bad:?}");
        }
    }
}
