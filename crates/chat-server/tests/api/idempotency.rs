//! Idempotent POST: `Idempotency-Key` makes a retried post safe.

use serde_json::{json, Value};

use crate::helpers::{assert_error, backend_tests, spawn_app, Backend, TestApp};

async fn post_with_key(app: &TestApp, path: &str, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.address))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn a_repeated_key_is_answered_200_with_the_first_message_and_stores_nothing(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let body = json!({"body": "once", "author": "ann"});
    let first = post_with_key(&app, "/messages", "key-1", &body).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("Idempotent-Replayed").is_none());
    let first: Value = first.json().await.unwrap();

    let repeat = post_with_key(&app, "/messages", "key-1", &body).await;
    assert_eq!(repeat.status(), 200);
    assert_eq!(repeat.headers()["Idempotent-Replayed"], "true");
    let repeat: Value = repeat.json().await.unwrap();
    assert_eq!(repeat, first, "same id, created_at, body and author");
    assert_eq!(app.read_now("/messages", "").await.len(), 1);
}

async fn a_reused_key_with_another_body_or_author_is_422_and_stores_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = post_with_key(&app, "/messages", "k", &json!({"body": "hi"})).await;
    assert_eq!(first.status(), 201);
    for other in [
        json!({"body": "changed"}),
        json!({"body": "hi", "author": "someone"}),
    ] {
        let response = post_with_key(&app, "/messages", "k", &other).await;
        assert_eq!(assert_error(response, 422).await, "idempotency_key_reused");
    }
    // An absent and a null author are the same author.
    let null_author = post_with_key(
        &app,
        "/messages",
        "k",
        &json!({"body": "hi", "author": null}),
    )
    .await;
    assert_eq!(null_author.status(), 200);
    assert_eq!(app.read_now("/messages", "").await.len(), 1);
}

async fn bad_keys_are_400_and_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let too_long = "k".repeat(129);
    for key in ["", "has space", too_long.as_str()] {
        let response = post_with_key(&app, "/messages", key, &json!({"body": "x"})).await;
        assert_eq!(
            assert_error(response, 400).await,
            "invalid_idempotency_key",
            "{key:?}"
        );
    }
    let non_ascii = app
        .client
        .post(format!("{}/messages", app.address))
        .header(
            "Idempotency-Key",
            reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        )
        .json(&json!({"body": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        assert_error(non_ascii, 400).await,
        "invalid_idempotency_key"
    );
    let longest = "k".repeat(128);
    let ok = post_with_key(&app, "/messages", &longest, &json!({"body": "x"})).await;
    assert_eq!(ok.status(), 201);
    assert_eq!(app.read_now("/messages", "").await.len(), 1);
}

async fn keys_are_per_room(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({"body": "same"});
    let a = post_with_key(&app, "/rooms/a/messages", "k", &body).await;
    let b = post_with_key(&app, "/rooms/b/messages", "k", &body).await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (201, 201));
}

async fn concurrent_posts_with_one_key_store_one_message_and_one_201(backend: Backend) {
    const SENDERS: usize = 20;
    let app = spawn_app(backend).await;
    let body = json!({"body": "at once"});
    let answers = futures_util::future::join_all(
        (0..SENDERS).map(|_| post_with_key(&app, "/messages", "same-key", &body)),
    )
    .await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), SENDERS - 1);
    let mut ids = Vec::new();
    for answer in answers {
        let message: Value = answer.json().await.unwrap();
        ids.push(message["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every answer names the one stored message");
    assert_eq!(app.read_now("/messages", "").await.len(), 1);
}

backend_tests!(
    a_repeated_key_is_answered_200_with_the_first_message_and_stores_nothing,
    a_reused_key_with_another_body_or_author_is_422_and_stores_nothing,
    bad_keys_are_400_and_store_nothing,
    keys_are_per_room,
    concurrent_posts_with_one_key_store_one_message_and_one_201,
);
