//! An idle server exits at once on SIGTERM: nothing waits out a fixed pause.

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
