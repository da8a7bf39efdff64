//! The contract's JSON errors: `{"error": "<code>", "message": "<text>"}`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use chat_core::{AppendError, StoreError, ValidationError};
use serde::Serialize;

/// The `Retry-After` of a `503`, in seconds.
const RETRY_AFTER_SECS: u64 = 1;

/// Everything a request can fail with, mapped to a status and a code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The POST body is not a JSON object, or not UTF-8.
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    /// A field of the POST body, or the room name in the path, breaks a
    /// rule of the contract.
    #[error("{0}")]
    Invalid(ValidationError),
    /// A query parameter is malformed, out of range, empty or repeated.
    #[error("{0}")]
    InvalidParameter(String),
    /// No such path.
    #[error("no such path")]
    NotFound,
    /// The path exists but not with this method.
    #[error("method not allowed; this path takes {allowed}")]
    MethodNotAllowed {
        /// The methods the path does take, for the `Allow` header.
        allowed: &'static str,
    },
    /// The body is larger than the configured limit.
    #[error(
        "request body is larger than {limit} bytes (the limit counts the whole JSON request \
         body, so a message may be somewhat shorter)"
    )]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The request body did not arrive completely in time.
    #[error("the request body did not arrive within {} seconds", timeout.as_secs())]
    BodyTimeout {
        /// How long the body may take.
        timeout: std::time::Duration,
    },
    /// A POST whose `Content-Type` is not `application/json`.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// The `Idempotency-Key` was used in this room for a different message.
    #[error("{0}")]
    KeyReused(AppendError),
    /// No token where one is needed, or a token the server does not know.
    #[error("{0}")]
    Unauthorized(String),
    /// A known token without the right for this request.
    #[error("{0}")]
    Forbidden(String),
    /// Too many requests are waiting already (`--max-parked`).
    #[error("too many requests are waiting; try again in a second")]
    Overloaded,
    /// The client posted faster than `--post-rate` allows; nothing stored.
    #[error("too many posts; try again in {retry_after} s")]
    RateLimited {
        /// Whole seconds until a post would be accepted, at least 1.
        retry_after: u64,
    },
    /// The store cannot serve; nothing was written.
    #[error("the message store is unavailable; nothing was written, try again later")]
    Unavailable(#[source] StoreError),
    /// Anything else; details go to the log, never to the client.
    #[error("internal server error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// The machine-readable code of the error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "invalid_json",
            Self::Invalid(ValidationError::InvalidAuthor) => "invalid_author",
            Self::Invalid(ValidationError::EmptyBody) => "invalid_body",
            Self::Invalid(ValidationError::InvalidRoomName) => "invalid_room",
            Self::Invalid(ValidationError::InvalidIdempotencyKey) => "invalid_idempotency_key",
            Self::KeyReused(_) => "idempotency_key_reused",
            Self::InvalidParameter(_) => "invalid_parameter",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::BodyTimeout { .. } => "request_timeout",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::Overloaded => "overloaded",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "store_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        Self::Invalid(error)
    }
}

impl From<AppendError> for ApiError {
    fn from(error: AppendError) -> Self {
        match error {
            AppendError::KeyReused => Self::KeyReused(error),
            AppendError::Store(error) => error.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) | StoreError::Closed => Self::Unavailable(error),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidJson(_) | Self::Invalid(_) | Self::InvalidParameter(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::KeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Overloaded | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() && !matches!(self, Self::Overloaded) {
            tracing::error!(error = ?self, "request failed");
        }
        let mut response = HttpResponse::build(status);
        // Like every answer to a GET, and no error is worth keeping.
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            Self::MethodNotAllowed { allowed } => {
                response.insert_header((header::ALLOW, *allowed));
            }
            // Overload and stuck writes pass; a client should try again soon.
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
            }
            // The rest of the body may still come: the connection cannot
            // carry another request.
            Self::BodyTimeout { .. } => {
                response.force_close();
            }
            Self::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::Overloaded => {
                response.insert_header((header::RETRY_AFTER, 1));
            }
            Self::RateLimited { retry_after } => {
                response.insert_header((header::RETRY_AFTER, *retry_after));
            }
            _ => {}
        }
        response.json(ErrorBody {
            error: self.code(),
            message: self.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_do_not_leak_their_source() {
        let error = ApiError::Internal("disk /var/secret exploded".into());
        assert_eq!(error.to_string(), "internal server error");
        let unavailable = ApiError::from(StoreError::unavailable("SQLITE_FULL at /srv"));
        assert!(!unavailable.to_string().contains("/srv"));
        assert_eq!(unavailable.status_code(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn refusals_carry_the_headers_a_client_acts_on() {
        let unauthorized = ApiError::Unauthorized("who are you?".into()).error_response();
        assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            unauthorized
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .unwrap(),
            "Bearer"
        );
        let overloaded = ApiError::Overloaded.error_response();
        assert_eq!(overloaded.headers().get(header::RETRY_AFTER).unwrap(), "1");
        let limited = ApiError::RateLimited { retry_after: 3 }.error_response();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers().get(header::RETRY_AFTER).unwrap(), "3");
        assert_eq!(
            ApiError::Forbidden("no".into()).status_code(),
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn validation_errors_map_to_400_with_their_own_codes() {
        let author = ApiError::from(ValidationError::InvalidAuthor);
        assert_eq!(
            (author.status_code(), author.code()),
            (StatusCode::BAD_REQUEST, "invalid_author")
        );
        let room = ApiError::from(ValidationError::InvalidRoomName);
        assert_eq!(
            (room.status_code(), room.code()),
            (StatusCode::BAD_REQUEST, "invalid_room")
        );
    }
}
