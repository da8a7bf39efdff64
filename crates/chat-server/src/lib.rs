//! `chat-server`: actix-web handlers over a [`chat_core::ChatStore`], with
//! event-driven long polling.
//!
//! - [`config`]: command-line flags and environment variables ([`Config`]).
//! - [`startup`]: [`Application`], which opens the store, binds the socket
//!   (port 0 in tests) and runs until its [`Shutdown`] fires.
//! - `routes`: one module per endpoint family; thin handlers.
//! - `poll_params`: the query string of a GET, mapped onto chat-core's wait
//!   for the next page (`chat_core::store::wait_for_page`).
//! - `sse`: the body of an event stream (`GET /events`), over the same
//!   chat-core feed; `connection`: the socket options that end a stream
//!   (or any response) nobody reads.
//! - `state`: what every handler shares; `stopping`: how parked requests
//!   see the shutdown.
//! - `pruning`: retention in the background, stopped with the application.
//! - [`error`]: [`ApiError`], the contract's JSON errors.
//! - [`telemetry`]: the tracing subscriber and the per-request log line.
//! - [`auth`]: access control (`--auth-file`), reloaded on SIGHUP.
//! - [`limits`]: waiting requests (`--max-parked`) and posts per client
//!   (`--post-rate`).
//! - `metrics`: the Prometheus registry behind `GET /metrics`; `observe`:
//!   the middleware that records and logs every request.
//! - [`token_cli`]: `chat-server token new`.

pub mod auth;
pub mod config;
mod connection;
pub mod error;
pub mod limits;
mod metrics;
mod observe;
mod poll_params;
mod pruning;
mod routes;
mod serialised;
mod sse;
pub mod startup;
mod state;
mod stopping;
pub mod telemetry;
pub mod token_cli;

pub use config::Config;
pub use error::ApiError;
pub use routes::ROUTES;
pub use startup::{Application, Shutdown, StartupError};
