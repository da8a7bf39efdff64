//! A cursor that fell behind the retained history gets the oldest retained
//! messages and `Chat-History-Truncated: true`.

use std::num::NonZeroUsize;

use chat_core::store::{Retention, StoreOptions};
use chat_core::{ChatStore, Message};
use uuid::Uuid;

use crate::helpers::{backend_tests, spawn_app_with, Backend};

async fn a_cursor_behind_retained_history_is_answered_with_the_truncated_header(backend: Backend) {
    let options = StoreOptions {
        retention: Retention {
            per_room: NonZeroUsize::new(2),
            max_age: None,
        },
        ..StoreOptions::default()
    };
    let app = spawn_app_with(backend, options, |_| {}).await;
    let mut stored = Vec::new();
    for n in 1..=4 {
        stored.push(app.send("/messages", &n.to_string()).await);
    }
    assert_eq!(app.store.prune().await.unwrap(), 2);

    for cursor in [Uuid::nil(), stored[0].id] {
        let response = app
            .get(&format!("/messages?after={cursor}&timeout=0"))
            .await;
        assert_eq!(response.headers()["chat-history-truncated"], "true");
        let page: Vec<Message> = response.json().await.unwrap();
        assert_eq!(page, stored[2..]);
    }
    let caught_up = app
        .get(&format!("/messages?after={}&timeout=0", stored[2].id))
        .await;
    assert!(caught_up.headers().get("chat-history-truncated").is_none());
    let page: Vec<Message> = caught_up.json().await.unwrap();
    assert_eq!(page, stored[3..]);
}

backend_tests!(a_cursor_behind_retained_history_is_answered_with_the_truncated_header);
