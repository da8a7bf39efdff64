//! What every handler shares, built once by [`crate::Application`] outside
//! the `HttpServer` closure.

use std::sync::Arc;
use std::time::Duration;

use chat_core::ChatStore;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::auth::Access;
use crate::config::PollLimits;
use crate::serialised::SerialisedCache;

/// How many recent pages' JSON the long-poll handlers keep: each is the
/// answer one commit gives every poll it wakes.
pub(crate) const CACHED_PAGES: usize = 256;
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
    /// How long a client gets to send a request body.
    pub body_timeout: Duration,
    /// Cancelled when the server stops; parked polls and streams look at it
    /// when their watch wakes them (see `crate::stopping`).
    pub shutdown: CancellationToken,
    /// Recent pages as JSON, by their first and last ids.
    pub page_json: SerialisedCache<(Uuid, Uuid)>,
    /// Who may do what (`--auth-file`); reloadable.
    pub access: Access,
    /// Slots for requests that wait (`--max-parked`).
    pub parked: Arc<ParkedSlots>,
    /// Posts per client (`--post-rate`), when limited.
    pub post_limiter: Option<PostLimiter>,
    /// What `/metrics` reports.
    pub metrics: Metrics,
}
