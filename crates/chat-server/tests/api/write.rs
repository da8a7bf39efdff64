//! POST: what is stored and what comes back.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::helpers::{assert_json_content_type, backend_tests, spawn_app, Backend};

async fn a_post_to_messages_stores_into_general_and_returns_201_with_the_message(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .post_json(
            "/messages",
            &json!({"body": "Hello World", "author": "alice"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_json_content_type(&response);
    let message: Value = response.json().await.unwrap();
    let id: uuid::Uuid = message["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(id.get_version_num(), 7);
    assert_eq!(
        message["id"].as_str().unwrap(),
        id.to_string(),
        "ids are written in lower case"
    );
    assert_eq!(message["room"], "general");
    assert_eq!(message["author"], "alice");
    assert_eq!(message["body"], "Hello World");
    let created_at = message["created_at"].as_str().unwrap();
    assert!(created_at.ends_with('Z'), "{created_at}");
    let created_at: DateTime<Utc> = created_at.parse().unwrap();
    assert!((Utc::now() - created_at).num_seconds().abs() < 60);

    let stored = app.read_now("/messages", "").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, id);
    assert_eq!(app.read_now("/rooms/general/messages", "").await, stored);
}

async fn a_post_without_author_stores_none(backend: Backend) {
    let app = spawn_app(backend).await;
    for body in [json!({"body": "a"}), json!({"body": "b", "author": null})] {
        let response = app.post_json("/rooms/r/messages", &body).await;
        assert_eq!(response.status(), 201);
        let message: Value = response.json().await.unwrap();
        assert_eq!(message["author"], Value::Null);
    }
}

async fn bodies_and_authors_are_stored_exactly_as_sent(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = "  \t\n e\u{301} \u{e9} <script>alert(1)</script> 😀  ";
    let author = "😀".repeat(64);
    let response = app
        .post_json("/messages", &json!({"body": body, "author": author}))
        .await;
    assert_eq!(response.status(), 201);
    let white_space_only = app.post_json("/messages", &json!({"body": "   "})).await;
    assert_eq!(white_space_only.status(), 201);
    let stored = app.read_now("/messages", "").await;
    assert_eq!(stored[0].body, body);
    assert_eq!(stored[0].author.as_deref(), Some(author.as_str()));
    assert_eq!(stored[1].body, "   ");
}

async fn a_client_cannot_choose_id_room_or_created_at(backend: Backend) {
    let app = spawn_app(backend).await;
    let forged = json!({
        "body": "x",
        "id": "00000000-0000-7000-8000-000000000001",
        "room": "elsewhere",
        "created_at": "2000-01-01T00:00:00Z",
        "unknown": [1, 2, 3]
    });
    let response = app.post_json("/rooms/mine/messages", &forged).await;
    assert_eq!(response.status(), 201);
    let message: Value = response.json().await.unwrap();
    assert_ne!(message["id"], forged["id"]);
    assert_eq!(message["room"], "mine");
    assert_ne!(message["created_at"], forged["created_at"]);
    assert!(app
        .read_now("/rooms/elsewhere/messages", "")
        .await
        .is_empty());
}

async fn a_json_content_type_with_parameters_is_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .post_raw(
            "/messages",
            Some("Application/JSON; charset=utf-8"),
            br#"{"body":"hi"}"#.to_vec(),
        )
        .await;
    assert_eq!(response.status(), 201);
}

async fn a_body_of_exactly_the_limit_is_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    let envelope = r#"{"body":""}"#.len();
    let raw = format!(r#"{{"body":"{}"}}"#, "x".repeat(10_000 - envelope));
    assert_eq!(raw.len(), 10_000);
    let response = app
        .post_raw("/messages", Some("application/json"), raw.into_bytes())
        .await;
    assert_eq!(response.status(), 201);
}

async fn rooms_are_case_sensitive_and_separate(backend: Backend) {
    let app = spawn_app(backend).await;
    app.send("/rooms/General/messages", "upper").await;
    app.send("/rooms/general/messages", "lower").await;
    let upper = app.read_now("/rooms/General/messages", "").await;
    let lower = app.read_now("/messages", "").await;
    assert_eq!(
        upper.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["upper"]
    );
    assert_eq!(
        lower.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["lower"]
    );
}

async fn ids_strictly_increase_in_posting_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for n in 0..50 {
        ids.push(app.send("/messages", &n.to_string()).await.id);
    }
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
}

backend_tests!(
    a_post_to_messages_stores_into_general_and_returns_201_with_the_message,
    a_post_without_author_stores_none,
    bodies_and_authors_are_stored_exactly_as_sent,
    a_client_cannot_choose_id_room_or_created_at,
    a_json_content_type_with_parameters_is_accepted,
    a_body_of_exactly_the_limit_is_accepted,
    rooms_are_case_sensitive_and_separate,
    ids_strictly_increase_in_posting_order,
);
