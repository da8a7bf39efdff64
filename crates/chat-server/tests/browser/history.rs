//! Moving through history: older pages on demand, and rooms by URL hash.

use fantoccini::key::Key;

use crate::harness::{eventually, Browser, PAGE_TIMEOUT};
use crate::server::TestServer;

/// Where the message with `body` is, relative to the top of the log's
/// viewport, in CSS pixels.
const OFFSET_OF: &str = "const [body] = arguments; \
    const item = [...document.querySelectorAll('#messages .message')] \
        .find((m) => m.querySelector('.body').textContent === body); \
    return item.getBoundingClientRect().top - document.getElementById('log').getBoundingClientRect().top;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_older_prepends_the_page_before_and_keeps_the_view_in_place() {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    let all: Vec<String> = (1..=120).map(|n| format!("message {n}")).collect();
    for body in &all {
        server.post("general", "alice", body).await;
    }
    let expect = |from: usize| {
        all[from - 1..]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    };
    let page = browser.open(&server.url("/")).await;
    page.wait_for_bodies(&expect(71)).await;
    let offset = async |body: &str| -> f64 {
        let value = page
            .client
            .execute(OFFSET_OF, vec![body.into()])
            .await
            .unwrap();
        value.as_f64().unwrap()
    };
    // The user scrolls up to the button, reading the oldest message shown.
    let _: Option<()> = page
        .js("document.getElementById('log').scrollTop = 0;")
        .await;
    let before = offset("message 71").await;

    let older = page.find("#load-older").await;
    older.click().await.unwrap();
    page.wait_for_bodies(&expect(21)).await;
    let after = offset("message 71").await;
    assert!(
        (after - before).abs() < 1.0,
        "what the user was reading moved from {before} to {after}"
    );

    // The keyboard works too; the last page is short, so the button goes and
    // focus stays in the log.
    older.send_keys(&Key::Enter.to_string()).await.unwrap();
    page.wait_for_bodies(&expect(1)).await;
    assert!(!older.is_displayed().await.unwrap());
    let start = page.find("#history-start").await;
    assert_eq!(
        start.text().await.unwrap(),
        "This is the start of #general."
    );
    assert_eq!(page.focused_id().await, "log");
    browser.close().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_follows_new_messages_unless_the_user_scrolled_up() {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    let mut bodies: Vec<String> = (1..=30).map(|n| format!("message {n}")).collect();
    for body in &bodies {
        server.post("general", "alice", body).await;
    }
    let page = browser.open(&server.url("/")).await;
    let distance_from_bottom = async || -> f64 {
        page.js("const l = document.getElementById('log'); \
                 return l.scrollHeight - l.scrollTop - l.clientHeight;")
            .await
    };
    let mut post = async |body: &str| {
        server.post("general", "bob", body).await;
        bodies.push(body.to_owned());
        let expected: Vec<&str> = bodies.iter().map(String::as_str).collect();
        page.wait_for_bodies(&expected).await;
    };

    post("at the bottom: followed").await;
    assert!(distance_from_bottom().await < 1.0);

    let _: Option<()> = page
        .js("document.getElementById('log').scrollTop = 0;")
        .await;
    post("scrolled up: left alone").await;
    let top: f64 = page
        .js("return document.getElementById('log').scrollTop;")
        .await;
    assert_eq!(top, 0.0, "reading older messages is not interrupted");
    let jump = page.find("#jump").await;
    assert!(jump.is_displayed().await.unwrap(), "but the user is told");

    jump.click().await.unwrap();
    assert!(distance_from_bottom().await < 1.0);
    assert!(!jump.is_displayed().await.unwrap());
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_hash_chooses_the_room() {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    server.post("general", "alice", "in general").await;
    server.post("random", "bob", "in random").await;
    let page = browser.open(&server.url("/")).await;
    page.wait_for_bodies(&["in general"]).await;

    // The room field sets the hash.
    let room = page.find("#room").await;
    room.clear().await.unwrap();
    room.send_keys(&format!("random{}", Key::Enter))
        .await
        .unwrap();
    page.wait_for_bodies(&["in random"]).await;
    assert_eq!(
        page.client.current_url().await.unwrap().fragment(),
        Some("random")
    );
    assert_eq!(
        page.find("#room-title").await.text().await.unwrap(),
        "#random"
    );

    // Changing the hash switches back, and the old room's poll is gone: its
    // next message does not leak into this room.
    let _: Option<()> = page.js("location.hash = '#general';").await;
    page.wait_for_bodies(&["in general"]).await;
    page.wait_for_state("live").await;
    server.post("random", "bob", "random again").await;
    server.post("general", "alice", "general again").await;
    page.wait_for_bodies(&["in general", "general again"]).await;

    // A hash that is no room name falls back to general and says so.
    let _: Option<()> = page.js("location.hash = '#no such room!';").await;
    let notice = page.find("#notice").await;
    eventually(PAGE_TIMEOUT, async || match notice.text().await.unwrap() {
        text if text.contains("“no such room!” is not a room name") => Ok(()),
        text => Err(format!("the notice says {text:?}")),
    })
    .await;
    page.wait_for_bodies(&["in general", "general again"]).await;
    assert_eq!(
        page.find("#room-title").await.text().await.unwrap(),
        "#general"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_left_open_keeps_a_bounded_window_and_load_older_brings_back_the_rest() {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    for n in 1..=30 {
        server
            .post("general", "alice", &format!("message {n}"))
            .await;
    }
    // A window of 20 messages instead of the usual 500.
    let page = browser.open(&server.url("/?window=20")).await;
    let wait_for = async |range: std::ops::RangeInclusive<usize>| {
        let expected: Vec<String> = range.map(|n| format!("message {n}")).collect();
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        page.wait_for_bodies(&expected).await;
    };
    wait_for(11..=30).await;

    // At the bottom, each new message pushes the oldest out of the page.
    server.post("general", "bob", "message 31").await;
    wait_for(12..=31).await;
    let older = page.find("#load-older").await;
    assert!(
        older.is_displayed().await.unwrap(),
        "the rest is a click away"
    );

    // Reading further up: nothing is taken away under the reader's eyes.
    let _: Option<()> = page
        .js("document.getElementById('log').scrollTop = 0;")
        .await;
    server.post("general", "bob", "message 32").await;
    wait_for(12..=32).await;

    older.click().await.unwrap();
    wait_for(1..=32).await;

    // Back at the bottom, the next message shrinks the page to the window.
    page.find("#jump").await.click().await.unwrap();
    server.post("general", "bob", "message 33").await;
    wait_for(14..=33).await;
    browser.close().await;
}
