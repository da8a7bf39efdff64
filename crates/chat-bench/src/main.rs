//! The `chat-bench` binary: parse the command line, raise the open-files
//! limit, run one scenario and print its report.

use std::process::ExitCode;

use chat_bench::api::{fresh_room, Api, Protocol};
use chat_bench::error::error_chain;
use chat_bench::scenario::{
    catchup, fanout, idle, latency, publish, stream_fanout, stream_idle, stream_latency, Context,
    Report,
};
use chat_bench::target::Target;
use clap::{Parser, Subcommand};
use serde::Serialize;

/// Exit status when the run found errors (the report says which).
const FOUND_ERRORS: u8 = 1;
/// Exit status when the run could not be done at all.
const COULD_NOT_RUN: u8 = 2;

/// Load generator for chat-server that verifies every message it receives.
#[derive(Debug, Parser)]
#[command(name = "chat-bench", version)]
struct Cli {
    /// The server to load; must be on this machine (a loopback address).
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    server: Target,
    /// The protocol the server speaks: the chat contract, or Nchan's
    /// (`/pub?chan=ROOM`, `/sub?chan=ROOM`), to measure Nchan beside it.
    #[arg(long, global = true, value_enum, default_value = "chat")]
    protocol: Protocol,
    /// A token of the server's access-control file, sent as
    /// `Authorization: Bearer` (chat protocol only).
    #[arg(long, global = true, env = "CHAT_TOKEN")]
    token: Option<String>,
    /// Where pollers and streams connect instead of `--server`: another
    /// instance on the same store, to measure delivery across instances;
    /// repeat it to spread them over several in turn. Messages are still
    /// posted to `--server`. For the latency and fan-out scenarios (the
    /// others refuse it).
    #[arg(long = "subscribe-server", global = true, value_name = "URL")]
    subscribe_servers: Vec<Target>,
    /// The room to use (default: a fresh room per run, so nothing else is in it).
    #[arg(long, global = true)]
    room: Option<String>,
    /// Print the report as JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// No progress lines on stderr.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Delivery latency: one poller, messages posted one at a time (after
    /// random idle gaps with --gap-min-ms/--gap-max-ms).
    Latency(latency::LatencyOptions),
    /// Fan-out: many parked pollers, one POST, time until the last has it.
    Fanout(fanout::FanoutOptions),
    /// Idle cost: server memory per parked poller and CPU while nothing happens.
    Idle(idle::IdleOptions),
    /// Publish throughput: concurrent posters on keep-alive connections.
    Publish(publish::PublishOptions),
    /// Catch-up: post a backlog, then read it all back by chaining cursors.
    Catchup(catchup::CatchupOptions),
    /// Delivery latency over an event stream, messages posted one at a time.
    StreamLatency(stream_latency::StreamLatencyOptions),
    /// Fan-out: many open event streams, one POST per round.
    StreamFanout(stream_fanout::StreamFanoutOptions),
    /// Idle cost of open event streams: memory per stream, CPU.
    StreamIdle(stream_idle::StreamIdleOptions),
}

impl Scenario {
    /// Why the scenario cannot spread its readers over other instances, if
    /// it cannot.
    fn why_not_subscribers(&self) -> Option<&'static str> {
        match self {
            Self::Idle(_) | Self::StreamIdle(_) => Some("it measures --server's memory"),
            Self::Publish(_) => Some("it only posts"),
            Self::Catchup(_) => Some("it reads back on the connection it posted on"),
            Self::Latency(_) | Self::Fanout(_) | Self::StreamLatency(_) | Self::StreamFanout(_) => {
                None
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Latency(_) => "latency",
            Self::Fanout(_) => "fanout",
            Self::Idle(_) => "idle",
            Self::Publish(_) => "publish",
            Self::Catchup(_) => "catchup",
            Self::StreamLatency(_) => "stream-latency",
            Self::StreamFanout(_) => "stream-fanout",
            Self::StreamIdle(_) => "stream-idle",
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    raise_open_files_limit();
    let room = cli.room.unwrap_or_else(|| fresh_room(cli.scenario.name()));
    if !cli.subscribe_servers.is_empty() {
        if let Some(why) = cli.scenario.why_not_subscribers() {
            eprintln!(
                "chat-bench: --subscribe-server does not apply to {}: {why}",
                cli.scenario.name()
            );
            return ExitCode::from(COULD_NOT_RUN);
        }
    }
    let api = match Api::new(cli.server, cli.protocol, &room) {
        Ok(api) => {
            let api = api.with_subscribers(cli.subscribe_servers);
            match &cli.token {
                Some(token) => api.with_token(token),
                None => api,
            }
        }
        Err(reason) => {
            eprintln!("chat-bench: {reason}");
            return ExitCode::from(COULD_NOT_RUN);
        }
    };
    let context = Context::new(api, !cli.quiet);
    let name = cli.scenario.name();
    let outcome = match &cli.scenario {
        Scenario::Latency(options) => finish(name, latency::run(&context, options).await, cli.json),
        Scenario::Fanout(options) => finish(name, fanout::run(&context, options).await, cli.json),
        Scenario::Idle(options) => finish(name, idle::run(&context, options).await, cli.json),
        Scenario::Publish(options) => finish(name, publish::run(&context, options).await, cli.json),
        Scenario::Catchup(options) => finish(name, catchup::run(&context, options).await, cli.json),
        Scenario::StreamLatency(options) => {
            finish(name, stream_latency::run(&context, options).await, cli.json)
        }
        Scenario::StreamFanout(options) => {
            finish(name, stream_fanout::run(&context, options).await, cli.json)
        }
        Scenario::StreamIdle(options) => {
            finish(name, stream_idle::run(&context, options).await, cli.json)
        }
    };
    ExitCode::from(outcome)
}

/// The JSON document `--json` prints: the report's own fields, with the
/// scenario's name and its error count next to them, so a script needs no
/// knowledge of what counts as an error in each scenario.
#[derive(Serialize)]
struct JsonReport<'a, R> {
    scenario: &'static str,
    errors: usize,
    #[serde(flatten)]
    report: &'a R,
}

/// Prints the report (or why there is none) and picks the exit status.
fn finish<R: Report>(
    scenario: &'static str,
    result: Result<R, chat_bench::BenchError>,
    json: bool,
) -> u8 {
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            eprintln!("chat-bench: {}", error_chain(&error));
            return COULD_NOT_RUN;
        }
    };
    if json {
        let document = JsonReport {
            scenario,
            errors: report.errors(),
            report: &report,
        };
        match serde_json::to_string_pretty(&document) {
            Ok(text) => println!("{text}"),
            Err(error) => {
                eprintln!("chat-bench: cannot write the report as JSON: {error}");
                return COULD_NOT_RUN;
            }
        }
    } else {
        print!("{report}");
    }
    if report.errors() == 0 {
        0
    } else {
        eprintln!("chat-bench: {} errors found", report.errors());
        FOUND_ERRORS
    }
}

/// Every parked poll holds a socket: lift the soft limit to the hard one.
fn raise_open_files_limit() {
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("chat-bench: could not raise the open-files limit: {error}");
    }
}
