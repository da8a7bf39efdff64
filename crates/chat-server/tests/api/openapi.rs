//! `docs/openapi.yaml` describes exactly the routes the server serves:
//! every documented path and method is served, every route of
//! `chat_server::ROUTES` is documented, and a method the description does
//! not list is a 405.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use crate::helpers::{spawn_app, Backend};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let document: Value = serde_yaml::from_str(&text).unwrap();
    assert!(document["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.")));
    let paths = document["paths"].as_mapping().expect("a `paths` map");
    paths
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_mapping()
                .unwrap()
                .keys()
                .filter_map(Value::as_str)
                .filter(|key| METHODS.contains(key))
                .map(str::to_uppercase)
                .collect();
            (path.as_str().unwrap().to_owned(), methods)
        })
        .collect()
}

#[test]
fn the_description_lists_exactly_the_served_routes() {
    let documented = documented();
    let served: BTreeMap<String, BTreeSet<String>> = chat_server::ROUTES
        .iter()
        .map(|(path, methods)| {
            let methods = methods.iter().map(|m| m.to_string()).collect();
            (path.to_string(), methods)
        })
        .collect();
    assert_eq!(documented, served);
}

#[tokio::test]
async fn every_route_answers_its_methods_and_405_for_others() {
    let app = spawn_app(Backend::Memory).await;
    let url = |path: &str| format!("{}{}", app.address, path.replace("{room}", "general"));
    for (path, methods) in chat_server::ROUTES {
        for method in *methods {
            let request = match *method {
                "GET" => app.client.get(format!("{}?timeout=0", url(path))),
                "POST" => app
                    .client
                    .post(url(path))
                    .json(&serde_json::json!({"body": "x"})),
                other => panic!("no probe for {other}"),
            };
            let status = request.send().await.unwrap().status();
            assert!(status.is_success(), "{method} {path}: {status}");
        }
        let other = app.client.delete(url(path)).send().await.unwrap();
        assert_eq!(other.status(), 405, "DELETE {path}");
        let allow = other.headers()["allow"].to_str().unwrap().to_owned();
        assert_eq!(allow, methods.join(", "), "{path}");
    }
}
