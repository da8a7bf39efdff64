//! `publish`: concurrent posters, each on its own keep-alive connection,
//! posting as fast as the server answers; how many POSTs per second, how
//! long each takes, and did every one get its `201`?

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{write_failures, Context, Report};
use crate::api::prompt_round_trip;
use crate::error::{BenchError, Failures};
use crate::progress::Progress;
use crate::stats::Summary;

/// Options of `publish`.
#[derive(Debug, Clone, clap::Args)]
pub struct PublishOptions {
    /// Posters, each on its own keep-alive connection.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// How long to post, in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Stop after this many POSTs instead, if that comes first.
    #[arg(long)]
    pub messages: Option<usize>,
}

/// What `publish` measured.
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    /// Posters.
    pub concurrency: usize,
    /// POSTs answered `201`.
    pub posted: usize,
    /// From the first POST sent to the last answer read, in seconds.
    pub seconds: f64,
    /// `posted / seconds`.
    pub posts_per_second: f64,
    /// From each POST sent to its answer read.
    pub latency: Summary,
    /// POSTs that failed or got another status than `201`.
    pub failures: Failures,
}

/// When posting stops: after `messages` POSTs, at `until`, whichever comes
/// first (at least one of them is set).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub messages: Option<usize>,
    pub until: Option<Instant>,
}

/// What a batch of posters did.
pub(crate) struct Posted {
    /// The ids of the stored messages, in no particular order.
    pub ids: Vec<Uuid>,
    /// The round trip of each successful POST.
    pub latencies: Vec<Duration>,
    /// From the start until the last poster finished.
    pub elapsed: Duration,
    /// POSTs that failed.
    pub failures: Failures,
}

/// Runs the scenario.
pub async fn run(context: &Context, options: &PublishOptions) -> Result<PublishReport, BenchError> {
    let mut progress = context.progress("publish");
    let budget = Budget {
        messages: options.messages,
        until: Some(Instant::now() + Duration::from_secs(options.seconds)),
    };
    let posted = post_many(context, options.concurrency, budget, &mut progress).await;
    let seconds = posted.elapsed.as_secs_f64();
    Ok(PublishReport {
        concurrency: options.concurrency,
        posted: posted.ids.len(),
        seconds,
        posts_per_second: posted.ids.len() as f64 / seconds,
        latency: Summary::of(posted.latencies),
        failures: posted.failures,
    })
}

/// Posts with `concurrency` posters until `budget` is spent.
pub(crate) async fn post_many(
    context: &Context,
    concurrency: usize,
    budget: Budget,
    progress: &mut Progress,
) -> Posted {
    let started = Instant::now();
    // Claimed before each POST, so a message budget is never overshot.
    let claimed = Arc::new(AtomicUsize::new(0));
    let mut posters = JoinSet::new();
    for _ in 0..concurrency {
        posters.spawn(post_until_spent(
            context.clone(),
            budget,
            Arc::clone(&claimed),
        ));
    }
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    let mut posted = Posted {
        ids: Vec::new(),
        latencies: Vec::new(),
        elapsed: Duration::ZERO,
        failures: Failures::default(),
    };
    loop {
        tokio::select! {
            joined = posters.join_next() => match joined {
                Some(joined) => {
                    let (ids, latencies, failures) = joined.expect("a poster does not panic");
                    posted.ids.extend(ids);
                    posted.latencies.extend(latencies);
                    posted.failures.merge(failures);
                }
                None => break,
            },
            _ = ticks.tick() => {
                progress.tick(format_args!("{} POSTs sent", claimed.load(Ordering::Relaxed)));
            }
        }
    }
    posted.elapsed = started.elapsed();
    posted
}

/// One poster: POST after POST on its own connection.
async fn post_until_spent(
    context: Context,
    budget: Budget,
    claimed: Arc<AtomicUsize>,
) -> (Vec<Uuid>, Vec<Duration>, Failures) {
    let mut client = context.api.client();
    let post = context.api.post();
    let mut ids = Vec::new();
    let mut latencies = Vec::new();
    let mut failures = Failures::default();
    loop {
        if budget.until.is_some_and(|until| Instant::now() >= until) {
            break;
        }
        let number = claimed.fetch_add(1, Ordering::Relaxed);
        if budget.messages.is_some_and(|messages| number >= messages) {
            break;
        }
        let outcome = prompt_round_trip(&mut client, &post, "POST")
            .await
            .and_then(|(sent_at, response)| {
                let id = context.api.posted_id(&response)?;
                Ok((id, response.received_at.saturating_duration_since(sent_at)))
            });
        match outcome {
            Ok((id, latency)) => {
                ids.push(id);
                latencies.push(latency);
            }
            Err(error) => failures.record(&error),
        }
    }
    (ids, latencies, failures)
}

impl Report for PublishReport {
    fn errors(&self) -> usize {
        self.failures.count
    }
}

impl fmt::Display for PublishReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "publish: {} posters, {} POSTs in {:.2} s: {:.0} POSTs/s; \
             latency p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            self.concurrency,
            self.posted,
            self.seconds,
            self.posts_per_second,
            self.latency.p50_ms,
            self.latency.p99_ms,
            self.latency.max_ms
        )?;
        write_failures(f, &self.failures)
    }
}
