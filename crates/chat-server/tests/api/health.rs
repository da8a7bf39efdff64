//! `GET /healthz`.

use serde_json::Value;

use crate::helpers::{assert_json_content_type, backend_tests, spawn_app, Backend};

async fn healthz_reports_ok_while_the_server_can_serve(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_json_content_type(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

backend_tests!(healthz_reports_ok_while_the_server_can_serve);
