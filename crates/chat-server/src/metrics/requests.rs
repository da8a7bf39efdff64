//! Counting and timing every request by route pattern and status.

use std::time::Instant;

use actix_web::dev::ServiceResponse;

use crate::routes;
use crate::state::AppState;

/// The `route` label of a path no route matched.
const UNMATCHED: &str = "unmatched";

/// Records `chat_http_requests_total` and
/// `chat_http_request_duration_seconds` for a request answered with
/// `response`, which arrived at `started`.
pub(crate) fn record_request<B>(state: &AppState, response: &ServiceResponse<B>, started: Instant) {
    // The path as the router matched it (`/%6Dessages` is `/messages`).
    let path = response.request().match_info().as_str();
    let route = routes::pattern_of(path).unwrap_or(UNMATCHED);
    let status = response.status();
    state
        .metrics
        .requests
        .with_label_values(&[route, status.as_str()])
        .inc();
    state
        .metrics
        .request_duration
        .with_label_values(&[route])
        .observe(started.elapsed().as_secs_f64());
}
