//! `GET /healthz`: 200 while the store can serve, 503 otherwise.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;
use crate::ApiError;

/// Reports whether the server can serve.
pub(crate) async fn healthz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .store
        .check_health()
        .await
        .map_err(ApiError::Unavailable)?;
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(json!({ "status": "ok" })))
}
