//! `idle`: many parked pollers held for a while on a silent room; what does
//! each cost the server in resident memory, and how much CPU does it burn
//! while nothing happens?
//!
//! Memory (resident, summed over the server's processes: see
//! [`crate::procfs`]) is read before the pollers connect and again once all
//! are parked and at the end of the window (the larger of the two counts, to
//! be conservative); CPU is `utime + stime` over the window. The pollers re-poll whenever their
//! `timeout` runs out, as real clients do, so that cost is included.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::pollers::{wait_parked, ConnectLimit};
use super::{write_checks, Context, Report};
use crate::api::POLL_LIMIT;
use crate::error::{BenchError, Failures};
use crate::procfs;
use crate::verify::Verification;

/// Options of `idle`.
#[derive(Debug, Clone, clap::Args)]
pub struct IdleOptions {
    /// Parked pollers, each on its own connection.
    #[arg(long, default_value_t = 1000)]
    pub pollers: usize,
    /// How long to hold them once all are parked, in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// The process id of the server, whose memory and CPU are read from /proc.
    #[arg(long)]
    pub server_pid: u32,
    /// The pollers' `timeout`, in seconds: each re-polls when it runs out.
    #[arg(long, default_value_t = 10)]
    pub poll_timeout: u64,
}

/// What `idle` measured.
#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    /// Pollers asked for.
    pub pollers: usize,
    /// Pollers parked, and still holding at the end of the window.
    pub held: usize,
    /// How long they were held and measured, in seconds.
    pub seconds: f64,
    /// Polls that ran out and were sent again during the run.
    pub repolls: usize,
    /// The server's resident memory before the pollers connected, in KiB.
    pub rss_before_kib: u64,
    /// … once all were parked.
    pub rss_parked_kib: u64,
    /// … at the end of the window.
    pub rss_end_kib: u64,
    /// The growth of resident memory per poller asked for, in KiB.
    pub kib_per_poller: f64,
    /// The server's CPU time over the window, as a percentage of one core.
    pub cpu_percent: f64,
    /// Nothing was posted, so every message received is unexpected.
    pub verification: Verification,
    /// Requests that failed.
    pub failures: Failures,
}

/// What a poller tells the coordinator after it parked.
enum Event {
    /// A poll ran out and was sent again.
    Repolled,
    /// Messages arrived in a room that should be silent.
    Received(Vec<Uuid>),
    /// The poller stopped: it no longer holds a poll.
    Failed(BenchError),
}

/// Runs the scenario.
pub async fn run(context: &Context, options: &IdleOptions) -> Result<IdleReport, BenchError> {
    let api = &context.api;
    let pid = options.server_pid;
    let mut progress = context.progress("idle");
    let rss_before_kib = procfs::resident_kib(pid)?;
    let cursor = api.newest_id(&mut api.client()).await?;

    let limit = Arc::new(ConnectLimit::new());
    let (parked_tx, mut parked_rx) = mpsc::unbounded_channel();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut pollers = JoinSet::new();
    for _ in 0..options.pollers {
        pollers.spawn(hold(
            context.clone(),
            Arc::clone(&limit),
            cursor,
            options.poll_timeout,
            parked_tx.clone(),
            events_tx.clone(),
        ));
    }
    drop((parked_tx, events_tx));
    let parked = wait_parked(
        &mut parked_rx,
        options.pollers,
        "pollers parked",
        &mut progress,
    )
    .await;
    let rss_parked_kib = procfs::resident_kib(pid)?;
    progress.say(format_args!(
        "{parked} pollers parked; holding them for {} s",
        options.seconds
    ));

    let cpu_start = procfs::cpu_time(pid)?;
    let window_start = Instant::now();
    let window_end =
        tokio::time::Instant::from_std(window_start + Duration::from_secs(options.seconds));
    let mut repolls = 0;
    let mut received = Vec::new();
    let mut failures = Failures::default();
    let mut count = |event| match event {
        Event::Repolled => repolls += 1,
        Event::Received(ids) => received.extend(ids),
        Event::Failed(error) => failures.record(&error),
    };
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(window_end) => break,
            event = events.recv() => match event {
                Some(event) => count(event),
                // Every poller stopped: nothing is held any more.
                None => break,
            },
        }
    }
    let cpu_end = procfs::cpu_time(pid)?;
    let window = window_start.elapsed();
    let rss_end_kib = procfs::resident_kib(pid)?;
    // A poller's task ends only when it stops holding, so the tasks still
    // running are the pollers still held.
    while pollers.try_join_next().is_some() {}
    let held = pollers.len();
    pollers.shutdown().await;
    while let Ok(event) = events.try_recv() {
        count(event);
    }

    let growth = rss_parked_kib
        .max(rss_end_kib)
        .saturating_sub(rss_before_kib);
    Ok(IdleReport {
        pollers: options.pollers,
        held,
        seconds: window.as_secs_f64(),
        repolls,
        rss_before_kib,
        rss_parked_kib,
        rss_end_kib,
        kib_per_poller: growth as f64 / options.pollers.max(1) as f64,
        cpu_percent: (cpu_end.saturating_sub(cpu_start)).as_secs_f64() / window.as_secs_f64()
            * 100.0,
        verification: Verification::check(&[], &received),
        failures,
    })
}

/// One poller: connects and parks (reporting over `parked` whether it
/// could), then keeps a poll parked until it is stopped, re-polling whenever
/// one runs out.
async fn hold(
    context: Context,
    limit: Arc<ConnectLimit>,
    mut cursor: Uuid,
    timeout_secs: u64,
    parked: mpsc::UnboundedSender<bool>,
    events: mpsc::UnboundedSender<Event>,
) {
    let api = &context.api;
    let mut poll = api.poll(cursor, POLL_LIMIT, timeout_secs);
    let mut connection = match limit.park(api, None, &poll).await {
        Ok(connection) => connection,
        Err(error) => {
            let _ = parked.send(false);
            let _ = events.send(Event::Failed(error));
            return;
        }
    };
    let _ = parked.send(true);
    drop(parked);
    loop {
        let page = match api.await_page(&mut connection, timeout_secs).await {
            Ok(page) => page,
            Err(error) => {
                let _ = events.send(Event::Failed(error));
                return;
            }
        };
        let event = match page.ids.last() {
            None => Event::Repolled,
            Some(&last) => {
                cursor = last;
                poll = api.poll(cursor, POLL_LIMIT, timeout_secs);
                Event::Received(page.ids)
            }
        };
        let _ = events.send(event);
        if let Err(error) = connection.send(&[&poll]).await {
            let _ = events.send(Event::Failed(error.into()));
            return;
        }
    }
}

impl Report for IdleReport {
    fn errors(&self) -> usize {
        self.verification.errors()
            + self.failures.count
            + (self.pollers - self.held.min(self.pollers))
    }
}

impl fmt::Display for IdleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "idle: {}/{} pollers held for {:.1} s ({} re-polls); server RSS {} KiB before, \
             {} KiB parked, {} KiB at the end: {:.2} KiB per poller; CPU {:.2} % of one core",
            self.held,
            self.pollers,
            self.seconds,
            self.repolls,
            self.rss_before_kib,
            self.rss_parked_kib,
            self.rss_end_kib,
            self.kib_per_poller,
            self.cpu_percent
        )?;
        write_checks(f, &self.verification, &self.failures)
    }
}
