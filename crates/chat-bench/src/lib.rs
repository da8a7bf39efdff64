//! `chat-bench`: a load generator for chat-server that verifies what it
//! receives. A missed, duplicated or reordered message is an error, counted
//! and reported, never hidden behind a throughput figure.
//!
//! - [`scenario`]: the scenarios, each a function returning a report: over
//!   long polls `latency` (hot loop, or after idle gaps), `fanout`, `idle`,
//!   `publish`, `catchup`; over event streams `stream-latency`,
//!   `stream-fanout`, `stream-idle`.
//! - [`api`]: the protocols the bench speaks: the chat contract, and
//!   Nchan's, for the peer measured beside chat-server.
//! - [`nchan`]: Nchan's message ids.
//! - [`http`]: a lean HTTP/1.1 client over tokio, cheap enough per
//!   connection to hold tens of thousands of parked polls.
//! - [`sse`]: server-sent events, parsed as they arrive.
//! - [`verify`]: received against posted: duplicates, gaps, order.
//! - [`stats`]: latency percentiles.
//! - [`procfs`]: the server's memory and CPU time, from `/proc`.
//! - [`target`]: `--server URL`, which must be this machine.
//! - [`progress`]: progress lines on stderr.
//! - [`error`]: [`BenchError`], which stops a run, and [`Failures`], which
//!   counts failed requests while it goes on.
//!
//! ```no_run
//! # async fn example() -> Result<(), chat_bench::BenchError> {
//! use chat_bench::api::{Api, Protocol};
//! use chat_bench::scenario::{latency, Context, Report};
//!
//! let target = "http://127.0.0.1:8080".parse().expect("a loopback URL");
//! let api = Api::new(target, Protocol::Chat, "bench").expect("a valid room name");
//! let context = Context::new(api, false);
//! let report = latency::run(&context, &latency::LatencyOptions { messages: 100, gap: Default::default() }).await?;
//! println!("{report}");
//! assert_eq!(report.errors(), 0);
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod error;
pub mod http;
pub mod nchan;
pub mod procfs;
pub mod progress;
pub mod scenario;
pub mod sse;
pub mod stats;
pub mod target;
pub mod verify;

pub use error::{BenchError, Failures};
