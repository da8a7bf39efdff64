//! Many posters and many pollers at once: every poller chaining `after` sees
//! every message exactly once, in id order, and each poster's in its order.

use std::time::Duration;

use chat_core::Message;
use serde_json::json;
use uuid::Uuid;

use crate::common::assert_each_posters_order;
use crate::helpers::{backend_tests, spawn_app, Backend};

const POSTERS: usize = 8;
const MESSAGES_PER_POSTER: usize = 200;
const POLLERS: usize = 4;
const TOTAL: usize = POSTERS * MESSAGES_PER_POSTER;

async fn concurrent_posters_and_chaining_pollers_lose_and_duplicate_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let url = format!("{}/rooms/busy/messages", app.address);

    let pollers: Vec<_> = (0..POLLERS)
        .map(|_| {
            let client = app.client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let mut cursor = Uuid::nil();
                let mut seen: Vec<Message> = Vec::new();
                while seen.len() < TOTAL {
                    let page: Vec<Message> = client
                        .get(format!("{url}?after={cursor}&timeout=10&limit=1000"))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    assert!(
                        !page.is_empty(),
                        "a poll timed out with messages still to come"
                    );
                    cursor = page.last().unwrap().id;
                    seen.extend(page);
                }
                seen
            })
        })
        .collect();

    let posters: Vec<_> = (0..POSTERS)
        .map(|poster| {
            let client = app.client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                for n in 0..MESSAGES_PER_POSTER {
                    let response = client
                        .post(&url)
                        .json(&json!({"body": format!("{poster}:{n}"), "author": format!("poster-{poster}")}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 201);
                }
            })
        })
        .collect();
    for poster in posters {
        poster.await.unwrap();
    }

    let stored = app.read_now("/rooms/busy/messages", "limit=1000").await;
    assert_eq!(stored.len(), 1000);
    for poller in pollers {
        let seen = tokio::time::timeout(Duration::from_secs(30), poller)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen.len(), TOTAL, "a poller saw extra messages");
        assert!(
            seen.windows(2).all(|pair| pair[0].id < pair[1].id),
            "out of id order or duplicated"
        );
        assert_eq!(
            &seen[TOTAL - 1000..],
            &stored[..],
            "pollers and readers disagree"
        );
        let next_per_poster = assert_each_posters_order(&seen);
        assert!(next_per_poster
            .values()
            .all(|&count| count == MESSAGES_PER_POSTER));
    }
}

backend_tests!(concurrent_posters_and_chaining_pollers_lose_and_duplicate_nothing);
