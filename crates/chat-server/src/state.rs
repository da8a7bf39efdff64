//! What every handler shares, built once by [`crate::Application`] outside
//! the `HttpServer` closure.

use std::sync::Arc;

use chat_core::ChatStore;
use tokio_util::sync::CancellationToken;

use crate::auth::Access;
use crate::config::PollLimits;
use crate::limits::{ParkedSlots, PostLimiter};
use crate::metrics::Metrics;

/// The state behind `web::Data<AppState>`.
#[derive(Debug)]
pub(crate) struct AppState {
    /// Where messages live.
    pub store: Arc<dyn ChatStore>,
    /// The bounds of a GET's `timeout`.
    pub poll_limits: PollLimits,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Fires when the server stops, so parked polls answer at once.
    pub shutdown: CancellationToken,
    /// Who may do what (`--auth-file`); reloadable.
    pub access: Access,
    /// Slots for requests that wait (`--max-parked`).
    pub parked: Arc<ParkedSlots>,
    /// Posts per client (`--post-rate`), when limited.
    pub post_limiter: Option<PostLimiter>,
    /// What `/metrics` reports.
    pub metrics: Metrics,
}
