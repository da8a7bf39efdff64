//! `GET /events` (the room `general`) and `GET /rooms/{room}/events`: a
//! room's messages as server-sent events, from a cursor or from now on.

use std::sync::Arc;

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpRequest, HttpResponse};
use chat_core::store::RoomFeed;
use chat_core::{ReadQuery, RoomName};
use uuid::Uuid;

use crate::auth::Caller;
use crate::poll_params::parse_cursor;
use crate::sse::{self, EventCache};
use crate::state::AppState;
use crate::ApiError;

/// The header a reconnecting `EventSource` sends: the id of the last event
/// it got.
const LAST_EVENT_ID: &str = "Last-Event-ID";

/// `GET /events`.
pub(crate) async fn get_general(
    caller: Caller,
    request: HttpRequest,
    state: web::Data<AppState>,
    cache: web::Data<EventCache>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read(RoomName::general().as_str())?;
    events(RoomName::general(), &request, &state, cache).await
}

/// `GET /rooms/{room}/events`.
pub(crate) async fn get_room(
    caller: Caller,
    request: HttpRequest,
    state: web::Data<AppState>,
    cache: web::Data<EventCache>,
) -> Result<HttpResponse, ApiError> {
    let room = super::room_in_path(&request);
    caller.may_read(room)?;
    events(RoomName::parse(room)?, &request, &state, cache).await
}

async fn events(
    room: RoomName,
    request: &HttpRequest,
    state: &AppState,
    cache: web::Data<EventCache>,
) -> Result<HttpResponse, ApiError> {
    let start = start(request)?;
    // An open stream waits like a parked poll, and counts as one.
    let slot = state.parked.try_acquire().ok_or(ApiError::Overloaded)?;
    let limit = sse::page_limit(state.max_body_bytes);
    let store = Arc::clone(&state.store);
    let feed = match start {
        Some(cursor) => RoomFeed::new(store, room, ReadQuery::After { cursor, limit }),
        None => RoomFeed::after_newest(store, room, limit).await?,
    };
    let body = sse::event_stream(
        feed,
        cache.into_inner(),
        state.poll_limits.ping_interval,
        state.shutdown.clone(),
        slot,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        // nginx would otherwise buffer the stream.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// Where the stream starts: after `Last-Event-ID`, else after the `after`
/// parameter, else (`None`) with the next new message. Both are checked
/// when both are given: a bad one is a 400 even where the other wins.
fn start(request: &HttpRequest) -> Result<Option<Uuid>, ApiError> {
    let after = after_parameter(request)?;
    let mut headers = request.headers().get_all(LAST_EVENT_ID);
    let Some(value) = headers.next() else {
        return Ok(after);
    };
    if headers.next().is_some() {
        return Err(invalid(format!(
            "`{LAST_EVENT_ID}` is given more than once"
        )));
    }
    let text = value
        .to_str()
        .map_err(|_| invalid(format!("`{LAST_EVENT_ID}` must be a message id")))?;
    parse_cursor(LAST_EVENT_ID, text).map(Some)
}

/// The `after` query parameter, if given (once, as a UUID).
fn after_parameter(request: &HttpRequest) -> Result<Option<Uuid>, ApiError> {
    let mut after = None;
    for (name, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
        if name != "after" {
            continue;
        }
        if after.is_some() {
            return Err(invalid("`after` is given more than once".to_owned()));
        }
        after = Some(parse_cursor("after", &value)?);
    }
    Ok(after)
}

fn invalid(message: String) -> ApiError {
    ApiError::InvalidParameter(message)
}
