//! JSON answers for unknown paths and wrong methods.

use actix_web::{web, HttpResponse, Route};

use crate::ApiError;

/// The app's default service: 404 with the contract's JSON error.
pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// A resource's default service: 405 naming the methods it takes.
pub(crate) fn method_not_allowed(allowed: &'static str) -> Route {
    web::to(move || async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allowed }) })
}
