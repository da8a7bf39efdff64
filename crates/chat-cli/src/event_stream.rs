//! [`EventStream`]: an open `GET /events` answer, read as its bytes arrive,
//! parsed by [`sse`](crate::sse) and decoded into what the contract sends:
//! messages, the `truncated` signal and the server's `retry`.

use std::time::Duration;

use chat_core::Message;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Response, Url};
use uuid::Uuid;

use crate::client_error::ClientError;
use crate::sse::{Event, Item, Parser};

/// The media type of an event stream.
pub const EVENT_STREAM: &str = "text/event-stream";

/// How long an open stream may send nothing before it is taken for dead (a
/// connection that broke without a word): the server sends a `: ping` after
/// 15 s of silence, so this is three of them missed.
const MAX_SILENCE: Duration = Duration::from_secs(45);

/// What a stream delivers, in the order it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The next message of the room.
    Message(Message),
    /// Retention deleted messages after the stream's starting point before
    /// they could be read.
    Truncated,
    /// How long the server asks us to wait before reconnecting.
    Retry(Duration),
}

/// An open event stream.
#[derive(Debug)]
pub struct EventStream {
    response: Response,
    parser: Parser,
    /// What was requested, for error messages.
    url: Url,
}

impl EventStream {
    /// The stream in `response`, a success answer to a request for `url`;
    /// an error when the answer is not an event stream.
    pub fn new(response: Response, url: Url) -> Result<Self, ClientError> {
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        if !media_type.eq_ignore_ascii_case(EVENT_STREAM) {
            return Err(ClientError::InvalidEvents(format!(
                "the answer is {content_type:?}, not {EVENT_STREAM}"
            )));
        }
        Ok(Self {
            response,
            parser: Parser::new(),
            url,
        })
    }

    /// What the next bytes to arrive complete, in order and never empty
    /// (comments such as `: ping` are skipped); `None` once the server
    /// ended the stream. An event the end cut off is not delivered.
    pub async fn next(&mut self) -> Result<Option<Vec<Delivery>>, ClientError> {
        loop {
            let chunk = tokio::time::timeout(MAX_SILENCE, self.response.chunk())
                .await
                .map_err(|_| ClientError::Silent {
                    url: self.url.clone(),
                    silence: MAX_SILENCE,
                })?
                .map_err(|error| ClientError::network(&self.url, error))?;
            let Some(chunk) = chunk else {
                return Ok(None);
            };
            let items = self
                .parser
                .feed(&chunk)
                .map_err(|error| ClientError::InvalidEvents(error.to_string()))?;
            let deliveries = items
                .into_iter()
                .filter_map(|item| decode(item).transpose())
                .collect::<Result<Vec<_>, _>>()?;
            if !deliveries.is_empty() {
                return Ok(Some(deliveries));
            }
        }
    }
}

/// What `item` means under the contract; `None` for an event of a type it
/// does not define, which a newer server may send and we ignore, as
/// `EventSource` does.
fn decode(item: Item) -> Result<Option<Delivery>, ClientError> {
    let event = match item {
        Item::Retry(wait) => return Ok(Some(Delivery::Retry(wait))),
        Item::Event(event) => event,
    };
    match event.kind.as_str() {
        "message" => decode_message(&event).map(|message| Some(Delivery::Message(message))),
        "truncated" => Ok(Some(Delivery::Truncated)),
        _ => Ok(None),
    }
}

/// The message in a `message` event, whose `id` must be the message's: it
/// is what a reconnection resumes after.
fn decode_message(event: &Event) -> Result<Message, ClientError> {
    let message: Message = serde_json::from_str(&event.data).map_err(ClientError::InvalidAnswer)?;
    let id = event.id.as_deref().and_then(|id| Uuid::try_parse(id).ok());
    if id != Some(message.id) {
        return Err(ClientError::InvalidEvents(format!(
            "the event of message {} has the id {:?}",
            message.id,
            event.id.as_deref().unwrap_or_default()
        )));
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use chat_core::RoomName;

    use super::*;

    fn message(id: u128) -> Message {
        Message {
            id: Uuid::from_u128(id),
            room: RoomName::general(),
            // Whole microseconds, as stored messages carry.
            created_at: chrono::DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            author: None,
            body: format!("m{id}"),
        }
    }

    fn event(kind: &str, data: String, id: Option<String>) -> Item {
        Item::Event(Event {
            kind: kind.to_owned(),
            data,
            id,
        })
    }

    #[test]
    fn a_message_event_is_its_message() {
        let original = message(1);
        let item = event(
            "message",
            serde_json::to_string(&original).unwrap(),
            Some(original.id.to_string()),
        );
        assert_eq!(decode(item).unwrap(), Some(Delivery::Message(original)));
    }

    #[test]
    fn a_message_event_whose_id_is_not_its_messages_is_refused() {
        let original = message(1);
        let data = serde_json::to_string(&original).unwrap();
        for id in [None, Some(Uuid::from_u128(2).to_string()), Some("x".into())] {
            let error = decode(event("message", data.clone(), id.clone())).unwrap_err();
            assert!(matches!(error, ClientError::InvalidEvents(_)), "{id:?}");
        }
        let error = decode(event("message", "{}".into(), Some("1".into()))).unwrap_err();
        assert!(matches!(error, ClientError::InvalidAnswer(_)), "{error}");
    }

    #[test]
    fn truncated_and_retry_are_signals_and_unknown_events_are_skipped() {
        let truncated = event("truncated", "{}".into(), Some("7".into()));
        assert_eq!(decode(truncated).unwrap(), Some(Delivery::Truncated));
        let retry = Item::Retry(Duration::from_secs(2));
        assert_eq!(
            decode(retry).unwrap(),
            Some(Delivery::Retry(Duration::from_secs(2)))
        );
        assert_eq!(decode(event("presence", "{}".into(), None)).unwrap(), None);
    }
}
