//! Counting and timing every request by route pattern and status.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use crate::routes;
use crate::state::AppState;

/// The `route` label of a path no route matched.
const UNMATCHED: &str = "unmatched";

/// Records `chat_http_requests_total` and
/// `chat_http_request_duration_seconds` for the request.
pub(crate) async fn record_request(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    // One `Arc` held while the request waits (a parked poll), not a copy of
    // every metric handle.
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let response = next.call(request).await?;
    if let Some(state) = state {
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
    Ok(response)
}
