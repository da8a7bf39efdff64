//! [`EventStream`]: an open `GET /events` answer, read as its bytes arrive,
//! parsed by [`sse`](crate::sse) and decoded into what the contract sends:
//! messages, the `truncated` signal and the server's `retry`.

use std::time::Duration;

use chat_core::Message;
use futures_util::FutureExt;
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

/// How many messages [`EventStream::next`] gathers before it stops taking
/// in what else has already arrived: what arrived together is one page for
/// the caller (one save of its cursor, not one per message).
const MAX_BATCH: usize = 100;

/// An open event stream.
#[derive(Debug)]
pub struct EventStream {
    response: Response,
    parser: Parser,
    /// What was requested, for error messages.
    url: Url,
    /// What the stream came to after the deliveries last handed over: an
    /// error or the end is reported only once what came before it is.
    after_batch: Option<Ending>,
}

/// How a stream stopped delivering.
#[derive(Debug)]
enum Ending {
    /// The server ended the stream.
    End,
    /// The connection broke, or the server sent what the contract does not
    /// allow.
    Failure(ClientError),
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
            after_batch: None,
        })
    }

    /// What was requested.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// What the next bytes to arrive complete, in order and never empty
    /// (comments such as `: ping` are skipped), together with whatever else
    /// had already arrived while fewer than [`MAX_BATCH`] messages were in
    /// hand; `None` once the server ended the stream. An event the end cut
    /// off is not delivered; a malformed event is an error, reported after
    /// the events before it.
    pub async fn next(&mut self) -> Result<Option<Vec<Delivery>>, ClientError> {
        let mut deliveries = Vec::new();
        while deliveries.is_empty() {
            match self.after_batch.take() {
                Some(Ending::End) => return Ok(None),
                Some(Ending::Failure(error)) => return Err(error),
                None => {}
            }
            let chunk = tokio::time::timeout(MAX_SILENCE, self.response.chunk())
                .await
                .map_err(|_| ClientError::Silent {
                    url: self.url.clone(),
                    silence: MAX_SILENCE,
                })?;
            self.take(chunk, &mut deliveries);
        }
        while self.after_batch.is_none() && messages(&deliveries) < MAX_BATCH {
            match self.response.chunk().now_or_never() {
                Some(chunk) => self.take(chunk, &mut deliveries),
                None => break,
            }
        }
        Ok(Some(deliveries))
    }

    /// Decodes what `chunk`, the next read of the body, brings into
    /// `deliveries`; notes the end of the stream, a broken connection or
    /// the first malformed event in [`Self::after_batch`].
    fn take(
        &mut self,
        chunk: reqwest::Result<Option<impl AsRef<[u8]>>>,
        deliveries: &mut Vec<Delivery>,
    ) {
        let chunk = match chunk {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return self.after_batch = Some(Ending::End),
            Err(error) => {
                let error = ClientError::network(&self.url, error);
                return self.after_batch = Some(Ending::Failure(error));
            }
        };
        let mut items = Vec::new();
        let fed = self.parser.feed(chunk.as_ref(), &mut items);
        for item in items {
            match decode(item) {
                Ok(Some(delivery)) => deliveries.push(delivery),
                Ok(None) => {}
                Err(error) => return self.after_batch = Some(Ending::Failure(error)),
            }
        }
        if let Err(error) = fed {
            let error = ClientError::InvalidEvents(error.to_string());
            self.after_batch = Some(Ending::Failure(error));
        }
    }
}

/// How many of `deliveries` are messages.
fn messages(deliveries: &[Delivery]) -> usize {
    deliveries
        .iter()
        .filter(|delivery| matches!(delivery, Delivery::Message(_)))
        .count()
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
