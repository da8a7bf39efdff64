//! `latency`: one poller follows the room on its cursor while one poster
//! posts messages one at a time, each only once the previous one arrived
//! and, with `--gap-min-ms`/`--gap-max-ms`, after a random idle gap (a
//! realistic chat, where every thread has gone to sleep before a message;
//! without a gap it is the hot loop). Delivery latency is from just before
//! the POST is written until the poll answer holding the message has been
//! read.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::gap::GapOptions;
use super::{write_checks, Context, Report};
use crate::api::{prompt_round_trip, Page, POLL_LIMIT};
use crate::error::{BenchError, Failures};
use crate::http::Connection;
use crate::stats::Summary;
use crate::verify::Verification;

/// The poller's `timeout`: long enough that it rarely re-polls idle.
const POLL_TIMEOUT_SECS: u64 = 10;
/// How long a posted message may take to arrive before the run stops and
/// reports it missing.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(10);

/// Options of `latency`.
#[derive(Debug, Clone, clap::Args)]
pub struct LatencyOptions {
    /// Messages to post, one at a time.
    #[arg(long, default_value_t = 1000)]
    pub messages: usize,
    /// The idle gap before each message.
    #[command(flatten)]
    pub gap: GapOptions,
}

/// What `latency` measured.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    /// The idle gaps before the messages.
    pub gap: GapOptions,
    /// Messages posted successfully.
    pub posted: usize,
    /// From POST sent to poll answer read, per message.
    pub delivery: Summary,
    /// What the poller received against what was posted.
    pub verification: Verification,
    /// Requests that failed.
    pub failures: Failures,
}

/// Runs the scenario.
pub async fn run(context: &Context, options: &LatencyOptions) -> Result<LatencyReport, BenchError> {
    let api = &context.api;
    let mut progress = context.progress("latency");
    let mut poster = api.client();
    let cursor = api.newest_id(&mut poster).await?;
    let connection = api.connect().await?;
    let (parked_tx, parked_rx) = oneshot::channel();
    let (receipts_tx, mut receipts) = mpsc::unbounded_channel();
    let follower = tokio::spawn(follow(
        context.clone(),
        connection,
        cursor,
        parked_tx,
        receipts_tx,
    ));
    parked_rx
        .await
        .expect("the follower reports whether it parked")?;

    let post = api.post();
    let mut gaps = options.gap.gaps();
    let mut sent: Vec<(Uuid, Instant)> = Vec::with_capacity(options.messages);
    let mut received = Vec::with_capacity(options.messages);
    let mut first_receipt: HashMap<Uuid, Instant> = HashMap::with_capacity(options.messages);
    let mut failures = Failures::default();
    'posting: for number in 1..=options.messages {
        gaps.wait().await;
        let posted = prompt_round_trip(&mut poster, &post, "POST")
            .await
            .and_then(|(sent_at, response)| Ok((api.posted_id(&response)?, sent_at)));
        let (id, sent_at) = match posted {
            Ok(posted) => posted,
            Err(error) => {
                failures.record(&error);
                continue;
            }
        };
        sent.push((id, sent_at));
        while !first_receipt.contains_key(&id) {
            let receipt = tokio::time::timeout(DELIVERY_DEADLINE, receipts.recv()).await;
            let page = match receipt {
                Ok(Some(Ok(page))) => page,
                Ok(Some(Err(error))) => {
                    failures.record(&error);
                    break 'posting;
                }
                Ok(None) => break 'posting,
                Err(_) => {
                    failures.record(&BenchError::Timeout(format!(
                        "message {id} was not delivered within {} s; stopping",
                        DELIVERY_DEADLINE.as_secs()
                    )));
                    break 'posting;
                }
            };
            record(page, &mut received, &mut first_receipt);
        }
        progress.tick(format_args!(
            "{number}/{} messages delivered",
            options.messages
        ));
    }
    follower.abort();
    // Answers that came in after the last wait still count: a late duplicate
    // is an error like any other.
    while let Ok(Ok(page)) = receipts.try_recv() {
        record(page, &mut received, &mut first_receipt);
    }

    let posted: Vec<Uuid> = sent.iter().map(|(id, _)| *id).collect();
    let delivery = sent
        .iter()
        .filter_map(|(id, sent_at)| {
            first_receipt
                .get(id)
                .map(|received_at| received_at.saturating_duration_since(*sent_at))
        })
        .collect();
    Ok(LatencyReport {
        gap: options.gap,
        posted: posted.len(),
        delivery: Summary::of(delivery),
        verification: Verification::check(&posted, &received),
        failures,
    })
}

fn record(page: Page, received: &mut Vec<Uuid>, first_receipt: &mut HashMap<Uuid, Instant>) {
    for id in page.ids {
        received.push(id);
        first_receipt.entry(id).or_insert(page.received_at);
    }
}

/// The poller: parks (reporting over `parked` whether it could), then
/// chains its cursor forever, handing every answer over to `receipts`.
async fn follow(
    context: Context,
    mut connection: Connection,
    mut cursor: Uuid,
    parked: oneshot::Sender<Result<(), BenchError>>,
    receipts: mpsc::UnboundedSender<Result<Page, BenchError>>,
) {
    let api = &context.api;
    let first = api.poll(cursor, POLL_LIMIT, POLL_TIMEOUT_SECS);
    if let Err(error) = api.park(&mut connection, &first).await {
        let _ = parked.send(Err(error));
        return;
    }
    let _ = parked.send(Ok(()));
    loop {
        let page = match api.await_page(&mut connection, POLL_TIMEOUT_SECS).await {
            Ok(page) => page,
            Err(error) => {
                let _ = receipts.send(Err(error));
                return;
            }
        };
        if let Some(&last) = page.ids.last() {
            cursor = last;
        }
        // Re-poll before handing the answer over, so the next message usually
        // finds this poll parked: the wake-up path is what is measured.
        let next = api.poll(cursor, POLL_LIMIT, POLL_TIMEOUT_SECS);
        if let Err(error) = connection.send(&[&next]).await {
            let _ = receipts.send(Err(error.into()));
            return;
        }
        if !page.ids.is_empty() && receipts.send(Ok(page)).is_err() {
            return;
        }
    }
}

impl Report for LatencyReport {
    fn errors(&self) -> usize {
        self.verification.errors() + self.failures.count
    }
}

impl fmt::Display for LatencyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "latency: {} messages{}, delivery p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            self.posted,
            self.gap.describe(),
            self.delivery.p50_ms,
            self.delivery.p99_ms,
            self.delivery.max_ms
        )?;
        write_checks(f, &self.verification, &self.failures)
    }
}
