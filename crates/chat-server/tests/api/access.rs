//! Access control (`--auth-file`): who may read, post and see metrics, and
//! in which order refusals come.

use chat_core::Message;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::json;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::helpers::{assert_error, spawn_app_with, Backend, TestApp};

pub const ALICE: &str = "alice-secret-token";
pub const BOB: &str = "bob-secret-token";

pub fn sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Anonymous: reads `general` and `public-*`, posts into `public-*`.
/// alice: reads all, posts into `general` and `team-*`.
/// bob: reads `team-*`, posts nowhere, may read the metrics.
pub fn rules() -> String {
    format!(
        "[anonymous]\nread = [\"general\", \"public-*\"]\nwrite = [\"public-*\"]\n\n\
         [[token]]\nname = \"alice\"\nsha256 = \"{}\"\nread = [\"*\"]\n\
         write = [\"general\", \"team-*\"]\n\n\
         [[token]]\nname = \"bob\"\nsha256 = \"{}\"\nread = [\"team-*\"]\nmetrics = true\n",
        sha256(ALICE),
        sha256(BOB)
    )
}

/// A memory server whose access-control file holds `rules`.
pub async fn spawn_guarded(
    rules: &str,
    configure: impl FnOnce(&mut chat_server::Config),
) -> (TestApp, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.toml");
    std::fs::write(&path, rules).unwrap();
    let app = spawn_app_with(Backend::Memory, Default::default(), |config| {
        config.auth_file = Some(path);
        configure(config);
    })
    .await;
    (app, dir)
}

async fn request(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, format!("{}{path}", app.address));
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn read(app: &TestApp, room: &str, token: Option<&str>) -> reqwest::Response {
    let path = format!("/rooms/{room}/messages?timeout=0");
    request(app, reqwest::Method::GET, &path, token, None).await
}

async fn post(
    app: &TestApp,
    room: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> reqwest::Response {
    let path = format!("/rooms/{room}/messages");
    request(app, reqwest::Method::POST, &path, token, Some(body)).await
}

/// Every message of `room`, read with alice's token (she reads all).
async fn stored(app: &TestApp, room: &str) -> Vec<Message> {
    let response = read(app, room, Some(ALICE)).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn assert_unauthorized(response: reqwest::Response) {
    assert_eq!(
        response
            .headers()
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap()),
        Some("Bearer")
    );
    assert_eq!(assert_error(response, 401).await, "unauthorized");
}

#[tokio::test]
async fn anonymous_requests_get_what_anonymous_access_allows_and_401_otherwise() {
    let (app, _dir) = spawn_guarded(&rules(), |_| {}).await;
    assert_eq!(read(&app, "public-news", None).await.status(), 200);
    assert_eq!(app.get("/messages?timeout=0").await.status(), 200);
    let posted = post(&app, "public-news", None, json!({"body": "hi"})).await;
    assert_eq!(posted.status(), 201);
    assert_unauthorized(read(&app, "team-a", None).await).await;
    assert_unauthorized(post(&app, "general", None, json!({"body": "x"})).await).await;
    assert!(stored(&app, "general").await.is_empty());
}

#[tokio::test]
async fn an_unknown_token_is_401_even_where_anonymous_access_would_do() {
    let (app, _dir) = spawn_guarded(&rules(), |_| {}).await;
    assert_unauthorized(read(&app, "public-news", Some("typo")).await).await;
    let response = post(&app, "public-news", Some("typo"), json!({"body": "x"})).await;
    assert_unauthorized(response).await;
    let basic = app
        .client
        .get(format!("{}/messages", app.address))
        .header(AUTHORIZATION, "Basic YWxpY2U6eA==")
        .send()
        .await
        .unwrap();
    assert_unauthorized(basic).await;
    assert!(stored(&app, "public-news").await.is_empty());
}

#[tokio::test]
async fn a_known_token_without_the_right_is_403_and_stores_nothing() {
    let (app, _dir) = spawn_guarded(&rules(), |_| {}).await;
    let response = post(&app, "team-a", Some(BOB), json!({"body": "x"})).await;
    assert_eq!(assert_error(response, 403).await, "forbidden");
    assert_eq!(
        assert_error(read(&app, "secret", Some(BOB)).await, 403).await,
        "forbidden"
    );
    // A token may also do what anonymous access allows.
    assert_eq!(read(&app, "general", Some(BOB)).await.status(), 200);
    assert_eq!(
        post(&app, "public-x", Some(BOB), json!({"body": "b"}))
            .await
            .status(),
        201
    );
    assert!(stored(&app, "team-a").await.is_empty());
}

#[tokio::test]
async fn patterns_with_a_star_match_whole_room_names() {
    let (app, _dir) = spawn_guarded(&rules(), |_| {}).await;
    for room in ["team-", "team-blue", "team-x-y"] {
        let response = post(&app, room, Some(ALICE), json!({"body": "x"})).await;
        assert_eq!(response.status(), 201, "{room}");
    }
    for room in ["teams", "my-team-blue", "Team-blue"] {
        let response = post(&app, room, Some(ALICE), json!({"body": "x"})).await;
        assert_eq!(assert_error(response, 403).await, "forbidden", "{room}");
        assert!(stored(&app, room).await.is_empty());
    }
    assert_eq!(read(&app, "team-blue", Some(BOB)).await.status(), 200);
    assert_eq!(read(&app, "teams", Some(BOB)).await.status(), 403);
}

#[tokio::test]
async fn a_tokens_name_is_the_author_and_nobody_posts_under_another_name() {
    let (app, _dir) = spawn_guarded(&rules(), |_| {}).await;
    let own: Message = post(&app, "general", Some(ALICE), json!({"body": "a"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own.author.as_deref(), Some("alice"));
    let named = post(
        &app,
        "general",
        Some(ALICE),
        json!({"body": "b", "author": "alice"}),
    )
    .await;
    assert_eq!(named.status(), 201);
    let other = post(
        &app,
        "general",
        Some(ALICE),
        json!({"body": "c", "author": "mallory"}),
    )
    .await;
    assert_eq!(assert_error(other, 403).await, "forbidden");
    let impostor = post(
        &app,
        "public-x",
        None,
        json!({"body": "d", "author": "alice"}),
    )
    .await;
    assert_eq!(assert_error(impostor, 403).await, "forbidden");
    let guest = post(
        &app,
        "public-x",
        None,
        json!({"body": "e", "author": "carol"}),
    )
    .await;
    assert_eq!(guest.status(), 201);
    let bodies = |messages: Vec<Message>| messages.into_iter().map(|m| m.body).collect::<Vec<_>>();
    assert_eq!(bodies(stored(&app, "general").await), ["a", "b"]);
    assert_eq!(bodies(stored(&app, "public-x").await), ["e"]);
}

#[tokio::test]
async fn the_token_may_come_as_the_access_token_parameter() {
    let (app, _dir) = spawn_guarded(&rules(), |_| {}).await;
    let response = app
        .get(&format!(
            "/rooms/team-a/messages?timeout=0&access_token={BOB}"
        ))
        .await;
    assert_eq!(response.status(), 200);
    let unknown = app
        .get("/rooms/team-a/messages?timeout=0&access_token=nope")
        .await;
    assert_unauthorized(unknown).await;
}

#[tokio::test]
async fn two_different_tokens_are_401_and_the_same_one_twice_is_one() {
    let (app, _dir) = spawn_guarded(&rules(), |_| {}).await;
    // A known header does not hide an unknown parameter, nor the reverse.
    let path = "/rooms/team-a/messages?timeout=0&access_token=nope";
    let unknown_parameter = request(&app, reqwest::Method::GET, path, Some(BOB), None).await;
    assert_unauthorized(unknown_parameter).await;
    let path = format!("/rooms/team-a/messages?timeout=0&access_token={BOB}");
    let unknown_header = request(&app, reqwest::Method::GET, &path, Some("nope"), None).await;
    assert_unauthorized(unknown_header).await;
    // Two known tokens: the request must say which caller it is.
    let both = app
        .get(&format!(
            "/rooms/team-a/messages?timeout=0&access_token={ALICE}&access_token={BOB}"
        ))
        .await;
    assert_unauthorized(both).await;
    let same = request(&app, reqwest::Method::GET, &path, Some(BOB), None).await;
    assert_eq!(same.status(), 200);
}

#[tokio::test]
async fn health_and_the_page_are_always_open() {
    let (app, _dir) = spawn_guarded(&rules(), |_| {}).await;
    for path in ["/healthz", "/", "/app.js"] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
        let with_unknown = request(&app, reqwest::Method::GET, path, Some("typo"), None).await;
        assert_eq!(with_unknown.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn metrics_need_a_token_that_may_read_them() {
    let (app, _dir) = spawn_guarded(&rules(), |_| {}).await;
    assert_unauthorized(app.get("/metrics").await).await;
    let alice = request(&app, reqwest::Method::GET, "/metrics", Some(ALICE), None).await;
    assert_eq!(assert_error(alice, 403).await, "forbidden");
    let bob = request(&app, reqwest::Method::GET, "/metrics", Some(BOB), None).await;
    assert_eq!(bob.status(), 200);
}

#[tokio::test]
async fn refusals_come_in_the_contracts_order() {
    let (app, _dir) = spawn_guarded(&rules(), |_| {}).await;
    // 404 and 405 before access.
    let unknown_path = request(&app, reqwest::Method::GET, "/nope", Some("typo"), None).await;
    assert_eq!(assert_error(unknown_path, 404).await, "not_found");
    let wrong_method = request(&app, reqwest::Method::DELETE, "/messages", None, None).await;
    assert_eq!(assert_error(wrong_method, 405).await, "method_not_allowed");
    // Access before 415, 413 and 400.
    let not_json = app
        .client
        .post(format!("{}/messages", app.address))
        .header(CONTENT_TYPE, "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_unauthorized(not_json).await;
    let too_large = post(&app, "general", None, json!({"body": "x".repeat(20_000)})).await;
    assert_unauthorized(too_large).await;
    assert_unauthorized(read(&app, "bad.name", None).await).await;
    let bad_json = app
        .client
        .post(format!("{}/rooms/team-a/messages", app.address))
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, format!("Bearer {BOB}"))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(assert_error(bad_json, 403).await, "forbidden");
    // With the right, the request itself is checked.
    assert_eq!(
        assert_error(read(&app, "bad.name", Some(ALICE)).await, 400).await,
        "invalid_room"
    );
    let alice_text = app
        .client
        .post(format!("{}/messages", app.address))
        .header(CONTENT_TYPE, "text/plain")
        .header(AUTHORIZATION, format!("Bearer {ALICE}"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(
        assert_error(alice_text, 415).await,
        "unsupported_media_type"
    );
    assert!(stored(&app, "general").await.is_empty());
}

#[tokio::test]
async fn without_an_auth_file_access_control_is_off() {
    let app = crate::helpers::spawn_app(Backend::Memory).await;
    assert_eq!(read(&app, "any", Some("whatever")).await.status(), 200);
    let posted = post(&app, "any", None, json!({"body": "x", "author": "alice"})).await;
    assert_eq!(posted.status(), 201);
    assert_eq!(app.get("/metrics").await.status(), 200);
}

#[tokio::test]
async fn event_streams_need_read_access_to_their_room() {
    let (app, _dir) = spawn_guarded(&rules(), |_| {}).await;
    let events = |path: &'static str, token: Option<&'static str>| {
        request(&app, reqwest::Method::GET, path, token, None)
    };
    assert_unauthorized(events("/rooms/team-a/events", None).await).await;
    assert_unauthorized(events("/events", Some("typo")).await).await;
    let forbidden = events("/rooms/secret/events", Some(BOB)).await;
    assert_eq!(assert_error(forbidden, 403).await, "forbidden");
    let allowed = events("/rooms/team-a/events", Some(BOB)).await;
    assert_eq!(allowed.status(), 200);
    assert!(allowed.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let via_parameter = events("/rooms/team-a/events?access_token=bob-secret-token", None).await;
    assert_eq!(via_parameter.status(), 200);
}
