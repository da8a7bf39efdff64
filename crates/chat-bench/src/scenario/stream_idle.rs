//! `stream-idle`: many event streams held open for a while on a silent
//! room; what does each cost the server in resident memory, and how much CPU
//! does it burn while nothing happens? Measured as `idle` measures parked
//! polls (see there), so the two compare.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;
use uuid::Uuid;

use super::{streams, write_checks, Context, Report};
use crate::error::{BenchError, Failures};
use crate::procfs;
use crate::verify::Verification;

/// Options of `stream-idle`.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamIdleOptions {
    /// Open streams, each on its own connection.
    #[arg(long, default_value_t = 1000)]
    pub streams: usize,
    /// How long to hold them once all are open, in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// The process id of the server, whose memory and CPU are read from /proc.
    #[arg(long)]
    pub server_pid: u32,
}

/// What `stream-idle` measured.
#[derive(Debug, Clone, Serialize)]
pub struct StreamIdleReport {
    /// Streams asked for.
    pub streams: usize,
    /// Streams open, and still open at the end of the window.
    pub held: usize,
    /// How long they were held and measured, in seconds.
    pub seconds: f64,
    /// The server's resident memory before the streams opened, in KiB.
    pub rss_before_kib: u64,
    /// … once all were open.
    pub rss_parked_kib: u64,
    /// … at the end of the window.
    pub rss_end_kib: u64,
    /// The growth of resident memory per stream asked for, in KiB.
    pub kib_per_stream: f64,
    /// The server's CPU time over the window, as a percentage of one core.
    pub cpu_percent: f64,
    /// Nothing was posted, so every message received is unexpected.
    pub verification: Verification,
    /// Requests and streams that failed.
    pub failures: Failures,
}

/// Runs the scenario.
pub async fn run(
    context: &Context,
    options: &StreamIdleOptions,
) -> Result<StreamIdleReport, BenchError> {
    let pid = options.server_pid;
    let mut progress = context.progress("stream-idle");
    let rss_before_kib = procfs::resident_kib(pid)?;
    let mut open = streams::open(context, options.streams, &mut progress).await;
    let rss_parked_kib = procfs::resident_kib(pid)?;
    progress.say(format_args!(
        "{} streams open; holding them for {} s",
        open.opened, options.seconds
    ));

    let cpu_start = procfs::cpu_time(pid)?;
    let window_start = Instant::now();
    let window_end =
        tokio::time::Instant::from_std(window_start + Duration::from_secs(options.seconds));
    let mut received: Vec<Uuid> = Vec::new();
    let mut failures = Failures::default();
    let mut stopped = 0;
    let mut count = |receipt: streams::Receipt| match receipt.outcome {
        Ok((id, _)) => received.push(id),
        Err(error) => {
            failures.record(&error);
            stopped += 1;
        }
    };
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(window_end) => break,
            receipt = open.receipts.recv() => match receipt {
                Some(receipt) => count(receipt),
                None => break,
            },
        }
    }
    let cpu_end = procfs::cpu_time(pid)?;
    let window = window_start.elapsed();
    let rss_end_kib = procfs::resident_kib(pid)?;
    open.tasks.shutdown().await;
    while let Ok(receipt) = open.receipts.try_recv() {
        count(receipt);
    }
    // Streams that never opened reported a failure too.
    let held = options.streams.saturating_sub(stopped);

    let growth = rss_parked_kib
        .max(rss_end_kib)
        .saturating_sub(rss_before_kib);
    Ok(StreamIdleReport {
        streams: options.streams,
        held,
        seconds: window.as_secs_f64(),
        rss_before_kib,
        rss_parked_kib,
        rss_end_kib,
        kib_per_stream: growth as f64 / options.streams.max(1) as f64,
        cpu_percent: (cpu_end.saturating_sub(cpu_start)).as_secs_f64() / window.as_secs_f64()
            * 100.0,
        verification: Verification::check(&[], &received),
        failures,
    })
}

impl Report for StreamIdleReport {
    fn errors(&self) -> usize {
        // A stream that stopped is counted among the failures already.
        self.verification.errors() + self.failures.count
    }
}

impl fmt::Display for StreamIdleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "stream-idle: {}/{} streams held for {:.1} s; server RSS {} KiB before, \
             {} KiB open, {} KiB at the end: {:.2} KiB per stream; CPU {:.2} % of one core",
            self.held,
            self.streams,
            self.seconds,
            self.rss_before_kib,
            self.rss_parked_kib,
            self.rss_end_kib,
            self.kib_per_stream,
            self.cpu_percent
        )?;
        write_checks(f, &self.verification, &self.failures)
    }
}
