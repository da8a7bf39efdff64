//! Losing the server: the page says so, retries, and resumes from its cursor
//! without duplicates or gaps, or with a visible notice when retention made a
//! gap; over events and over long polling alike.

use std::num::NonZeroUsize;

use chat_core::store::{Retention, StoreOptions};
use chat_core::{ChatStore, NewMessage, RoomName};

use crate::harness::{Browser, Transport};
use crate::server::TestServer;

/// Stores a message the way another server on the same store would, while
/// the page's server is down.
async fn append(store: &dyn ChatStore, author: &str, body: &str) {
    let message = NewMessage::new(body.to_owned(), Some(author.to_owned())).unwrap();
    store.append(&RoomName::general(), message).await.unwrap();
}

on_each_transport!(after_a_server_restart_the_page_reconnects_and_shows_the_next_message_once);
async fn after_a_server_restart_the_page_reconnects_and_shows_the_next_message_once(
    transport: Transport,
) {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    server.post("general", "alice", "before the restart").await;
    let page = browser.open(&server.url(&transport.page(""))).await;
    page.wait_for_bodies(&["before the restart"]).await;

    let stopped = server.stop().await;
    page.wait_for_state("reconnecting").await;
    let server = stopped.restart();
    page.wait_for_state("live").await;
    server.post("general", "bob", "after the restart").await;

    page.wait_for_bodies(&["before the restart", "after the restart"])
        .await;
    // Nothing arrives twice later either: one more message, then the list is
    // still exactly the three.
    server.post("general", "alice", "and one more").await;
    page.wait_for_bodies(&["before the restart", "after the restart", "and one more"])
        .await;
    // Still on the transport it started with: no silent fallback.
    assert_eq!(page.transport().await, transport.shown());
    browser.close().await;
}

on_each_transport!(a_restart_on_the_same_sqlite_file_resumes_with_no_duplicate_and_no_gap);
async fn a_restart_on_the_same_sqlite_file_resumes_with_no_duplicate_and_no_gap(
    transport: Transport,
) {
    let browser = Browser::start().await;
    let server = TestServer::start_sqlite().await;
    server.post("general", "alice", "before the restart").await;
    let page = browser.open(&server.url(&transport.page(""))).await;
    page.set_name("carol").await;
    page.type_and_send("sent from the page").await;
    page.wait_for_bodies(&["before the restart", "sent from the page"])
        .await;

    let stopped = server.stop().await;
    page.wait_for_state("reconnecting").await;
    append(&*stopped.store, "bob", "while it was down").await;
    let server = stopped.restart();
    // At once, most likely before the page is back.
    server
        .post("general", "alice", "just after the restart")
        .await;
    page.wait_for_bodies(&[
        "before the restart",
        "sent from the page",
        "while it was down",
        "just after the restart",
    ])
    .await;
    page.wait_for_state("live").await;
    server.post("general", "bob", "once live again").await;
    page.wait_for_bodies(&[
        "before the restart",
        "sent from the page",
        "while it was down",
        "just after the restart",
        "once live again",
    ])
    .await;
    assert_eq!(server.messages("general").await.len(), 5);
    // Still on the transport it started with: no silent fallback.
    assert_eq!(page.transport().await, transport.shown());
    browser.close().await;
}

on_each_transport!(messages_deleted_before_the_page_saw_them_are_reported_not_skipped_silently);
async fn messages_deleted_before_the_page_saw_them_are_reported_not_skipped_silently(
    transport: Transport,
) {
    let browser = Browser::start().await;
    let keep_two = StoreOptions {
        retention: Retention {
            per_room: NonZeroUsize::new(2),
            max_age: None,
        },
        ..StoreOptions::default()
    };
    let server = TestServer::start_with(keep_two).await;
    server.post("general", "alice", "seen").await;
    let page = browser.open(&server.url(&transport.page(""))).await;
    page.wait_for_bodies(&["seen"]).await;

    // While the page is away, three messages arrive and retention keeps two.
    let stopped = server.stop().await;
    page.wait_for_state("reconnecting").await;
    for body in ["missed", "kept 1", "kept 2"] {
        append(&*stopped.store, "bob", body).await;
    }
    assert_eq!(stopped.store.prune().await.unwrap(), 2);
    let _server = stopped.restart();

    page.wait_for_bodies(&["seen", "kept 1", "kept 2"]).await;
    let items: Vec<String> = page
        .js("return [...document.querySelectorAll('#messages li')].map((li) => li.className);")
        .await;
    assert_eq!(items, ["message", "gap", "message", "message"]);
    let notice = page.find("#notice").await;
    assert!(notice.is_displayed().await.unwrap());
    assert!(notice.text().await.unwrap().contains("missed"));
    // Still on the transport it started with: no silent fallback.
    assert_eq!(page.transport().await, transport.shown());
    browser.close().await;
}
