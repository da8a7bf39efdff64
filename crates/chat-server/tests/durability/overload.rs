//! A store that cannot take a post now answers `503` with `Retry-After`,
//! within a bounded time, and stores nothing.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::process;

#[tokio::test]
async fn a_post_the_writer_cannot_take_in_time_is_a_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let client = reqwest::Client::new();
    let server = process::start(&db).await;

    // Another process holds the write lock: every write waits for it.
    let blocker = rusqlite::Connection::open(&db).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    let posts = (0..3).map(|n| {
        client
            .post(format!("{}/messages", server.address))
            .json(&json!({ "body": format!("blocked {n}") }))
            .send()
    });
    for response in futures_util::future::join_all(posts).await {
        let response = response.unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "store_unavailable");
    }
    // Five seconds in the queue at most, then at most one transaction that
    // waits five seconds for the lock.
    assert!(started.elapsed() < Duration::from_secs(12));

    blocker.execute_batch("ROLLBACK").unwrap();
    server.send(&client, "general", "after").await;
    let bodies: Vec<String> = server
        .read_all(&client, "general")
        .await
        .into_iter()
        .map(|message| message.body)
        .collect();
    assert_eq!(bodies, ["after"]);
    server.kill().await;
}
