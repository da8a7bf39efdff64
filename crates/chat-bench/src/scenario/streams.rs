//! Event streams held open by many clients at once, and messages posted to
//! them one at a time: what the stream scenarios share.
//!
//! A stream counts as open once the server answered `200 text/event-stream`:
//! chat-server fixes the stream's cursor (the room's newest message) before
//! it answers, and Nchan's fresh channel keeps every message for a
//! subscriber that registers late, so from then on every message posted must
//! reach the stream, exactly once and in order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::gap::GapOptions;
use super::pollers::{settle_time, wait_parked, ConnectLimit};
use super::Context;
use crate::api::prompt_round_trip;
use crate::error::{BenchError, Failures};
use crate::progress::Progress;
use crate::verify::Verification;

/// How long a posted message may take to reach every open stream before the
/// run stops and reports it missing where it did not arrive.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(30);

/// What one stream tells the coordinator.
pub(crate) struct Receipt {
    /// Which stream (its index).
    pub stream: usize,
    /// The message it got and when, or why the stream stopped.
    pub outcome: Result<(Uuid, Instant), BenchError>,
}

/// Streams being held: their tasks, and the receipts they send.
pub(crate) struct OpenStreams {
    /// How many were asked for.
    pub count: usize,
    /// How many opened.
    pub opened: usize,
    /// From the first connection until every stream answered or failed.
    pub open_time: Duration,
    /// Each stream's task; it ends only when its stream does.
    pub tasks: JoinSet<()>,
    /// What the streams received.
    pub receipts: mpsc::UnboundedReceiver<Receipt>,
}

/// Opens `count` event streams on the room, each on its own connection, and
/// returns once each one is open or failed (failures come as receipts).
pub(crate) async fn open(context: &Context, count: usize, progress: &mut Progress) -> OpenStreams {
    let limit = Arc::new(ConnectLimit::new());
    let (opened_tx, mut opened_rx) = mpsc::unbounded_channel();
    let (receipts_tx, receipts) = mpsc::unbounded_channel();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for stream in 0..count {
        tasks.spawn(follow(
            context.clone(),
            Arc::clone(&limit),
            stream,
            opened_tx.clone(),
            receipts_tx.clone(),
        ));
    }
    drop((opened_tx, receipts_tx));
    let opened = wait_parked(&mut opened_rx, count, "streams open", progress).await;
    OpenStreams {
        count,
        opened,
        open_time: started.elapsed(),
        tasks,
        receipts,
    }
}

/// One stream: open it (reporting over `opened` whether that worked), then
/// hand every message it gets to `receipts` until it ends.
async fn follow(
    context: Context,
    limit: Arc<ConnectLimit>,
    stream: usize,
    opened: mpsc::UnboundedSender<bool>,
    receipts: mpsc::UnboundedSender<Receipt>,
) {
    let api = &context.api;
    let send = |outcome| receipts.send(Receipt { stream, outcome }).is_ok();
    let mut events = match limit.open_events(api).await {
        Ok(events) => events,
        Err(error) => {
            let _ = opened.send(false);
            send(Err(error));
            return;
        }
    };
    let _ = opened.send(true);
    drop(opened);
    loop {
        let outcome = match events.next_event().await {
            Ok(Some(event)) => api
                .event_message_id(&event)
                .map(|id| (id, event.received_at)),
            Ok(None) => Err(BenchError::Protocol(
                "the server ended an event stream".to_owned(),
            )),
            Err(error) => Err(error.into()),
        };
        let stopped = outcome.is_err();
        if !send(outcome) || stopped {
            return;
        }
    }
}

/// Messages posted one at a time to open streams, and what they received.
pub(crate) struct Delivered {
    /// The ids posted, in order.
    pub posted: Vec<Uuid>,
    /// Per message posted, from the POST sent to each stream's receipt.
    pub per_message: Vec<Vec<Duration>>,
    /// Every stream's receipts against what was posted, summed.
    pub verification: Verification,
    /// Failed requests and streams.
    pub failures: Failures,
}

/// Posts `messages` messages one at a time, each after its idle gap and
/// only once every stream still open has the one before, then closes the
/// streams and verifies what each received.
pub(crate) async fn deliver(
    context: &Context,
    mut streams: OpenStreams,
    messages: usize,
    gap: GapOptions,
    progress: &mut Progress,
) -> Delivered {
    let api = &context.api;
    let mut failures = Failures::default();
    let mut received: Vec<Vec<Uuid>> = vec![Vec::new(); streams.count];
    let mut alive = vec![true; streams.count];
    // Streams that failed to open have said so already.
    while let Ok(receipt) = streams.receipts.try_recv() {
        record(receipt, &mut received, &mut alive, &mut failures);
    }
    tokio::time::sleep(settle_time(streams.opened)).await;

    let mut poster = api.client();
    let post = api.post();
    let mut gaps = gap.gaps();
    let mut posted = Vec::with_capacity(messages);
    let mut per_message = Vec::with_capacity(messages);
    'posting: for number in 1..=messages {
        gaps.wait().await;
        let outcome = prompt_round_trip(&mut poster, &post, "POST")
            .await
            .and_then(|(sent_at, response)| Ok((api.posted_id(&response)?, sent_at)));
        let (id, sent_at) = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                failures.record(&error);
                continue;
            }
        };
        posted.push(id);
        let mut got = vec![false; streams.count];
        let mut delivery = Vec::with_capacity(streams.opened);
        let deadline = tokio::time::Instant::now() + DELIVERY_DEADLINE;
        loop {
            let waiting = (0..streams.count).filter(|&s| alive[s] && !got[s]).count();
            if waiting == 0 {
                break;
            }
            let receipt = match tokio::time::timeout_at(deadline, streams.receipts.recv()).await {
                Ok(Some(receipt)) => receipt,
                Ok(None) => {
                    // Every stream ended: what this message got still counts.
                    per_message.push(delivery);
                    break 'posting;
                }
                Err(_) => {
                    failures.record(&BenchError::Timeout(format!(
                        "message {id} had not reached {waiting} streams within {} s; stopping",
                        DELIVERY_DEADLINE.as_secs()
                    )));
                    per_message.push(delivery);
                    break 'posting;
                }
            };
            let got_one = record(receipt, &mut received, &mut alive, &mut failures);
            if let Some((stream, got_id, at)) = got_one {
                if got_id == id && !std::mem::replace(&mut got[stream], true) {
                    delivery.push(at.saturating_duration_since(sent_at));
                }
            }
        }
        per_message.push(delivery);
        progress.tick(format_args!("{number}/{messages} messages delivered"));
    }
    streams.tasks.shutdown().await;
    // Receipts that came in after the last wait still count: a late
    // duplicate is an error like any other.
    while let Ok(receipt) = streams.receipts.try_recv() {
        record(receipt, &mut received, &mut alive, &mut failures);
    }
    let mut verification = Verification::default();
    for stream in &received {
        verification += Verification::check(&posted, stream);
    }
    Delivered {
        posted,
        per_message,
        verification,
        failures,
    }
}

/// Files a receipt: the message into its stream's list, or the failure (the
/// stream is then no longer waited for). Returns the message, if it was one.
fn record(
    receipt: Receipt,
    received: &mut [Vec<Uuid>],
    alive: &mut [bool],
    failures: &mut Failures,
) -> Option<(usize, Uuid, Instant)> {
    match receipt.outcome {
        Ok((id, at)) => {
            received[receipt.stream].push(id);
            Some((receipt.stream, id, at))
        }
        Err(error) => {
            failures.record(&error);
            alive[receipt.stream] = false;
            None
        }
    }
}
