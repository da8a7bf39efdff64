//! Waiting GETs: woken by a matching POST within milliseconds, answered with
//! `[]` when the timeout runs out, never woken by other rooms.

use std::time::{Duration, Instant};

use chat_core::Message;
use uuid::Uuid;

use crate::helpers::{backend_tests, spawn_app, Backend, TestApp};

/// A generous correctness bound for a wake-up; the benchmarks measure the
/// real latency.
const WAKE_BOUND: Duration = Duration::from_millis(100);

async fn spawn_poll(
    app: &TestApp,
    path_and_query: String,
) -> tokio::task::JoinHandle<(Vec<Message>, Instant)> {
    let request = app.client.get(format!("{}{path_and_query}", app.address));
    tokio::spawn(async move {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let messages = response.json().await.unwrap();
        (messages, Instant::now())
    })
}

async fn a_parked_poll_is_answered_within_milliseconds_of_a_post(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.send("/messages", "first").await;
    let poll = spawn_poll(&app, format!("/messages?after={}&timeout=30", first.id)).await;
    app.store.wait_for_watches(1).await;
    let second = app.send("/messages", "second").await;
    let acknowledged = Instant::now();
    let (messages, answered) = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(messages, vec![second]);
    let delay = answered.saturating_duration_since(acknowledged);
    assert!(
        delay < WAKE_BOUND,
        "woken {delay:?} after the POST was acknowledged"
    );
}

async fn a_poll_without_cursor_on_an_empty_room_waits_for_the_first_message(backend: Backend) {
    let app = spawn_app(backend).await;
    let poll = spawn_poll(&app, "/rooms/fresh/messages?timeout=30".to_owned()).await;
    app.store.wait_for_watches(1).await;
    let message = app.send("/rooms/fresh/messages", "hello").await;
    let (messages, _) = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(messages, vec![message]);
}

async fn a_poll_with_nothing_new_answers_an_empty_array_when_the_timeout_runs_out(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let started = Instant::now();
    let response = app
        .get(&format!("/messages?after={}&timeout=1", Uuid::nil()))
        .await;
    let waited = started.elapsed();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "[]");
    assert!(
        waited >= Duration::from_secs(1),
        "answered after {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}");
}

async fn a_timeout_of_zero_answers_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = tokio::time::timeout(Duration::from_secs(2), app.get("/messages?timeout=0"))
        .await
        .expect("timeout=0 must not wait");
    assert_eq!(response.text().await.unwrap(), "[]");
}

async fn a_post_to_another_room_does_not_answer_a_poll(backend: Backend) {
    let app = spawn_app(backend).await;
    let poll = spawn_poll(&app, "/rooms/quiet/messages?timeout=1".to_owned()).await;
    app.store.wait_for_watches(1).await;
    app.send("/rooms/busy/messages", "elsewhere").await;
    let (messages, _) = poll.await.unwrap();
    assert!(messages.is_empty());
}

async fn one_post_wakes_every_poller_of_the_room(backend: Backend) {
    const POLLERS: usize = 50;
    let app = spawn_app(backend).await;
    let mut polls = Vec::new();
    for _ in 0..POLLERS {
        polls.push(spawn_poll(&app, format!("/messages?after={}&timeout=30", Uuid::nil())).await);
    }
    app.store.wait_for_watches(POLLERS).await;
    let message = app.send("/messages", "to everyone").await;
    for poll in polls {
        let (messages, _) = tokio::time::timeout(Duration::from_secs(5), poll)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(messages, vec![message.clone()]);
    }
}

backend_tests!(
    a_parked_poll_is_answered_within_milliseconds_of_a_post,
    a_poll_without_cursor_on_an_empty_room_waits_for_the_first_message,
    a_poll_with_nothing_new_answers_an_empty_array_when_the_timeout_runs_out,
    a_timeout_of_zero_answers_at_once,
    a_post_to_another_room_does_not_answer_a_poll,
    one_post_wakes_every_poller_of_the_room,
);
