//! GET without waiting: which messages come back, in which order.

use std::time::Duration;

use chat_core::Message;
use uuid::Uuid;

use crate::common::read_all_pages;
use crate::helpers::{assert_json_content_type, backend_tests, spawn_app, Backend, TestApp};

async fn post_numbered(app: &TestApp, path: &str, count: usize) -> Vec<Message> {
    let mut stored = Vec::new();
    for n in 1..=count {
        stored.push(app.send(path, &n.to_string()).await);
    }
    stored
}

fn bodies(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.body.clone()).collect()
}

async fn without_a_cursor_the_newest_limit_messages_come_oldest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    post_numbered(&app, "/messages", 5).await;
    assert_eq!(
        bodies(&app.read_now("/messages", "limit=3").await),
        ["3", "4", "5"]
    );
    assert_eq!(app.read_now("/messages", "").await.len(), 5);
}

async fn the_default_limit_is_one_hundred_and_one_thousand_is_allowed(backend: Backend) {
    let app = spawn_app(backend).await;
    post_numbered(&app, "/messages", 101).await;
    let page = app.read_now("/messages", "").await;
    assert_eq!(page.len(), 100);
    assert_eq!(page[0].body, "2");
    assert_eq!(app.read_now("/messages", "limit=1000").await.len(), 101);
}

async fn after_returns_the_oldest_limit_messages_newer_than_the_cursor(backend: Backend) {
    let app = spawn_app(backend).await;
    let stored = post_numbered(&app, "/rooms/r/messages", 5).await;
    let page = app
        .read_now(
            "/rooms/r/messages",
            &format!("after={}&limit=2", stored[1].id),
        )
        .await;
    assert_eq!(bodies(&page), ["3", "4"]);
    let upper_case = stored[1].id.to_string().to_uppercase();
    let page = app
        .read_now("/rooms/r/messages", &format!("after={upper_case}"))
        .await;
    assert_eq!(bodies(&page), ["3", "4", "5"]);
    let from_start = app
        .read_now(
            "/rooms/r/messages",
            &format!("after={}&limit=1", Uuid::nil()),
        )
        .await;
    assert_eq!(bodies(&from_start), ["1"]);
}

async fn a_cursor_that_is_not_a_stored_id_still_works(backend: Backend) {
    let app = spawn_app(backend).await;
    let stored = post_numbered(&app, "/messages", 3).await;
    // Ids posted within one millisecond can be consecutive, so the only
    // UUID sure to be unstored is one just below the first id.
    let below_first = Uuid::from_u128(stored[0].id.as_u128() - 1);
    assert_eq!(
        bodies(
            &app.read_now("/messages", &format!("after={below_first}"))
                .await
        ),
        ["1", "2", "3"]
    );
    let just_before_last = Uuid::from_u128(stored[2].id.as_u128() - 1);
    assert_eq!(
        bodies(
            &app.read_now("/messages", &format!("after={just_before_last}"))
                .await
        ),
        ["3"]
    );
}

async fn before_returns_the_page_just_before_the_cursor_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let stored = post_numbered(&app, "/messages", 5).await;
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        app.get(&format!(
            "/messages?before={}&limit=2&timeout=60",
            stored[3].id
        )),
    )
    .await
    .expect("`before` must never wait");
    let page: Vec<Message> = response.json().await.unwrap();
    assert_eq!(bodies(&page), ["2", "3"]);
    let none: Vec<Message> = tokio::time::timeout(
        Duration::from_secs(5),
        app.get(&format!(
            "/rooms/empty/messages?before={}&timeout=60",
            Uuid::max()
        )),
    )
    .await
    .expect("`before` on an empty room must not wait either")
    .json()
    .await
    .unwrap();
    assert!(none.is_empty());
}

async fn a_room_that_never_had_a_message_reads_as_an_empty_array(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/rooms/never-used/messages?timeout=0").await;
    assert_eq!(response.status(), 200);
    assert_json_content_type(&response);
    assert_eq!(response.text().await.unwrap(), "[]");
}

async fn get_responses_are_not_cacheable(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/messages?timeout=0").await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.headers().get("chat-history-truncated").is_none());
}

async fn unknown_query_parameters_are_ignored(backend: Backend) {
    let app = spawn_app(backend).await;
    post_numbered(&app, "/messages", 1).await;
    assert_eq!(
        app.read_now("/messages", "foo=bar&foo=baz&_=123")
            .await
            .len(),
        1
    );
}

async fn a_reader_chaining_after_sees_every_message_once_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let stored = post_numbered(&app, "/messages", 25).await;
    let seen = read_all_pages(async |cursor| {
        app.read_now("/messages", &format!("after={cursor}&limit=7"))
            .await
    })
    .await;
    assert_eq!(seen, stored);
}

backend_tests!(
    without_a_cursor_the_newest_limit_messages_come_oldest_first,
    the_default_limit_is_one_hundred_and_one_thousand_is_allowed,
    after_returns_the_oldest_limit_messages_newer_than_the_cursor,
    a_cursor_that_is_not_a_stored_id_still_works,
    before_returns_the_page_just_before_the_cursor_at_once,
    a_room_that_never_had_a_message_reads_as_an_empty_array,
    get_responses_are_not_cacheable,
    unknown_query_parameters_are_ignored,
    a_reader_chaining_after_sees_every_message_once_in_order,
);
