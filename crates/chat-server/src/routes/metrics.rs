//! `GET /metrics`: the Prometheus text format; with access control on, only
//! for a token whose entry says `metrics = true`.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpResponse};

use crate::auth::Caller;
use crate::metrics::CONTENT_TYPE;
use crate::state::AppState;
use crate::ApiError;

/// Renders every metric family.
pub(crate) async fn metrics(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read_metrics()?;
    let text = state
        .metrics
        .render()
        .map_err(|error| ApiError::Internal(Box::new(error)))?;
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .content_type(CONTENT_TYPE)
        .body(text))
}
