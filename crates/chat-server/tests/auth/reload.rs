//! `SIGHUP` reloads the file: the next request sees the new rules, a parked
//! poll stays, and an invalid file leaves the old rules in force. Log lines
//! name the token, never hold it.

use std::time::Duration;

use chat_core::Message;
use reqwest::header::AUTHORIZATION;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::process;

const ALICE: &str = "alice-token-0123456789";

fn alice_entry() -> String {
    let hash: String = Sha256::digest(ALICE.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "[[token]]\nname = \"alice\"\nsha256 = \"{hash}\"\nread = [\"*\"]\nwrite = [\"*\"]\n\
         metrics = true\n"
    )
}

async fn post(
    client: &reqwest::Client,
    address: &str,
    token: &str,
    body: &str,
) -> reqwest::Response {
    client
        .post(format!("{address}/rooms/ops/messages"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .json(&json!({ "body": body }))
        .send()
        .await
        .unwrap()
}

/// Waits until the server reports `count` parked requests.
async fn wait_for_parked(client: &reqwest::Client, address: &str, count: u32) {
    let wanted = format!("chat_parked_requests {count}");
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let text = client
                .get(format!("{address}/metrics"))
                .header(AUTHORIZATION, format!("Bearer {ALICE}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if text.lines().any(|line| line == wanted) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the poll never parked");
}

#[tokio::test]
async fn sighup_applies_new_rules_keeps_parked_polls_and_survives_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.toml");
    std::fs::write(&path, alice_entry()).unwrap();
    let mut server = process::start(&path).await;
    let client = reqwest::Client::new();
    let address = server.address.clone();

    let parked = tokio::spawn({
        let (client, url) = (
            client.clone(),
            format!("{address}/rooms/ops/messages?timeout=30"),
        );
        async move {
            client
                .get(url)
                .header(AUTHORIZATION, format!("Bearer {ALICE}"))
                .send()
                .await
                .unwrap()
        }
    });
    wait_for_parked(&client, &address, 1).await;

    let output = process::run(&["token", "new", "carol", "--write", "ops"]).await;
    let stdout = String::from_utf8(output.stdout).unwrap();
    let (carol, entry) = stdout.split_once('\n').unwrap();
    assert_eq!(
        post(&client, &address, carol, "too early").await.status(),
        401
    );

    std::fs::write(&path, format!("{}\n{entry}", alice_entry())).unwrap();
    server.hang_up();
    server.wait_for_log("access-control file reloaded").await;
    let posted = post(&client, &address, carol, "hello from carol").await;
    assert_eq!(posted.status(), 201);
    let posted: Message = posted.json().await.unwrap();
    assert_eq!(posted.author.as_deref(), Some("carol"));
    let logged = server.wait_for_log("status=201").await;
    assert!(
        logged.contains("carol"),
        "the log line names the token: {logged}"
    );
    assert!(
        !logged.contains(carol),
        "the log line holds the token: {logged}"
    );

    let woken: Vec<Message> = parked.await.unwrap().json().await.unwrap();
    assert_eq!(woken, [posted], "the poll parked before the reload");

    std::fs::write(&path, "this is = not [ valid").unwrap();
    server.hang_up();
    server.wait_for_log("the old rules stay").await;
    assert_eq!(post(&client, &address, carol, "still").await.status(), 201);
    assert_eq!(post(&client, &address, ALICE, "me too").await.status(), 201);
}
