//! `POST` and `GET` on `/messages` (the room `general`) and
//! `/rooms/{room}/messages`.

use std::future::Future;
use std::time::Duration;

use actix_web::http::header::{self, ContentType, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use chat_core::store::{wait_for_page, Page};
use chat_core::{IdempotencyKey, Message, NewMessage, RoomName, ValidationError};
use futures_util::future::Either;
use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::poll_params::PollParams;
use crate::state::AppState;
use crate::stopping::stopping;
use crate::ApiError;

/// The header that tells a client retention deleted messages it never saw.
const HISTORY_TRUNCATED: &str = "Chat-History-Truncated";
/// The header a client sends so that a retried POST never posts twice.
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// The header on the answer to a repeated key: nothing new was stored.
const IDEMPOTENT_REPLAYED: &str = "Idempotent-Replayed";
/// `Cache-Control` of every GET answer.
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
/// The largest `timeout` this server accepts, on every GET answer, so a
/// client (the web page) can choose its poll timeout without a 400.
const MAX_POLL_TIMEOUT: &str = "Chat-Max-Poll-Timeout";

/// `POST /messages`.
pub(crate) async fn post_general(
    caller: Caller,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.may_write(RoomName::general().as_str())?;
    post(
        RoomName::general().as_str(),
        &caller,
        &request,
        payload,
        &state,
    )
    .await
}

/// `POST /rooms/{room}/messages`.
pub(crate) async fn post_room(
    caller: Caller,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let room = super::room_in_path(&request);
    caller.may_write(room)?;
    post(room, &caller, &request, payload, &state).await
}

/// `GET /messages`.
pub(crate) fn get_general(
    caller: Caller,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> impl Future<Output = Result<HttpResponse, ApiError>> {
    let room = caller
        .may_read(RoomName::general().as_str())
        .map(|()| RoomName::general());
    get(room, &request, state)
}

/// `GET /rooms/{room}/messages`.
pub(crate) fn get_room(
    caller: Caller,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> impl Future<Output = Result<HttpResponse, ApiError>> {
    let room = super::room_in_path(&request);
    let room = caller
        .may_read(room)
        .and_then(|()| Ok(RoomName::parse(room)?));
    get(room, &request, state)
}

/// Posts for a caller already allowed to write into `room` (as the path
/// names it). The request itself is checked in the contract's order: its
/// content type (415), its size (413), then what it says (400).
async fn post(
    room: &str,
    caller: &Caller,
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    if let Some(limiter) = &state.post_limiter {
        limiter.check(request, caller)?;
    }
    if !is_json(request) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = read_body(request, payload, state.max_body_bytes, state.body_timeout).await?;
    let room = RoomName::parse(room)?;
    let key = idempotency_key(request)?;
    let mut message = caller.attribute(parse_submission(&bytes)?)?;
    if let Some(key) = key {
        message = message.with_idempotency_key(key);
    }
    let appended = state.store.append(&room, message).await?;
    if appended.replayed {
        return Ok(HttpResponse::Ok()
            .insert_header((IDEMPOTENT_REPLAYED, "true"))
            .json(appended.message));
    }
    state.metrics.posted.inc();
    Ok(HttpResponse::Created().json(appended.message))
}

/// Answers a GET on `room` (or its error). Not an `async fn`, and the
/// handlers above neither: the future a parked poll holds keeps the room,
/// the parameters and the state once, not also the arguments they came from
/// (an `async fn` keeps each argument twice, and every parked poll's memory
/// counts).
fn get(
    room: Result<RoomName, ApiError>,
    request: &HttpRequest,
    state: web::Data<AppState>,
) -> impl Future<Output = Result<HttpResponse, ApiError>> {
    let checked = room.and_then(|room| {
        let params = PollParams::parse(request.query_string(), &state.poll_limits)?;
        Ok((room, params))
    });
    let (room, params) = match checked {
        Ok(checked) => checked,
        Err(error) => return Either::Left(std::future::ready(Err(error))),
    };
    Either::Right(async move {
        let read = state.store.read(&room, params.query).await?;
        let page = if read.messages.is_empty() && !params.wait.is_zero() {
            // Only the answer is kept while parked, not this empty read.
            drop(read);
            park(&room, &params, &state).await?
        } else {
            read
        };
        Ok(page_response(&state, &page))
    })
}

/// Waits for the page `params` select, holding a parked slot: past
/// --max-parked the request is refused, while reads that answer at once go
/// on. Not an `async fn` either, for the same reason as [`get`].
fn park<'a>(
    room: &'a RoomName,
    params: &'a PollParams,
    state: &'a AppState,
) -> impl Future<Output = Result<Page, ApiError>> + 'a {
    // Held by the future, so until the answer is ready.
    let slot = state.parked.try_acquire();
    async move {
        if slot.is_none() {
            return Err(ApiError::Overloaded);
        }
        let shutdown = std::pin::pin!(stopping(&state.shutdown));
        let page = wait_for_page(&state.store, room, params.query, params.wait, shutdown).await?;
        state.metrics.observe_wakeup(&page);
        Ok(page)
    }
}

/// The 200 answer to a GET: `page` as JSON, with the headers of the contract.
fn page_response(state: &AppState, page: &Page) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    // A constant header value: one commit answers thousands of polls.
    response.insert_header((header::CACHE_CONTROL, NO_STORE));
    response.insert_header((MAX_POLL_TIMEOUT, state.poll_limits.max_timeout_secs));
    if page.truncated {
        response.insert_header((HISTORY_TRUNCATED, "true"));
    }
    response
        .content_type(ContentType::json())
        .body(page_json(state, &page.messages))
}

/// The page as the JSON array the API returns. A non-empty page is
/// serialised once and shared: when one commit answers thousands of parked
/// polls, each writes the same bytes. A page is known by its first and last
/// ids, since it holds every message of one room between them.
fn page_json(state: &AppState, messages: &[Message]) -> Bytes {
    let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
        return Bytes::from_static(b"[]");
    };
    state.page_json.get_or_insert_with((first.id, last.id), || {
        Bytes::from(serde_json::to_vec(messages).expect("messages serialise to JSON"))
    })
}

/// The request's `Idempotency-Key`, validated; `None` when it has none.
fn idempotency_key(request: &HttpRequest) -> Result<Option<IdempotencyKey>, ApiError> {
    let mut values = request.headers().get_all(IDEMPOTENCY_KEY);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ValidationError::InvalidIdempotencyKey.into());
    }
    let text = value
        .to_str()
        .map_err(|_| ValidationError::InvalidIdempotencyKey)?;
    Ok(Some(IdempotencyKey::parse(text)?))
}

/// True when `Content-Type` is `application/json`, with any parameters.
fn is_json(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Reads the whole body, refusing it as soon as it is known to be too large
/// or once `timeout` has passed without it being complete (the request-head
/// timeout does not cover the body: a client could trickle it forever).
async fn read_body(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    timeout: Duration,
) -> Result<web::BytesMut, ApiError> {
    tokio::time::timeout(timeout, read_body_within(request, payload, limit))
        .await
        .map_err(|_| ApiError::BodyTimeout { timeout })?
}

async fn read_body_within(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let too_large = ApiError::PayloadTooLarge { limit };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large);
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|error| ApiError::InvalidJson(format!("could not read the body: {error}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Turns `{"body": "...", "author": "..."}` into a validated message;
/// unknown fields are ignored.
fn parse_submission(bytes: &[u8]) -> Result<NewMessage, ApiError> {
    let mut fields: Map<String, Value> =
        serde_json::from_slice(bytes).map_err(|error| ApiError::InvalidJson(error.to_string()))?;
    let body = match fields.remove("body") {
        Some(Value::String(body)) => body,
        _ => return Err(ApiError::from(ValidationError::EmptyBody)),
    };
    let author = match fields.remove("author") {
        None | Some(Value::Null) => None,
        Some(Value::String(author)) => Some(author),
        Some(_) => return Err(ApiError::from(ValidationError::InvalidAuthor)),
    };
    Ok(NewMessage::new(body, author)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submissions_keep_body_and_author_and_ignore_unknown_fields() {
        let message =
            parse_submission(br#"{"body":" hi ","author":"bob","id":"x","room":"y","extra":1}"#)
                .unwrap();
        assert_eq!((message.body(), message.author()), (" hi ", Some("bob")));
        assert_eq!(
            parse_submission(br#"{"body":"x","author":null}"#)
                .unwrap()
                .author(),
            None
        );
    }

    #[test]
    fn bad_submissions_are_rejected() {
        for (raw, code) in [
            (&b"{"[..], "invalid_json"),
            (b"[]", "invalid_json"),
            (b"\"body\"", "invalid_json"),
            (b"{\"body\":\"\xff\"}", "invalid_json"),
            (br#"{}"#, "invalid_body"),
            (br#"{"body":""}"#, "invalid_body"),
            (br#"{"body":null}"#, "invalid_body"),
            (br#"{"body":5}"#, "invalid_body"),
            (br#"{"body":"x","author":""}"#, "invalid_author"),
            (br#"{"body":"x","author":7}"#, "invalid_author"),
        ] {
            let error = parse_submission(raw).unwrap_err();
            assert_eq!(error.code(), code, "{}", String::from_utf8_lossy(raw));
        }
    }
}
