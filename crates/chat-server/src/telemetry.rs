//! Logging: the subscriber (installed by the binary only) and one info line
//! per request, without message bodies.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Instant;

use actix_web::dev::ServiceResponse;
use actix_web::HttpMessage;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Log lines waiting for the writer thread at most; past it (stderr stopped
/// draining) new lines are dropped rather than stall a worker.
const BUFFERED_LINES: usize = 16_384;

/// Keeps the log writer thread running; dropping it writes out the lines
/// still buffered. Hold it until the process exits.
#[must_use = "dropping the guard stops writing logs"]
pub struct LogGuard {
    _writer: WorkerGuard,
}

/// Installs a stderr subscriber filtered by `RUST_LOG` (default `info`);
/// when one is already installed it stays, and the guard's writer is unused.
///
/// Lines are written by a thread of their own, in batches: a request's
/// answer never waits for its log line's `write` to stderr (a pipe that a
/// slow log collector drains could otherwise stall every worker), and a
/// burst (one message answering 10,000 parked polls) costs a few writes,
/// not one per request.
pub fn init_subscriber() -> LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(BUFFERED_LINES)
        .lossy(true)
        // Buffered: the writer thread flushes once it has taken every line
        // waiting, so a burst is a few writes (stderr itself is unbuffered:
        // a `write` per line, one per request under load).
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let _already_installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    LogGuard { _writer: guard }
}

/// [`init_subscriber`] for the rest of the process, for tests (which have
/// no `main` to hold the guard): lines still buffered at exit may be lost.
pub fn init_subscriber_for_process() {
    static GUARD: OnceLock<LogGuard> = OnceLock::new();
    GUARD.get_or_init(init_subscriber);
}

/// Logs method, path (never the query, which may hold `access_token`),
/// status, duration and the token's name (never the token) of a request
/// answered with `response`, which arrived at `started`.
pub(crate) fn log_request<B>(response: &ServiceResponse<B>, started: Instant) {
    if !tracing::enabled!(tracing::Level::INFO) {
        return;
    }
    let request = response.request();
    let token = request
        .extensions()
        .get::<crate::auth::Caller>()
        .and_then(|caller| caller.name().map(str::to_owned));
    tracing::info!(
        method = %request.method(),
        path = %request.path(),
        status = response.status().as_u16(),
        token = token.as_deref().unwrap_or("-"),
        // Whole microseconds: formatting a float took a sixth of the line's
        // cost, and one line is written per request.
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
}
