//! `stream-latency`: one event stream follows the room while one poster
//! posts messages one at a time, each after a random idle gap and only once
//! the previous one arrived. Delivery latency is from just before the POST
//! is written until the event holding the message has been read; compare
//! with `latency`, the same over a chained long poll.

use std::fmt;

use serde::Serialize;

use super::gap::GapOptions;
use super::{streams, write_checks, Context, Report};
use crate::error::{BenchError, Failures};
use crate::stats::Summary;
use crate::verify::Verification;

/// Options of `stream-latency`.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamLatencyOptions {
    /// Messages to post, one at a time.
    #[arg(long, default_value_t = 1000)]
    pub messages: usize,
    /// The idle gap before each message.
    #[command(flatten)]
    pub gap: GapOptions,
}

/// What `stream-latency` measured.
#[derive(Debug, Clone, Serialize)]
pub struct StreamLatencyReport {
    /// The idle gaps before the messages.
    pub gap: GapOptions,
    /// Messages posted successfully.
    pub posted: usize,
    /// From POST sent to event read, per message.
    pub delivery: Summary,
    /// What the stream received against what was posted.
    pub verification: Verification,
    /// Requests that failed.
    pub failures: Failures,
}

/// Runs the scenario.
pub async fn run(
    context: &Context,
    options: &StreamLatencyOptions,
) -> Result<StreamLatencyReport, BenchError> {
    let mut progress = context.progress("stream-latency");
    let open = streams::open(context, 1, &mut progress).await;
    if open.opened == 0 {
        let mut open = open;
        return Err(
            match open.receipts.recv().await.map(|receipt| receipt.outcome) {
                Some(Err(error)) => error,
                _ => BenchError::Protocol("the event stream did not open".to_owned()),
            },
        );
    }
    let delivered =
        streams::deliver(context, open, options.messages, options.gap, &mut progress).await;
    Ok(StreamLatencyReport {
        gap: options.gap,
        posted: delivered.posted.len(),
        delivery: Summary::of(delivered.per_message.into_iter().flatten().collect()),
        verification: delivered.verification,
        failures: delivered.failures,
    })
}

impl Report for StreamLatencyReport {
    fn errors(&self) -> usize {
        self.verification.errors() + self.failures.count
    }
}

impl fmt::Display for StreamLatencyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "stream-latency: {} messages{}, delivery p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            self.posted,
            self.gap.describe(),
            self.delivery.p50_ms,
            self.delivery.p99_ms,
            self.delivery.max_ms
        )?;
        write_checks(f, &self.verification, &self.failures)
    }
}
