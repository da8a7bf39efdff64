//! `fanout`: many pollers parked on one room, each on its own connection,
//! then one POST; how soon does the first, the median and the last poller
//! have it, and did every one of them get exactly that message?
//!
//! Parking is made verifiable with a sentinel: each poller writes
//! `GET /healthz` and its poll together, in one write. HTTP/1.1 answers
//! pipelined requests in order, so once every sentinel is answered the
//! server has read every poll and moved on to it; the bench checks that, and
//! that no poll has come back early, before it posts. What stays invisible
//! from outside is the last few microseconds in which a handler registers
//! its wait, which a short settle (10 µs per poller, 10 ms to 500 ms) covers.
//! That settle only keeps the timing about parked polls; correctness never
//! rests on it, since a poll that parks late still gets the message, at once,
//! and is verified like the others.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::pollers::{settle_time, wait_parked, ConnectLimit};
use super::{write_checks, Context, Report};
use crate::api::{prompt_round_trip, Page, POLL_LIMIT};
use crate::error::{BenchError, Failures};
use crate::http::{Connection, Request};
use crate::stats::Summary;
use crate::verify::Verification;

/// The pollers' `timeout`: the contract's longest, so none re-polls.
const POLL_TIMEOUT_SECS: u64 = 60;

/// Options of `fanout`.
#[derive(Debug, Clone, clap::Args)]
pub struct FanoutOptions {
    /// Parked pollers, each on its own connection.
    #[arg(long, default_value_t = 1000)]
    pub pollers: usize,
    /// Rounds of park-then-post, each reported on its own.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

/// What `fanout` measured.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutReport {
    /// Pollers asked for.
    pub pollers: usize,
    /// One entry per round.
    pub rounds: Vec<FanoutRound>,
    /// Requests that failed, over all rounds.
    pub failures: Failures,
}

/// One round of `fanout`.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutRound {
    /// 1, 2, …
    pub round: usize,
    /// Pollers that took part (those whose connection survived earlier rounds).
    pub pollers: usize,
    /// Pollers whose sentinel was answered.
    pub parked: usize,
    /// From sending the polls until every sentinel was answered (in round 1,
    /// opening the connections included).
    pub park_ms: f64,
    /// Polls answered before the POST: not parked when they should have been.
    pub returned_early: usize,
    /// From the POST sent until each poller read the message: `min_ms` is the
    /// first poller, `p50_ms` the median, `max_ms` the last.
    pub delivery: Summary,
    /// Per poller, the message posted against what it received, summed.
    pub verification: Verification,
}

/// Runs the scenario.
pub async fn run(context: &Context, options: &FanoutOptions) -> Result<FanoutReport, BenchError> {
    let api = &context.api;
    let mut progress = context.progress("fanout");
    let mut cursor = api.newest_id(&mut api.client()).await?;
    let limit = Arc::new(ConnectLimit::new());
    // Round 1 opens the connections; later rounds reuse those that survived.
    let mut connections: Vec<Option<Connection>> = (0..options.pollers).map(|_| None).collect();
    let mut rounds = Vec::with_capacity(options.rounds);
    let mut failures = Failures::default();
    for number in 1..=options.rounds {
        let round = run_round(context, number, &limit, connections, cursor, &mut failures).await?;
        progress.say(format_args!(
            "round {number}: {} pollers, last served {:.1} ms after the POST",
            round.report.pollers, round.report.delivery.max_ms
        ));
        rounds.push(round.report);
        connections = round.connections.into_iter().map(Some).collect();
        cursor = round.posted;
    }
    Ok(FanoutReport {
        pollers: options.pollers,
        rounds,
        failures,
    })
}

/// A finished round: its figures, the message it posted (the next round's
/// cursor) and the connections that can take part in the next one.
struct Round {
    report: FanoutRound,
    posted: Uuid,
    connections: Vec<Connection>,
}

async fn run_round(
    context: &Context,
    number: usize,
    limit: &Arc<ConnectLimit>,
    connections: Vec<Option<Connection>>,
    cursor: Uuid,
    failures: &mut Failures,
) -> Result<Round, BenchError> {
    let api = &context.api;
    let mut progress = context.progress("fanout");
    let pollers = connections.len();
    let poll = Arc::new(api.poll(cursor, POLL_LIMIT, POLL_TIMEOUT_SECS));
    let (parked_tx, mut parked_rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for connection in connections {
        tasks.spawn(take_part(
            context.clone(),
            Arc::clone(limit),
            connection,
            Arc::clone(&poll),
            parked_tx.clone(),
        ));
    }
    drop(parked_tx);
    let parked = wait_parked(&mut parked_rx, pollers, "pollers parked", &mut progress).await;
    let park_time = started.elapsed();
    tokio::time::sleep(settle_time(pollers)).await;
    // A poll answered before anything was posted was not parked (or the
    // server dropped it): it is kept to be verified, and counted.
    let mut answers = Vec::with_capacity(pollers);
    while let Some(joined) = tasks.try_join_next() {
        answers.push(joined.expect("a poller does not panic"));
    }
    let returned_early = answers.len();

    // A connection of its own per POST: one kept from the last round would
    // have sat idle through the parking, long enough for the server to close it.
    let (sent_at, response) = prompt_round_trip(&mut api.client(), &api.post(), "POST").await?;
    let posted = api.posted_id(&response)?;
    while let Some(joined) = tasks.join_next().await {
        answers.push(joined.expect("a poller does not panic"));
    }

    let mut delivery = Vec::with_capacity(pollers);
    let mut verification = Verification::default();
    let mut survivors = Vec::with_capacity(pollers);
    for (connection, answer) in answers {
        let received = match answer {
            Ok(page) => {
                if page.ids.contains(&posted) {
                    delivery.push(page.received_at.saturating_duration_since(sent_at));
                }
                page.ids
            }
            Err(error) => {
                failures.record(&error);
                Vec::new()
            }
        };
        verification += Verification::check(&[posted], &received);
        survivors.extend(connection.filter(Connection::is_reusable));
    }
    Ok(Round {
        report: FanoutRound {
            round: number,
            pollers,
            parked,
            park_ms: park_time.as_secs_f64() * 1000.0,
            returned_early,
            delivery: Summary::of(delivery),
            verification,
        },
        posted,
        connections: survivors,
    })
}

/// One poller's part in a round: open a connection unless it has one, park
/// behind the sentinel (reporting over `parked` whether that worked), then
/// wait for the answer. The connection comes back for the next round unless
/// it failed.
async fn take_part(
    context: Context,
    limit: Arc<ConnectLimit>,
    connection: Option<Connection>,
    poll: Arc<Request>,
    parked: mpsc::UnboundedSender<bool>,
) -> (Option<Connection>, Result<Page, BenchError>) {
    let api = &context.api;
    let mut connection = match limit.park(api, connection, &poll).await {
        Ok(connection) => connection,
        Err(error) => {
            let _ = parked.send(false);
            return (None, Err(error));
        }
    };
    let _ = parked.send(true);
    drop(parked);
    match api.await_page(&mut connection, POLL_TIMEOUT_SECS).await {
        Ok(page) => (Some(connection), Ok(page)),
        Err(error) => (None, Err(error)),
    }
}

impl Report for FanoutReport {
    fn errors(&self) -> usize {
        let per_round: usize = self
            .rounds
            .iter()
            .map(|round| round.verification.errors() + round.returned_early)
            .sum();
        per_round + self.failures.count
    }
}

impl fmt::Display for FanoutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fanout: {} pollers, {} rounds",
            self.pollers,
            self.rounds.len()
        )?;
        let mut verification = Verification::default();
        for round in &self.rounds {
            writeln!(
                f,
                "round {}: {}/{} parked in {:.1} ms ({} returned early); \
                 delivered to {}: first {:.3} ms, median {:.3} ms, last {:.3} ms",
                round.round,
                round.parked,
                round.pollers,
                round.park_ms,
                round.returned_early,
                round.delivery.count,
                round.delivery.min_ms,
                round.delivery.p50_ms,
                round.delivery.max_ms
            )?;
            verification += round.verification;
        }
        write_checks(f, &verification, &self.failures)
    }
}
