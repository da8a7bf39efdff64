//! Access control (`--auth-file`): the page asks for a token on a 401, keeps
//! it, sends it on every request and stream, says when it is refused, and
//! forgets it on request.

use std::time::Duration;

use chat_core::store::StoreOptions;
use fantoccini::key::Key;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::harness::{Browser, Page, Transport};
use crate::server::TestServer;

/// Reads and posts everywhere.
const ALICE: &str = "alice-secret-token";
/// Reads the `team-*` rooms only, and posts nowhere.
const BOB: &str = "bob-secret-token";

/// A server whose auth file lets nobody in without a token, with the file's
/// directory, which must outlive it.
async fn start_locked_server() -> (TestServer, TempDir) {
    start_server_with_anonymous("").await
}

/// A server with ALICE's and BOB's tokens and `anonymous`, the file's
/// `[anonymous]` section (empty: nothing without a token).
async fn start_server_with_anonymous(anonymous: &str) -> (TestServer, TempDir) {
    let hash = |token: &str| format!("{:x}", Sha256::digest(token.as_bytes()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.toml");
    std::fs::write(
        &path,
        format!(
            "{anonymous}\n[[token]]\nname = \"alice\"\nsha256 = \"{}\"\nread = [\"*\"]\nwrite = [\"*\"]\n\n\
             [[token]]\nname = \"bob\"\nsha256 = \"{}\"\nread = [\"team-*\"]\n",
            hash(ALICE),
            hash(BOB),
        ),
    )
    .unwrap();
    let server = TestServer::start_configured(StoreOptions::default(), |config| {
        config.auth_file = Some(path);
    })
    .await;
    (server, dir)
}

/// Types `token` into the token prompt and presses Enter.
async fn enter_token(page: &Page, token: &str) {
    page.find("#token")
        .await
        .send_keys(&format!("{token}{}", Key::Enter))
        .await
        .unwrap();
}

async fn stored_token(page: &Page) -> Option<String> {
    page.js("return localStorage.getItem('chat.token');").await
}

on_each_transport!(a_page_without_a_token_asks_for_one_and_then_reads_and_posts_with_it);
async fn a_page_without_a_token_asks_for_one_and_then_reads_and_posts_with_it(
    transport: Transport,
) {
    let browser = Browser::start().await;
    let (server, _auth) = start_locked_server().await;
    server
        .post_with_token("general", ALICE, "before the page")
        .await;
    let page = browser
        .open_until(&server.url(&transport.page("")), "locked")
        .await;
    page.wait_for_text("#token-reason", "Reading #general needs an access token")
        .await;
    assert_eq!(page.focused_id().await, "token");
    assert_eq!(page.bodies().await, Vec::<String>::new());

    // A mistyped token is refused, forgotten, and asked for again.
    enter_token(&page, "alice-secret-tokne").await;
    page.wait_for_text("#token-reason", "The server did not accept that token")
        .await;
    assert_eq!(page.state().await, "locked");
    assert_eq!(stored_token(&page).await, None);

    enter_token(&page, ALICE).await;
    page.wait_for_state("live").await;
    page.wait_for_bodies(&["before the page"]).await;
    assert_eq!(page.transport().await, transport.shown());
    assert!(!page.find("#token-form").await.is_displayed().await.unwrap());
    assert_eq!(stored_token(&page).await.as_deref(), Some(ALICE));

    // Posting needs no name: the token's name is the author.
    page.type_and_send("hello with a token").await;
    page.wait_for_bodies(&["before the page", "hello with a token"])
        .await;
    let stored = server.messages_with_token("general", ALICE).await;
    assert_eq!(stored[1]["author"], "alice");
    let name: String = page
        .js("return document.getElementById('author').value;")
        .await;
    assert_eq!(name, "alice");
    // Others' messages arrive live: the page's feed carries the token too.
    server
        .post_with_token("general", ALICE, "from the command line")
        .await;
    page.wait_for_bodies_within(
        &[
            "before the page",
            "hello with a token",
            "from the command line",
        ],
        Duration::from_secs(1),
    )
    .await;

    // Kept across a reload.
    page.client.refresh().await.unwrap();
    page.wait_for_state("live").await;
    page.wait_for_bodies(&[
        "before the page",
        "hello with a token",
        "from the command line",
    ])
    .await;

    // Forgotten on request, and asked for again.
    page.find("#forget-token").await.click().await.unwrap();
    page.wait_for_state("locked").await;
    page.wait_for_text("#token-reason", "Reading #general needs an access token")
        .await;
    assert_eq!(stored_token(&page).await, None);
    assert_eq!(page.bodies().await, Vec::<String>::new());
    assert!(!page
        .find("#forget-token")
        .await
        .is_displayed()
        .await
        .unwrap());
    // Still on the transport it started with: no silent fallback.
    assert_eq!(page.transport().await, transport.shown());
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_right_is_told_it_may_not_read_or_post_here() {
    let browser = Browser::start().await;
    let (server, _auth) = start_locked_server().await;
    server
        .post_with_token("team-a", ALICE, "for the team")
        .await;
    let page = browser.open_until(&server.url("/"), "locked").await;

    enter_token(&page, BOB).await;
    page.wait_for_state("denied").await;
    page.wait_for_text("#notice", "Your token may not read #general")
        .await;
    assert_eq!(stored_token(&page).await.as_deref(), Some(BOB));

    // A room it may read: shown, but posting is refused and the text kept.
    let _: Option<()> = page.js("location.hash = '#team-a';").await;
    page.wait_for_state("live").await;
    page.wait_for_bodies(&["for the team"]).await;
    page.type_and_send("may I?").await;
    page.wait_for_text(
        "#send-error",
        "Not sent: this token may not post into the room `team-a`",
    )
    .await;
    let kept: String = page
        .js("return document.getElementById('body').value;")
        .await;
    assert_eq!(kept, "may I?");
    assert_eq!(server.messages_with_token("team-a", ALICE).await.len(), 1);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_anyone_may_read_the_token_is_asked_for_when_posting() {
    let browser = Browser::start().await;
    let (server, _auth) = start_server_with_anonymous("[anonymous]\nread = [\"*\"]\n").await;
    server
        .post_with_token("general", ALICE, "open to all")
        .await;
    let page = browser.open(&server.url("/")).await;
    page.wait_for_bodies(&["open to all"]).await;
    assert!(!page.find("#token-form").await.is_displayed().await.unwrap());

    page.set_name("guest").await;
    page.type_and_send("can I say something?").await;
    page.wait_for_text("#send-error", "Not sent: this needs an access token")
        .await;
    page.wait_for_text("#token-reason", "Posting in #general needs an access token")
        .await;
    enter_token(&page, ALICE).await;
    page.wait_for_state("live").await;
    // The text waited in the box; Enter sends it now.
    assert_eq!(page.focused_id().await, "body");
    page.press(Key::Enter).await;
    page.wait_for_bodies(&["open to all", "can I say something?"])
        .await;
    assert_eq!(page.authors().await, ["alice", "alice"]);
    browser.close().await;
}
