//! The page and its assets over plain HTTP: types, security headers, caching,
//! and the contract's JSON errors around them. No browser needed.

use crate::server::TestServer;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

#[tokio::test]
async fn the_page_and_its_assets_have_their_types_and_a_strict_csp() {
    let server = TestServer::start().await;
    for (path, content_type, marker) in [
        ("/", "text/html; charset=utf-8", "<!doctype html>"),
        (
            "/app.js",
            "text/javascript; charset=utf-8",
            "from './js/room-view.js'",
        ),
        (
            "/js/room-view.js",
            "text/javascript; charset=utf-8",
            "export class RoomView",
        ),
        ("/app.css", "text/css; charset=utf-8", ".messages"),
        ("/favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let response = reqwest::get(server.url(path)).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], content_type, "{path}");
        assert_eq!(headers["content-security-policy"], CSP, "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        assert!(response.text().await.unwrap().contains(marker), "{path}");
    }
}

#[tokio::test]
async fn an_asset_the_browser_already_has_is_answered_304() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let first = client.get(server.url("/app.js")).send().await.unwrap();
    let etag = first.headers()["etag"].clone();
    let again = client
        .get(server.url("/app.js"))
        .header("If-None-Match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag);
    assert!(again.bytes().await.unwrap().is_empty());
    let other = client
        .get(server.url("/app.css"))
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "another file's tag must not match");
}

#[tokio::test]
async fn other_methods_on_the_page_paths_are_json_405() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    for path in ["/", "/app.js", "/js/http.js", "/app.css", "/favicon.svg"] {
        let response = client.post(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 405, "{path}");
        assert_eq!(response.headers()["allow"], "GET", "{path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "method_not_allowed", "{path}");
    }
}

#[tokio::test]
async fn paths_near_the_assets_stay_json_404() {
    let server = TestServer::start().await;
    for path in [
        "/index.html",
        "/app.js/",
        "/app.jsx",
        "/static/app.js",
        "/js/",
        "/js/app.js",
        "/favicon.ico",
    ] {
        let response = reqwest::get(server.url(path)).await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}");
    }
}
