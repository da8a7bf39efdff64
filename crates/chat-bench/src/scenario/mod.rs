//! The scenarios, one module each, and what they share.
//!
//! Each scenario is an `async fn run(&Context, &Options)` that returns a
//! report: the figures, and every error it found. A report is [`Report`]:
//! JSON for machines, a short text for people.

pub mod catchup;
pub mod fanout;
pub mod gap;
pub mod idle;
pub mod latency;
mod pollers;
pub mod publish;
pub mod stream_fanout;
pub mod stream_idle;
pub mod stream_latency;
mod streams;

use std::fmt::{self, Display};
use std::sync::Arc;

use serde::Serialize;

use crate::api::Api;
use crate::error::Failures;
use crate::progress::Progress;
use crate::verify::Verification;

/// What every scenario runs against.
#[derive(Debug, Clone)]
pub struct Context {
    /// The server and room.
    pub api: Arc<Api>,
    /// Whether progress lines go to stderr.
    pub progress: bool,
}

impl Context {
    /// A context for `api`, with progress lines when `progress` is set.
    pub fn new(api: Api, progress: bool) -> Self {
        Self {
            api: Arc::new(api),
            progress,
        }
    }

    fn progress(&self, scenario: &'static str) -> Progress {
        Progress::new(scenario, self.progress)
    }
}

/// The outcome of a scenario.
pub trait Report: Serialize + Display {
    /// The problems found: verification errors plus failed requests. Zero
    /// means every message was delivered exactly once and in order and every
    /// request got the status the contract promises.
    fn errors(&self) -> usize;
}

/// The error lines a report of received messages ends with.
pub(crate) fn write_checks(
    f: &mut fmt::Formatter<'_>,
    verification: &Verification,
    failures: &Failures,
) -> fmt::Result {
    writeln!(
        f,
        "verification: {} expected, {} received, {} duplicate, {} missing, \
         {} out of order, {} unexpected",
        verification.expected,
        verification.received,
        verification.duplicates,
        verification.missing,
        verification.out_of_order,
        verification.unexpected
    )?;
    write_failures(f, failures)
}

/// The line on failed requests every report ends with.
pub(crate) fn write_failures(f: &mut fmt::Formatter<'_>, failures: &Failures) -> fmt::Result {
    match &failures.first {
        Some(first) => writeln!(f, "failed requests: {} (first: {first})", failures.count),
        None => writeln!(f, "failed requests: 0"),
    }
}
