//! Writing messages: the name is asked for once, a failed send keeps the
//! text and says why, and a retry never posts twice.

use fantoccini::key::Key;

use crate::harness::{eventually, Browser, PAGE_TIMEOUT};
use crate::server::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_name_is_asked_for_once_and_remembered() {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    let page = browser.open(&server.url("/")).await;
    assert_eq!(page.focused_id().await, "author", "no name yet: ask for it");

    page.type_and_send("who am I?").await;
    let error = page.find("#send-error").await;
    assert_eq!(error.text().await.unwrap(), "Choose a name first.");
    assert_eq!(page.focused_id().await, "author");

    // Enter in the name field moves on to the message, which is still there.
    page.find("#author")
        .await
        .send_keys(&format!("alice{}", Key::Enter))
        .await
        .unwrap();
    assert_eq!(page.focused_id().await, "body");
    page.find("#body")
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    page.wait_for_bodies(&["who am I?"]).await;
    assert!(!error.is_displayed().await.unwrap(), "the error went away");

    page.client.refresh().await.unwrap();
    page.wait_for_state("live").await;
    let name: String = page
        .js("return document.getElementById('author').value;")
        .await;
    assert_eq!(name, "alice");
    assert_eq!(
        page.focused_id().await,
        "body",
        "a known name: straight to the message"
    );
    browser.close().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_send_keeps_the_text_and_shows_the_servers_message() {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    let page = browser.open(&server.url("/")).await;
    page.set_name("alice").await;
    // Over the server's 10,000-byte limit; set directly, typing it is slow.
    let _: Option<()> = page
        .js("document.getElementById('body').value = 'x'.repeat(10001);")
        .await;
    page.find("#body")
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();

    let error = page.find("#send-error").await;
    let shown = eventually(PAGE_TIMEOUT, async || {
        let text = error.text().await.unwrap();
        if text.is_empty() {
            Err("no error is shown".to_owned())
        } else {
            Ok(text)
        }
    })
    .await;
    assert_eq!(
        shown,
        "Not sent: request body is larger than 10000 bytes (the limit counts the whole JSON \
         request body, so a message may be somewhat shorter)"
    );
    let kept: usize = page
        .js("return document.getElementById('body').value.length;")
        .await;
    assert_eq!(kept, 10001, "the text stays for another try");
    assert!(server.messages("general").await.is_empty());
    browser.close().await;
}

/// Lets the page's next POST reach the server but loses its answer, as when a
/// connection drops after the server stored the message: the page sees a
/// network failure once the server has answered.
const LOSE_NEXT_POST_ANSWER: &str = "const send = window.fetch; let lost = false; \
    window.fetch = async (url, options = {}) => { \
        const answer = send.call(window, url, options); \
        if (options.method !== 'POST' || lost) return answer; \
        lost = true; await answer; throw new TypeError('Failed to fetch'); };";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_lost_answer_posts_the_message_once() {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    let page = browser.open(&server.url("/")).await;
    page.set_name("alice").await;
    let _: Option<()> = page.js(LOSE_NEXT_POST_ANSWER).await;
    page.type_and_send("did this arrive?").await;

    let error = page.find("#send-error").await;
    eventually(PAGE_TIMEOUT, async || match error.text().await.unwrap() {
        text if text.contains("Press Enter to try again") => Ok(()),
        text => Err(format!("the send error says {text:?}")),
    })
    .await;
    assert_eq!(
        server.messages("general").await.len(),
        1,
        "the server stored the first attempt"
    );

    // The user does what the page says.
    page.find("#body")
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    eventually(PAGE_TIMEOUT, async || {
        let left: String = page
            .js("return document.getElementById('body').value;")
            .await;
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("the box still holds {left:?}"))
        }
    })
    .await;
    assert!(!error.is_displayed().await.unwrap(), "the error went away");
    page.wait_for_bodies(&["did this arrive?"]).await;
    assert_eq!(server.messages("general").await.len(), 1, "stored once");

    // The next message is a new one, not a replay of the last.
    page.type_and_send("and this one?").await;
    page.wait_for_bodies(&["did this arrive?", "and this one?"])
        .await;
    assert_eq!(server.messages("general").await.len(), 2);
    browser.close().await;
}
