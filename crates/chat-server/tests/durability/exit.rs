//! An idle server exits at once on SIGTERM: nothing waits out a fixed pause,
//! and a SIGTERM right after it said it listens is already a graceful stop.

use std::time::{Duration, Instant};

use crate::process;

#[tokio::test]
async fn an_idle_server_exits_promptly_after_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = process::start(&dir.path().join("chat.db")).await;
    let client = reqwest::Client::new();
    server.send(&client, "general", "hello").await;
    drop(client);
    let started = Instant::now();
    let status = server.terminate().await;
    let took = started.elapsed();
    assert!(status.success(), "{status}");
    // actix's 300 ms pause before it stops its system took longer than this.
    assert!(took < Duration::from_millis(250), "exit took {took:?}");
}

/// A supervisor may stop a server as soon as it said it listens: the
/// handler is installed by then, so the stop is graceful (exit status 0),
/// not the signal's default action.
#[tokio::test]
async fn sigterm_right_after_the_listening_line_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..5 {
        let server = process::start(&dir.path().join("chat.db")).await;
        let status = server.terminate().await;
        assert!(status.success(), "{status}");
    }
}
