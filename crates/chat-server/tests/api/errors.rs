//! The contract's error table: every bad input gets its status and the JSON
//! error shape, and changes nothing.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{assert_error, backend_tests, spawn_app, Backend, TestApp};

const ID: &str = "01936f0e-8a3c-7c1e-9d2b-3f4a5b6c7d8e";

/// Asserts that neither room got a message.
async fn assert_nothing_stored(app: &TestApp) {
    for path in ["/messages", "/rooms/r/messages"] {
        assert!(
            app.read_now(path, "").await.is_empty(),
            "{path} got a message"
        );
    }
}

async fn bad_post_bodies_are_400_and_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let long_author = "a".repeat(65);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("malformed JSON", b"{\"body\":".to_vec()),
        ("not an object", b"[\"body\"]".to_vec()),
        ("missing body", b"{\"author\":\"a\"}".to_vec()),
        ("empty body", b"{\"body\":\"\"}".to_vec()),
        ("null body", b"{\"body\":null}".to_vec()),
        ("non-string body", b"{\"body\":42}".to_vec()),
        ("empty author", b"{\"body\":\"x\",\"author\":\"\"}".to_vec()),
        (
            "non-string author",
            b"{\"body\":\"x\",\"author\":[]}".to_vec(),
        ),
        (
            "author too long",
            json!({"body": "x", "author": long_author})
                .to_string()
                .into_bytes(),
        ),
        ("invalid UTF-8", b"{\"body\":\"caf\xe9\"}".to_vec()),
        ("empty request", Vec::new()),
    ];
    for (case, raw) in cases {
        for path in ["/messages", "/rooms/r/messages"] {
            let response = app
                .post_raw(path, Some("application/json"), raw.clone())
                .await;
            assert_eq!(response.status(), 400, "{case} on {path}");
            assert_error(response, 400).await;
        }
    }
    assert_nothing_stored(&app).await;
}

async fn error_codes_say_which_field_is_wrong(backend: Backend) {
    let app = spawn_app(backend).await;
    let code = |body| async {
        assert_error(
            app.post_raw("/messages", Some("application/json"), body)
                .await,
            400,
        )
        .await
    };
    assert_eq!(code(b"{".to_vec()).await, "invalid_json");
    assert_eq!(code(b"{\"body\":\"\"}".to_vec()).await, "invalid_body");
    assert_eq!(
        code(b"{\"body\":\"x\",\"author\":\"\"}".to_vec()).await,
        "invalid_author"
    );
}

async fn bad_room_names_are_400_for_post_and_get(backend: Backend) {
    let app = spawn_app(backend).await;
    let too_long = "r".repeat(65);
    for room in ["a.b", "caf%C3%A9", "a%20b", too_long.as_str()] {
        let path = format!("/rooms/{room}/messages");
        let code = assert_error(app.post_json(&path, &json!({"body": "x"})).await, 400).await;
        assert_eq!(code, "invalid_room", "{room}");
        assert_error(app.get(&format!("{path}?timeout=0")).await, 400).await;
    }
    assert_nothing_stored(&app).await;
}

/// The request itself is checked in the contract's order: content type
/// (415), size (413), then what it says (400), the room name included.
async fn a_bad_room_name_comes_after_the_content_type_and_the_size(backend: Backend) {
    let app = spawn_app(backend).await;
    let small = br#"{"body":"x"}"#.to_vec();
    let large = format!(r#"{{"body":"{}"}}"#, "x".repeat(10_000)).into_bytes();
    let not_json = app
        .post_raw("/rooms/a.b/messages", Some("text/plain"), small.clone())
        .await;
    assert_eq!(assert_error(not_json, 415).await, "unsupported_media_type");
    let too_large = app
        .post_raw("/rooms/a.b/messages", Some("application/json"), large)
        .await;
    assert_eq!(assert_error(too_large, 413).await, "payload_too_large");
    let bad_key = app
        .client
        .post(format!("{}/rooms/r/messages", app.address))
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", "a b")
        .body(format!(r#"{{"body":"{}"}}"#, "x".repeat(10_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_error(bad_key, 413).await, "payload_too_large");
    let bad_room = app
        .post_raw("/rooms/a.b/messages", Some("application/json"), small)
        .await;
    assert_eq!(assert_error(bad_room, 400).await, "invalid_room");
    assert_nothing_stored(&app).await;
}

async fn a_post_that_is_not_json_is_415_and_stores_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = br#"{"body":"x"}"#.to_vec();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
    ] {
        let response = app.post_raw("/messages", content_type, body.clone()).await;
        assert_eq!(
            assert_error(response, 415).await,
            "unsupported_media_type",
            "{content_type:?}"
        );
    }
    assert_nothing_stored(&app).await;
}

async fn a_body_over_the_limit_is_413_and_stores_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let raw = format!(r#"{{"body":"{}"}}"#, "x".repeat(10_000));
    for path in ["/messages", "/rooms/r/messages"] {
        let response = app
            .post_raw(path, Some("application/json"), raw.clone().into_bytes())
            .await;
        assert_eq!(assert_error(response, 413).await, "payload_too_large");
    }
    assert_nothing_stored(&app).await;
}

async fn the_body_limit_is_configurable(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, Default::default(), |config| {
        config.max_body_bytes = 20;
    })
    .await;
    let small = app
        .post_raw(
            "/messages",
            Some("application/json"),
            br#"{"body":"short"}"#.to_vec(),
        )
        .await;
    assert_eq!(small.status(), 201);
    let large = app
        .post_raw(
            "/messages",
            Some("application/json"),
            br#"{"body":"a bit too long"}"#.to_vec(),
        )
        .await;
    assert_error(large, 413).await;
}

async fn bad_query_parameters_are_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let simple = ID.replace('-', "");
    for query in [
        "after=nope".to_owned(),
        format!("after={simple}"),
        "before=123".to_owned(),
        format!("after={ID}&before={ID}"),
        "limit=0".to_owned(),
        "limit=1001".to_owned(),
        "limit=ten".to_owned(),
        "limit=".to_owned(),
        "limit=5&limit=6".to_owned(),
        "timeout=61".to_owned(),
        "timeout=1.5".to_owned(),
        "timeout=-1".to_owned(),
        "timeout=".to_owned(),
        format!("after={ID}&after={}", Uuid::nil()),
    ] {
        for path in ["/messages", "/rooms/r/messages"] {
            let code = assert_error(app.get(&format!("{path}?{query}")).await, 400).await;
            assert_eq!(code, "invalid_parameter", "{path}?{query}");
        }
    }
}

async fn unknown_paths_are_404_with_a_json_error(backend: Backend) {
    let app = spawn_app(backend).await;
    // `/` is the browser page (tests/browser), no longer a 404.
    for path in [
        "/nope",
        "/messages/",
        "/rooms/r",
        "/rooms/r/messages/extra",
        "/rooms//messages",
    ] {
        assert_eq!(
            assert_error(app.get(path).await, 404).await,
            "not_found",
            "{path}"
        );
    }
    let post = app.post_json("/nope", &json!({"body": "x"})).await;
    assert_error(post, 404).await;
    assert_nothing_stored(&app).await;
}

async fn wrong_methods_on_known_paths_are_405_with_allow(backend: Backend) {
    let app = spawn_app(backend).await;
    for (method, path, allowed) in [
        (reqwest::Method::PUT, "/messages", "GET, POST"),
        (reqwest::Method::DELETE, "/rooms/r/messages", "GET, POST"),
        (reqwest::Method::PATCH, "/messages", "GET, POST"),
        (reqwest::Method::POST, "/healthz", "GET"),
    ] {
        let response = app
            .client
            .request(method.clone(), format!("{}{path}", app.address))
            .header("Content-Type", "application/json")
            .body(r#"{"body":"x"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], allowed);
        assert_eq!(
            assert_error(response, 405).await,
            "method_not_allowed",
            "{method} {path}"
        );
    }
    assert_nothing_stored(&app).await;
}

backend_tests!(
    bad_post_bodies_are_400_and_store_nothing,
    error_codes_say_which_field_is_wrong,
    bad_room_names_are_400_for_post_and_get,
    a_bad_room_name_comes_after_the_content_type_and_the_size,
    a_post_that_is_not_json_is_415_and_stores_nothing,
    a_body_over_the_limit_is_413_and_stores_nothing,
    the_body_limit_is_configurable,
    bad_query_parameters_are_400,
    unknown_paths_are_404_with_a_json_error,
    wrong_methods_on_known_paths_are_405_with_allow,
);
