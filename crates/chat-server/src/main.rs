//! The `chat-server` binary: parse the configuration, set up logging, raise
//! the open-files limit, run until SIGINT or SIGTERM.

use std::error::Error;
use std::future::Future;
use std::process::ExitCode;

use chat_server::token_cli::{Command, TokenCommand};
use chat_server::{auth, telemetry, Application, Config, StartupError};
use clap::Parser;

// Requests run on actix-web's own worker threads; this runtime only holds
// the store's tasks (PostgreSQL's writer, listener and connections, which
// then wake one another on one thread instead of across two) and the signal
// handlers.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let config = Config::parse();
    if let Some(Command::Token(TokenCommand::New(new))) = &config.command {
        return match new.generate() {
            Ok((_, text)) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("chat-server: {error}");
                ExitCode::from(2)
            }
        };
    }
    // Dropped when `main` returns, after the last line was logged.
    let _logs = telemetry::init_subscriber();
    raise_open_files_limit();

    let store = config.store_for_display();
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("chat-server: {}", error_chain(&error));
            return refused_to_start(&error);
        }
    };
    auth::reload_on_hangup(app.access());
    let shutdown = app.shutdown();
    let stop = stop_signal();
    tokio::spawn(async move {
        stop.await;
        tracing::info!("stop signal received: answering parked polls and shutting down");
        shutdown.trigger();
    });
    println!(
        "chat-server listening on http://{} (store: {store})",
        app.addr()
    );
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("chat-server: {}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// The exit status of a server that could not start: 2, as for a bad flag,
/// whatever refused (the configuration, the access-control file, a store
/// that cannot be opened or reached, the address); a supervisor tells these
/// from a server that failed while running (1). A store that is down is not
/// waited for: the connection attempt is bounded (PostgreSQL: 5 s, or the
/// URL's `connect_timeout`) and restarting is the supervisor's job.
fn refused_to_start(error: &StartupError) -> ExitCode {
    match error {
        StartupError::Store(_)
        | StartupError::Auth(_)
        | StartupError::Config(_)
        | StartupError::Bind { .. } => ExitCode::from(2),
    }
}

/// Every parked poll holds a socket: lift the soft limit to the hard one.
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-files limit raised"),
        Err(error) => tracing::warn!(%error, "could not raise the open-files limit"),
    }
}

/// Installs the SIGTERM and SIGINT handlers now, and returns what completes
/// at the first of those signals. Installed before the server says it
/// listens: a handler installed by a task that has not run yet would leave a
/// signal sent right after that line its default, fatal action (no graceful
/// stop, log lines lost).
fn stop_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate =
        signal(SignalKind::terminate()).expect("cannot install the SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("cannot install the SIGINT handler");
    async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    }
}

/// "outer: inner: innermost", so one line says what went wrong and why.
fn error_chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
