//! `catchup`: a client that fell behind reads the backlog. K messages are
//! posted (concurrently, as fast as the server takes them), then read back
//! by chaining cursors with `limit=1000&timeout=0`; how many messages per
//! second does reading go, and were exactly the K posted read, in order?

use std::fmt;
use std::time::Instant;

use serde::Serialize;
use uuid::Uuid;

use super::publish::{post_many, Budget};
use super::{write_checks, Context, Report};
use crate::api::{prompt_round_trip, MAX_LIMIT};
use crate::error::{BenchError, Failures};
use crate::verify::Verification;

/// Options of `catchup`.
#[derive(Debug, Clone, clap::Args)]
pub struct CatchupOptions {
    /// Messages to post, then read back.
    #[arg(long, default_value_t = 100_000)]
    pub messages: usize,
    /// Posters filling the backlog, each on its own connection.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

/// What `catchup` measured.
#[derive(Debug, Clone, Serialize)]
pub struct CatchupReport {
    /// Messages posted successfully.
    pub posted: usize,
    /// How long posting took, in seconds.
    pub post_seconds: f64,
    /// How long reading everything back took, in seconds.
    pub read_seconds: f64,
    /// GETs the reading took, the final empty one included.
    pub requests: usize,
    /// Messages read per second.
    pub read_messages_per_second: f64,
    /// What was read against what was posted.
    pub verification: Verification,
    /// Requests that failed.
    pub failures: Failures,
}

/// Runs the scenario.
pub async fn run(context: &Context, options: &CatchupOptions) -> Result<CatchupReport, BenchError> {
    let api = &context.api;
    api.require_chat(
        "catchup",
        "its long poll answers one message per request, so there is no page to read",
    )?;
    let mut progress = context.progress("catchup");
    let start = api.newest_id(&mut api.client()).await?;
    let budget = Budget {
        messages: Some(options.messages),
        until: None,
    };
    let posted = post_many(context, options.concurrency, budget, &mut progress).await;
    progress.say(format_args!(
        "{} messages posted in {:.2} s; reading them back",
        posted.ids.len(),
        posted.elapsed.as_secs_f64()
    ));
    let mut failures = posted.failures;
    // Ids increase in the order the room holds messages, whoever posted them.
    let mut expected = posted.ids;
    expected.sort_unstable();

    // A connection opened now: one opened before posting would have sat idle
    // long enough for the server to close it.
    let mut reader = api.client();
    let mut received: Vec<Uuid> = Vec::with_capacity(expected.len());
    let mut cursor = start;
    let mut requests = 0;
    let started = Instant::now();
    loop {
        let read = api.poll(cursor, MAX_LIMIT, 0);
        requests += 1;
        let page = prompt_round_trip(&mut reader, &read, "GET")
            .await
            .and_then(|(_, response)| api.page_ids(&response));
        let ids = match page {
            Ok(ids) => ids,
            Err(error) => {
                failures.record(&error);
                break;
            }
        };
        let Some(&last) = ids.last() else {
            break;
        };
        cursor = last;
        received.extend(ids);
        progress.tick(format_args!(
            "{}/{} messages read",
            received.len(),
            expected.len()
        ));
    }
    let read_seconds = started.elapsed().as_secs_f64();
    Ok(CatchupReport {
        posted: expected.len(),
        post_seconds: posted.elapsed.as_secs_f64(),
        read_seconds,
        requests,
        read_messages_per_second: received.len() as f64 / read_seconds,
        verification: Verification::check(&expected, &received),
        failures,
    })
}

impl Report for CatchupReport {
    fn errors(&self) -> usize {
        self.verification.errors() + self.failures.count
    }
}

impl fmt::Display for CatchupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "catchup: {} messages posted in {:.2} s, read back in {:.3} s \
             over {} GETs: {:.0} messages/s",
            self.posted,
            self.post_seconds,
            self.read_seconds,
            self.requests,
            self.read_messages_per_second
        )?;
        write_checks(f, &self.verification, &self.failures)
    }
}
