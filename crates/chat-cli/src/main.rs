//! `chat-cli`: a command-line client for `chat-server`.
//!
//! - `chat-cli send <BODY>` posts a message and prints its id; `send -` posts
//!   each line of standard input.
//! - `chat-cli tail` prints recent messages and follows the room over its
//!   event stream (or, with `--long-poll`, by long polling), surviving
//!   server restarts without duplicating or skipping a message.
//!
//! Where things live: [`cli`] parses and checks the arguments, [`client`]
//! speaks the HTTP contract and [`client_error`] explains its failures,
//! [`event_stream`] reads an open event stream with the parser in [`sse`],
//! [`send`] and [`tail`] are the two commands, [`retry`] paces their retries,
//! [`cursor_file`] keeps `tail`'s position between runs, [`output`] formats
//! and writes, and [`error`] gathers what can go wrong.
//!
//! Exit codes: 0 on success (and when standard output is closed by its
//! reader), 1 on an error, reported as one line on standard error, and 2 on a
//! usage error.

mod cli;
mod client;
mod client_error;
mod cursor_file;
mod error;
mod event_stream;
mod output;
mod retry;
mod send;
mod sse;
mod tail;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::client::Client;
use crate::error::CliError;
use crate::output::Output;

fn main() -> ExitCode {
    // Exits with code 2 and clap's message on a usage error.
    let cli = Cli::parse();
    // One request is in flight at a time, so one thread is all it takes.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            output::report(format_args!("cannot start the async runtime: {error}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is_closed_stdout() => ExitCode::SUCCESS,
        Err(error) => {
            output::report(error);
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let target = &cli.target;
    let client = Client::new(&target.server, target.room.as_ref(), target.token.as_ref())?;
    let mut out = Output::new();
    match &cli.command {
        Command::Send(args) => send::run(&client, args, &mut out).await,
        // Also ends, quietly, once nobody reads what it prints.
        Command::Tail(args) => tokio::select! {
            result = tail::run(&client, args, &mut out) => result,
            () = output::closed() => Ok(()),
        },
    }
}
