//! `SIGKILL` in the middle of concurrent posts: every message that got a
//! `201` is there after a restart, with the same id and body, exactly once
//! and in order.

use crate::common::assert_each_posters_order;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chat_core::Message;
use serde_json::json;
use tokio::sync::watch;

use crate::process;

const POSTERS: usize = 8;
/// Acknowledged posts to wait for before the kill.
const ACKED_BEFORE_KILL: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_keeps_every_acknowledged_message_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let client = reqwest::Client::new();
    let server = process::start(&db).await;

    let acknowledged: Arc<Mutex<Vec<Message>>> = Arc::default();
    let (ack_count, mut ack_count_rx) = watch::channel(0usize);
    let ack_count = Arc::new(ack_count);
    let posters: Vec<_> = (0..POSTERS)
        .map(|poster| {
            let client = client.clone();
            let url = format!("{}/rooms/crash/messages", server.address);
            let acknowledged = Arc::clone(&acknowledged);
            let ack_count = Arc::clone(&ack_count);
            tokio::spawn(async move {
                for n in 0.. {
                    let body = json!({ "body": format!("{poster}:{n}") });
                    // After the kill the connection fails: this poster is done.
                    let Ok(response) = client.post(&url).json(&body).send().await else {
                        return;
                    };
                    if response.status() != 201 {
                        return;
                    }
                    let Ok(message) = response.json::<Message>().await else {
                        return;
                    };
                    acknowledged.lock().unwrap().push(message);
                    ack_count.send_modify(|count| *count += 1);
                }
            })
        })
        .collect();

    ack_count_rx
        .wait_for(|&count| count >= ACKED_BEFORE_KILL)
        .await
        .unwrap();
    server.kill().await;
    for poster in posters {
        poster.await.unwrap();
    }

    let server = process::start(&db).await;
    let stored = server.read_all(&client, "crash").await;
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= ACKED_BEFORE_KILL);

    assert!(
        stored.windows(2).all(|pair| pair[0].id < pair[1].id),
        "ids out of order or duplicated"
    );
    let stored_by_id: HashMap<_, _> = stored.iter().map(|m| (m.id, m)).collect();
    for message in &acknowledged {
        let found = stored_by_id
            .get(&message.id)
            .unwrap_or_else(|| panic!("acknowledged message {} was lost", message.body));
        assert_eq!(*found, message, "a message came back changed");
    }
    let bodies: HashSet<&str> = stored.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies.len(), stored.len(), "a body was stored twice");
    // Besides acknowledged messages, at most the one request each poster had
    // in flight at the kill may have been committed.
    assert!(stored.len() <= acknowledged.len() + POSTERS);

    assert_each_posters_order(&stored);

    let next = server.send(&client, "crash", "after the crash").await;
    assert!(next.id > stored.last().unwrap().id);
}
