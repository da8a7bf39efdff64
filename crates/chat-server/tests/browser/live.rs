//! New messages reach every open page as they are sent.

use std::time::Duration;

use chat_core::store::StoreOptions;

use crate::harness::{eventually, Browser, Transport};
use crate::server::TestServer;

/// From now on, records in `window.statesSeen` every connection state the
/// page shows.
const RECORD_STATES: &str = "window.statesSeen = []; \
    const status = document.getElementById('status'); \
    new MutationObserver(() => statesSeen.push(status.dataset.state)) \
        .observe(status, { attributes: true, attributeFilter: ['data-state'] });";

/// Hides `Chat-Max-Poll-Timeout` from the page, as a server that does not
/// send it would.
const HIDE_MAX_POLL_TIMEOUT: &str = "const get = window.fetch; \
    window.fetch = async (url, options) => { \
        const answer = await get.call(window, url, options); \
        const headers = new Headers(answer.headers); \
        headers.delete('Chat-Max-Poll-Timeout'); \
        return new Response(answer.body, { status: answer.status, statusText: answer.statusText, headers }); };";

/// The URLs of the polls (GETs with `after`) that took at least `arguments[0]`
/// milliseconds to answer.
const HELD_POLLS: &str = "const [least] = arguments; \
    return performance.getEntriesByType('resource') \
        .filter((e) => e.name.includes('after=') && e.duration >= least) \
        .map((e) => e.name);";

on_each_transport!(a_message_typed_in_one_page_appears_in_another_within_a_second);
async fn a_message_typed_in_one_page_appears_in_another_within_a_second(transport: Transport) {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    let alice = browser.open(&server.url(&transport.page("#lobby"))).await;
    let bob = browser.open(&server.url(&transport.page("#lobby"))).await;

    alice.set_name("alice").await;
    alice.type_and_send("hi bob, are you there?").await;

    bob.wait_for_bodies_within(&["hi bob, are you there?"], Duration::from_secs(1))
        .await;
    assert_eq!(bob.authors().await, ["alice"]);
    alice.wait_for_bodies(&["hi bob, are you there?"]).await;
    let box_after_sending: String = alice
        .js("return document.getElementById('body').value;")
        .await;
    assert_eq!(box_after_sending, "", "a sent message leaves the box");
    let stored = server.messages("lobby").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["author"], "alice");
    browser.close().await;
}
on_each_transport!(a_message_posted_over_http_by_another_client_appears);
async fn a_message_posted_over_http_by_another_client_appears(transport: Transport) {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    server
        .post("general", "carol", "history before the page")
        .await;
    let page = browser.open(&server.url(&transport.page(""))).await;
    assert_eq!(page.transport().await, transport.shown());
    page.wait_for_bodies(&["history before the page"]).await;

    server
        .post("general", "dave", "sent from the command line")
        .await;

    page.wait_for_bodies(&["history before the page", "sent from the command line"])
        .await;
    assert_eq!(page.authors().await, ["carol", "dave"]);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_server_with_a_short_max_poll_timeout_the_page_stays_live() {
    let browser = Browser::start().await;
    let server = TestServer::start_configured(StoreOptions::default(), |config| {
        config.max_poll_timeout = 5;
        config.default_poll_timeout = 5;
    })
    .await;
    let page = browser
        .open(&server.url(&Transport::LongPoll.page("")))
        .await;
    let _: Option<()> = page.js(RECORD_STATES).await;

    // A poll the server held for its whole 5 s: the page asked for no more
    // than the server allows.
    let held = eventually(Duration::from_secs(12), async || {
        let held: Vec<String> = page
            .client
            .execute(HELD_POLLS, vec![4500.into()])
            .await
            .map(|urls| serde_json::from_value(urls).unwrap())
            .unwrap();
        held.into_iter()
            .next()
            .ok_or_else(|| "no poll has been held for 5 s yet".to_owned())
    })
    .await;
    assert!(held.contains("timeout=5"), "the poll was {held}");

    server.post("general", "bob", "still live").await;
    page.wait_for_bodies_within(&["still live"], Duration::from_secs(1))
        .await;
    let states: Vec<String> = page.js("return window.statesSeen;").await;
    assert_eq!(states, Vec::<String>::new(), "the page left \"live\"");
    assert_eq!(page.state().await, "live");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_refuses_the_poll_timeout_without_saying_its_limit_gets_shorter_polls() {
    let browser = Browser::start().await;
    let server = TestServer::start_configured(StoreOptions::default(), |config| {
        config.max_poll_timeout = 5;
        config.default_poll_timeout = 5;
    })
    .await;
    let page = browser
        .open(&server.url(&Transport::LongPoll.page("")))
        .await;
    // A fresh room view that never learns the limit: its 30 s polls are 400s.
    let _: Option<()> = page.js(HIDE_MAX_POLL_TIMEOUT).await;
    let _: Option<()> = page.js("location.hash = '#lobby';").await;

    let held = eventually(Duration::from_secs(15), async || {
        let held: Vec<String> = page
            .client
            .execute(HELD_POLLS, vec![2500.into()])
            .await
            .map(|urls| serde_json::from_value(urls).unwrap())
            .unwrap();
        held.into_iter()
            .find(|url| url.contains("lobby"))
            .ok_or_else(|| "no poll of #lobby has been held yet".to_owned())
    })
    .await;
    assert!(held.contains("timeout=3"), "30 halved to 15, 7, 3: {held}");
    page.wait_for_state("live").await;
    server.post("lobby", "bob", "got through").await;
    page.wait_for_bodies_within(&["got through"], Duration::from_secs(1))
        .await;
    browser.close().await;
}
