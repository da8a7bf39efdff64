//! Prometheus metrics, one registry per [`crate::Application`] (tests run
//! several servers in one process):
//!
//! - `chat_http_requests_total{route,status}` and
//!   `chat_http_request_duration_seconds{route}`, recorded by
//!   [`record_request`] for every request, `route` being the route pattern
//!   or `unmatched`;
//! - `chat_messages_posted_total`: messages stored (not idempotent replays);
//! - `chat_parked_requests`: requests waiting now, kept by
//!   [`crate::limits::ParkedSlots`];
//! - `chat_store_operation_duration_seconds{operation}`, timed by
//!   `MeteredStore` around every store call;
//! - `chat_wakeup_delay_seconds`: for a poll that waited and was woken by a
//!   message, the time from the message's `created_at` (which the store
//!   assigns as it commits) to the moment the answer is built.

mod requests;
mod store;

use chat_core::Page;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

pub(crate) use requests::record_request;
pub(crate) use store::MeteredStore;

/// The `Content-Type` of the Prometheus text format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Request durations: long polls wait up to the poll timeout.
const REQUEST_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Store calls: microseconds (memory) to a disk sync (SQLite).
const STORE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
/// Commit to answer: the contract promises a few milliseconds.
const WAKEUP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Every metric the server exports.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub posted: IntCounter,
    pub parked: IntGauge,
    pub store_duration: HistogramVec,
    pub wakeup_delay: Histogram,
}

impl Metrics {
    /// A fresh registry with every family registered.
    pub fn new() -> Self {
        let requests = IntCounterVec::new(
            Opts::new("chat_http_requests_total", "HTTP requests answered"),
            &["route", "status"],
        )
        .expect("valid metric");
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "chat_http_request_duration_seconds",
                "Time from a request's head to its answer, long-poll waits included",
            )
            .buckets(REQUEST_BUCKETS.to_vec()),
            &["route"],
        )
        .expect("valid metric");
        let posted = IntCounter::new(
            "chat_messages_posted_total",
            "Messages stored (idempotent replays excluded)",
        )
        .expect("valid metric");
        let parked = IntGauge::new(
            "chat_parked_requests",
            "Polls and event streams waiting now",
        )
        .expect("valid metric");
        let store_duration = HistogramVec::new(
            HistogramOpts::new(
                "chat_store_operation_duration_seconds",
                "Duration of store calls",
            )
            .buckets(STORE_BUCKETS.to_vec()),
            &["operation"],
        )
        .expect("valid metric");
        let wakeup_delay = Histogram::with_opts(
            HistogramOpts::new(
                "chat_wakeup_delay_seconds",
                "From a message's commit (its created_at) to the answer of a poll it woke",
            )
            .buckets(WAKEUP_BUCKETS.to_vec()),
        )
        .expect("valid metric");
        let registry = Registry::new();
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(request_duration.clone()),
            Box::new(posted.clone()),
            Box::new(parked.clone()),
            Box::new(store_duration.clone()),
            Box::new(wakeup_delay.clone()),
        ] {
            registry.register(collector).expect("each family once");
        }
        Self {
            registry,
            requests,
            request_duration,
            posted,
            parked,
            store_duration,
            wakeup_delay,
        }
    }

    /// Records the wake-up delay of a poll that waited and got `page`.
    pub fn observe_wakeup(&self, page: &Page) {
        if let Some(first) = page.messages.first() {
            let delay = chrono::Utc::now() - first.created_at;
            // A clock stepped back makes the delay negative: not a sample.
            if let Ok(delay) = delay.to_std() {
                self.wakeup_delay.observe(delay.as_secs_f64());
            }
        }
    }

    /// The text exposition of every family.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut text = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut text)?;
        Ok(String::from_utf8_lossy(&text).into_owned())
    }
}
