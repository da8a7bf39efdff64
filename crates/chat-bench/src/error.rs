//! Errors: [`BenchError`] stops a scenario; [`Failures`] counts the requests
//! that failed while it went on.

use serde::Serialize;

use crate::http::HttpError;

/// Why a scenario could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// An HTTP exchange failed.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The server answered with another status than the contract promises.
    #[error("{what}: expected status {expected}, got {got}: {body}")]
    Status {
        /// Which request it was.
        what: &'static str,
        /// What the contract promises.
        expected: u16,
        /// What came back.
        got: u16,
        /// The start of the body, to show the server's error.
        body: String,
    },
    /// A body is not the JSON the contract describes.
    #[error("{what}: unexpected JSON")]
    Json {
        /// Which response it was.
        what: &'static str,
        /// What the parser said.
        #[source]
        source: serde_json::Error,
    },
    /// An answer that breaks the target's protocol in another way.
    #[error("{0}")]
    Protocol(String),
    /// The scenario does not apply to the target's protocol.
    #[error("{0}")]
    Unsupported(String),
    /// Something did not happen in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A `/proc` file of the server process could not be read or parsed.
    #[error("cannot read {path}: {reason}")]
    Proc {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// Requests that failed during a run: how many, and the first reason, so a
/// report shows that something went wrong and what, without a flood.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Failures {
    /// How many failed.
    pub count: usize,
    /// The first failure's message.
    pub first: Option<String>,
}

impl Failures {
    /// Counts one failure.
    pub fn record(&mut self, error: &BenchError) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(error_chain(error));
        }
    }

    /// Adds another set of failures to this one.
    pub fn merge(&mut self, other: Failures) {
        self.count += other.count;
        if self.first.is_none() {
            self.first = other.first;
        }
    }
}

/// "outer: inner: innermost", so one line says what went wrong and why.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
