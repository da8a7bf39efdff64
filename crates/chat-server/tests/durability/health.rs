//! `/healthz` says whether a post would succeed now: a server whose writes
//! fail is unhealthy even though it can still read, and healthy again once
//! writes work, without waiting for a post.

use serde_json::json;

use crate::process;

#[tokio::test]
async fn healthz_fails_while_writes_fail_and_recovers_when_they_work() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let client = reqwest::Client::new();
    let server = process::start(&db).await;
    let healthz = || async {
        client
            .get(format!("{}/healthz", server.address))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(healthz().await, 200);

    // Another connection makes every write fail, as a full disk would.
    let saboteur = rusqlite::Connection::open(&db).unwrap();
    saboteur
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON messages \
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .unwrap();
    let refused = client
        .post(format!("{}/messages", server.address))
        .json(&json!({"body": "refused"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(healthz().await, 503, "a post would fail now");
    assert_eq!(healthz().await, 503, "and still would");

    saboteur.execute_batch("DROP TRIGGER refuse;").unwrap();
    assert_eq!(healthz().await, 200, "writes work again");
    assert!(server.read_all(&client, "general").await.is_empty());
    server.send(&client, "general", "after").await;
    server.kill().await;
}
