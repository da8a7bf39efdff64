//! A write the database refuses at run time is a `503` with the contract's
//! JSON error, leaves nothing behind, and the server recovers once the
//! database accepts writes again.

use serde_json::{json, Value};

use crate::process;

#[tokio::test]
async fn a_refused_write_is_a_503_that_stores_nothing_and_the_server_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let client = reqwest::Client::new();
    let server = process::start(&db).await;
    let before = server.send(&client, "general", "before").await;

    // Another connection makes every insert fail, as a full disk would.
    let saboteur = rusqlite::Connection::open(&db).unwrap();
    saboteur
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON messages \
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .unwrap();
    let response = client
        .post(format!("{}/messages", server.address))
        .json(&json!({"body": "refused"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "store_unavailable");
    assert!(
        !error["message"].as_str().unwrap().contains("disk is full"),
        "internals leaked: {error}"
    );

    saboteur.execute_batch("DROP TRIGGER refuse;").unwrap();
    let after = server.send(&client, "general", "after").await;
    let bodies: Vec<String> = server
        .read_all(&client, "general")
        .await
        .into_iter()
        .map(|message| message.body)
        .collect();
    assert_eq!(bodies, ["before", "after"]);
    assert!(after.id > before.id);
    server.kill().await;
}
