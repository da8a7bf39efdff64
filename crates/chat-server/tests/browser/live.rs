//! New messages reach every open page as they are sent.

use std::time::Duration;

use crate::harness::Browser;
use crate::server::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_typed_in_one_page_appears_in_another_within_a_second() {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    let alice = browser.open(&server.url("/#lobby")).await;
    let bob = browser.open(&server.url("/#lobby")).await;

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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_posted_over_http_by_another_client_appears() {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    server
        .post("general", "carol", "history before the page")
        .await;
    let page = browser.open(&server.url("/")).await;
    page.wait_for_bodies(&["history before the page"]).await;

    server
        .post("general", "dave", "sent from the command line")
        .await;

    page.wait_for_bodies(&["history before the page", "sent from the command line"])
        .await;
    assert_eq!(page.authors().await, ["carol", "dave"]);
    browser.close().await;
}
