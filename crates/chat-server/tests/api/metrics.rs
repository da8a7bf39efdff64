//! `GET /metrics`: the Prometheus text format, with every family the
//! contract lists, moving as requests are served.

use std::collections::BTreeMap;

use chat_core::Message;
use serde_json::json;

use crate::helpers::{spawn_app, Backend, TestApp};

/// Samples by `name{label="value",...}` with labels sorted, so a key does
/// not depend on the exporter's label order.
type Samples = BTreeMap<String, f64>;

/// Parses the text format strictly enough to catch a malformed line.
fn parse(text: &str) -> Samples {
    let mut samples = Samples::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.split_whitespace().collect();
            assert!(matches!(words.first(), Some(&"HELP" | &"TYPE")), "{line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let key = match series.split_once('{') {
            None => series.to_owned(),
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                let mut pairs: Vec<&str> = labels.split(',').filter(|p| !p.is_empty()).collect();
                for pair in &pairs {
                    let (_, quoted) = pair.split_once('=').unwrap_or_else(|| panic!("{line}"));
                    assert!(quoted.starts_with('"') && quoted.ends_with('"'), "{line}");
                }
                pairs.sort_unstable();
                format!("{name}{{{}}}", pairs.join(","))
            }
        };
        assert!(
            samples.insert(key, value).is_none(),
            "duplicate series: {line}"
        );
    }
    samples
}

async fn scrape(app: &TestApp) -> Samples {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/plain; version=0.0.4"
    );
    parse(&response.text().await.unwrap())
}

fn value(samples: &Samples, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn every_family_is_exported_and_moves() {
    let app = spawn_app(Backend::Sqlite).await;
    let before = scrape(&app).await;
    assert_eq!(value(&before, "chat_parked_requests"), 0.0);
    assert_eq!(value(&before, "chat_messages_posted_total"), 0.0);

    let parked = tokio::spawn({
        let (client, url) = (
            app.client.clone(),
            format!("{}/rooms/lobby/messages?timeout=30", app.address),
        );
        async move { client.get(url).send().await.unwrap() }
    });
    app.store.wait_for_watches(1).await;
    assert_eq!(value(&scrape(&app).await, "chat_parked_requests"), 1.0);

    let keyed = |body: &'static str| {
        app.client
            .post(format!("{}/rooms/lobby/messages", app.address))
            .header("Idempotency-Key", "k1")
            .json(&json!({ "body": body }))
            .send()
    };
    assert_eq!(keyed("hello").await.unwrap().status(), 201);
    let woken: Vec<Message> = parked.await.unwrap().json().await.unwrap();
    assert_eq!(woken.len(), 1);
    assert_eq!(keyed("hello").await.unwrap().status(), 200, "a replay");
    assert_eq!(app.get("/no/such/path").await.status(), 404);

    let after = scrape(&app).await;
    let route = "route=\"/rooms/{room}/messages\"";
    assert_eq!(
        value(&after, "chat_messages_posted_total"),
        1.0,
        "replays do not count"
    );
    assert_eq!(value(&after, "chat_parked_requests"), 0.0);
    assert_eq!(
        value(
            &after,
            &format!("chat_http_requests_total{{{route},status=\"201\"}}")
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            &format!("chat_http_requests_total{{{route},status=\"200\"}}")
        ),
        2.0
    );
    assert_eq!(
        value(
            &after,
            "chat_http_requests_total{route=\"unmatched\",status=\"404\"}"
        ),
        1.0
    );
    assert!(
        !after.keys().any(|key| key.contains("lobby")),
        "a room became a label"
    );
    assert_eq!(
        value(
            &after,
            &format!("chat_http_request_duration_seconds_count{{{route}}}")
        ),
        3.0
    );
    assert!(
        value(
            &after,
            "chat_store_operation_duration_seconds_count{operation=\"append\"}"
        ) >= 2.0
    );
    assert!(
        value(
            &after,
            "chat_store_operation_duration_seconds_count{operation=\"read\"}"
        ) >= 1.0
    );
    assert_eq!(value(&after, "chat_wakeup_delay_seconds_count"), 1.0);
    let delay = value(&after, "chat_wakeup_delay_seconds_sum");
    assert!((0.0..1.0).contains(&delay), "wake-up took {delay} s");
}

#[tokio::test]
async fn a_percent_encoded_path_is_labelled_with_the_route_it_reached() {
    let app = spawn_app(Backend::Memory).await;
    // `%6D` is `m`: the router serves this as `/messages`.
    let response = app.get("/%6Dessages?timeout=0").await;
    assert_eq!(response.status(), 200);
    let samples = scrape(&app).await;
    assert_eq!(
        value(
            &samples,
            "chat_http_requests_total{route=\"/messages\",status=\"200\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "chat_http_requests_total{route=\"unmatched\",status=\"200\"}"
        ),
        0.0
    );
}
