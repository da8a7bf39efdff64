//! Who sent a request, and whether it may do what it asks. Every check here
//! runs before the body is read.

use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chat_core::NewMessage;

use super::file::{Rights, Rules, TokenEntry};
use crate::state::AppState;
use crate::ApiError;

/// The query parameter that carries a token where no header can
/// (`EventSource`).
const ACCESS_TOKEN_PARAM: &str = "access_token";

/// The sender of a request: anyone (access control off), anonymous, or the
/// holder of a known token. Extracting it refuses an unknown token with
/// `401` at once, even where anonymous access would do.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `None` when access control is off: everything is allowed.
    rules: Option<Arc<Rules>>,
    token: Option<Arc<TokenEntry>>,
}

impl Caller {
    /// The token's name, when the request carried a known token.
    pub fn name(&self) -> Option<&str> {
        self.token.as_deref().map(|entry| entry.name.as_str())
    }

    /// `Ok` when the caller may read `room` (the raw name from the path:
    /// access is decided before the name's shape is checked).
    pub fn may_read(&self, room: &str) -> Result<(), ApiError> {
        self.check(
            |rights| Rights::allows(&rights.read, room),
            || format!("this token may not read the room `{room}`"),
        )
    }

    /// `Ok` when the caller may post into `room` (the raw name).
    pub fn may_write(&self, room: &str) -> Result<(), ApiError> {
        self.check(
            |rights| Rights::allows(&rights.write, room),
            || format!("this token may not post into the room `{room}`"),
        )
    }

    /// `Ok` when the caller may read `/metrics`: always with access control
    /// off, else only with a token whose entry says `metrics = true`.
    pub fn may_read_metrics(&self) -> Result<(), ApiError> {
        self.check(
            |rights| rights.metrics,
            || "this token may not read the metrics".to_owned(),
        )
    }

    /// The message as it will be stored: a token's messages carry its name
    /// as author; naming another author, or (anonymously) the name of a
    /// token, is a `403`.
    pub fn attribute(&self, message: NewMessage) -> Result<NewMessage, ApiError> {
        let Some(rules) = &self.rules else {
            return Ok(message);
        };
        match (&self.token, message.author()) {
            (Some(entry), Some(author)) if author != entry.name => Err(ApiError::Forbidden(
                format!("this token posts as `{}`, not as `{author}`", entry.name),
            )),
            (Some(entry), None) => Ok(NewMessage::new(
                message.body().to_owned(),
                Some(entry.name.clone()),
            )?),
            (None, Some(author)) if rules.names.contains(author) => Err(ApiError::Forbidden(
                format!("`{author}` is the name of a token; only its holder posts as `{author}`"),
            )),
            _ => Ok(message),
        }
    }

    /// Allowed when access control is off, or the anonymous rights or the
    /// token's allow it; otherwise `401` without a token, `403` with one.
    fn check(
        &self,
        allows: impl Fn(&Rights) -> bool,
        refusal: impl FnOnce() -> String,
    ) -> Result<(), ApiError> {
        let Some(rules) = &self.rules else {
            return Ok(());
        };
        if allows(&rules.anonymous) || self.token.as_ref().is_some_and(|t| allows(&t.rights)) {
            return Ok(());
        }
        match self.token {
            Some(_) => Err(ApiError::Forbidden(refusal())),
            None => Err(ApiError::Unauthorized(
                "this request needs a token: send `Authorization: Bearer <token>`".to_owned(),
            )),
        }
    }

    fn from_request(request: &HttpRequest) -> Result<Self, ApiError> {
        let state = request
            .app_data::<web::Data<AppState>>()
            .ok_or_else(|| ApiError::Internal("AppState is not registered".into()))?;
        let Some(rules) = state.access.current() else {
            return Ok(Self {
                rules: None,
                token: None,
            });
        };
        let token = match presented_token(request)? {
            None => None,
            Some(secret) => Some(Arc::clone(rules.token(&secret).ok_or_else(|| {
                ApiError::Unauthorized("this token is not known to the server".to_owned())
            })?)),
        };
        let caller = Self {
            rules: Some(rules),
            token,
        };
        // For the request's log line (telemetry), which names the token.
        request.extensions_mut().insert(caller.clone());
        Ok(caller)
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_request(request))
    }
}

/// The token the request carries, as `Authorization: Bearer <token>` or as
/// `access_token=`. A header that is not a bearer token is a `401`, and so
/// are two different tokens (header and parameter, or repeated): each must
/// be one the file knows, and the request must say which caller it is.
fn presented_token(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let mut presented: Option<String> = None;
    let mut present = |token: String| match &presented {
        Some(earlier) if *earlier != token => Err(ApiError::Unauthorized(
            "the request carries two different tokens: send one".into(),
        )),
        _ => {
            presented = Some(token);
            Ok(())
        }
    };
    for value in request.headers().get_all(header::AUTHORIZATION) {
        let malformed =
            || ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into());
        let text = value.to_str().map_err(|_| malformed())?;
        let (scheme, token) = text.split_once(' ').ok_or_else(malformed)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(malformed());
        }
        present(token.to_owned())?;
    }
    for (name, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
        if name == ACCESS_TOKEN_PARAM {
            present(value.into_owned())?;
        }
    }
    Ok(presented)
}
