//! Graceful shutdown: parked polls are answered before the server exits.

use std::time::Duration;

use uuid::Uuid;

use crate::helpers::{backend_tests, spawn_app, Backend};

async fn shutdown_answers_parked_polls_with_an_empty_array_and_then_exits(backend: Backend) {
    let app = spawn_app(backend).await;
    let request = app.client.get(format!(
        "{}/messages?after={}&timeout=60",
        app.address,
        Uuid::nil()
    ));
    let poll = tokio::spawn(async move { request.send().await.unwrap() });
    app.store.wait_for_watches(1).await;
    app.trigger_shutdown();
    let response = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("a parked poll must not wait out its timeout at shutdown")
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "[]");
    tokio::time::timeout(Duration::from_secs(15), app.stopped())
        .await
        .expect("the server must exit")
        .unwrap();
}

backend_tests!(shutdown_answers_parked_polls_with_an_empty_array_and_then_exits);
