//! `stream-fanout`: many event streams open on one room, each on its own
//! connection, then one POST per round; how soon does the first, the median
//! and the last stream have it, and did every stream get every message
//! exactly once and in order? The streams stay open across rounds, as
//! streams do.

use std::fmt;

use serde::Serialize;

use super::gap::GapOptions;
use super::{streams, write_checks, Context, Report};
use crate::error::{BenchError, Failures};
use crate::stats::Summary;
use crate::verify::Verification;

/// Options of `stream-fanout`.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamFanoutOptions {
    /// Open streams, each on its own connection.
    #[arg(long, default_value_t = 1000)]
    pub streams: usize,
    /// Rounds: messages posted, each once every stream has the one before.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

/// What `stream-fanout` measured.
#[derive(Debug, Clone, Serialize)]
pub struct StreamFanoutReport {
    /// Streams asked for.
    pub streams: usize,
    /// Streams that opened.
    pub opened: usize,
    /// From the first connection until every stream was open, in ms.
    pub open_ms: f64,
    /// One entry per round.
    pub rounds: Vec<StreamFanoutRound>,
    /// Every stream's messages against those posted, summed.
    pub verification: Verification,
    /// Requests and streams that failed.
    pub failures: Failures,
}

/// One round of `stream-fanout`.
#[derive(Debug, Clone, Serialize)]
pub struct StreamFanoutRound {
    /// 1, 2, …
    pub round: usize,
    /// From the POST sent until each stream read the message: `min_ms` is
    /// the first stream, `p50_ms` the median, `max_ms` the last.
    pub delivery: Summary,
}

/// Runs the scenario.
pub async fn run(
    context: &Context,
    options: &StreamFanoutOptions,
) -> Result<StreamFanoutReport, BenchError> {
    let mut progress = context.progress("stream-fanout");
    let open = streams::open(context, options.streams, &mut progress).await;
    let (opened, open_ms) = (open.opened, open.open_time.as_secs_f64() * 1000.0);
    let delivered = streams::deliver(
        context,
        open,
        options.rounds,
        GapOptions::NONE,
        &mut progress,
    )
    .await;
    let rounds = delivered
        .per_message
        .into_iter()
        .enumerate()
        .map(|(index, delivery)| StreamFanoutRound {
            round: index + 1,
            delivery: Summary::of(delivery),
        })
        .collect();
    Ok(StreamFanoutReport {
        streams: options.streams,
        opened,
        open_ms,
        rounds,
        verification: delivered.verification,
        failures: delivered.failures,
    })
}

impl Report for StreamFanoutReport {
    fn errors(&self) -> usize {
        self.verification.errors() + self.failures.count
    }
}

impl fmt::Display for StreamFanoutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "stream-fanout: {}/{} streams open in {:.1} ms, {} rounds",
            self.opened,
            self.streams,
            self.open_ms,
            self.rounds.len()
        )?;
        for round in &self.rounds {
            writeln!(
                f,
                "round {}: delivered to {}: first {:.3} ms, median {:.3} ms, last {:.3} ms",
                round.round,
                round.delivery.count,
                round.delivery.min_ms,
                round.delivery.p50_ms,
                round.delivery.max_ms
            )?;
        }
        write_checks(f, &self.verification, &self.failures)
    }
}
