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
    let metrics = request
        .app_data::<web::Data<AppState>>()
        .map(|state| state.metrics.clone());
    let response = next.call(request).await?;
    if let Some(metrics) = metrics {
        let route = routes::pattern_of(response.request().path()).unwrap_or(UNMATCHED);
        let status = response.status();
        metrics
            .requests
            .with_label_values(&[route, status.as_str()])
            .inc();
        metrics
            .request_duration
            .with_label_values(&[route])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}
