//! Logging: the subscriber (installed by the binary only) and one info line
//! per request, without message bodies.

use std::io::IsTerminal;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use tracing_subscriber::EnvFilter;

/// Installs a stderr subscriber filtered by `RUST_LOG` (default `info`);
/// does nothing if one is already installed.
pub fn init_subscriber() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _already_installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Logs method, path (never the query, which may hold `access_token`),
/// status, duration and the token's name (never the token) of every request.
pub(crate) async fn log_request(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !tracing::enabled!(tracing::Level::INFO) {
        return next.call(request).await;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.path().to_owned();
    let response = next.call(request).await?;
    let token = response
        .request()
        .extensions()
        .get::<crate::auth::Caller>()
        .and_then(|caller| caller.name().map(str::to_owned));
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        token = token.as_deref().unwrap_or("-"),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    Ok(response)
}
