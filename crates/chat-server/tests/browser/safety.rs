//! Message text is only ever text: markup in a body or a name is shown as
//! typed and never becomes an element or runs.

use crate::harness::Browser;
use crate::server::TestServer;

const MARKUP: &str = "<img src=x onerror=alert(1)>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_a_message_is_shown_as_text_and_runs_nothing() {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    // Every way a message reaches the page: history, the poll, our own send.
    server.post("general", "<b>mallory</b>", MARKUP).await;
    let page = browser.open(&server.url("/")).await;
    server.post("general", "<b>mallory</b>", MARKUP).await;
    page.set_name("<i>eve</i>").await;
    page.type_and_send(MARKUP).await;

    page.wait_for_bodies(&[MARKUP, MARKUP, MARKUP]).await;
    assert_eq!(
        page.authors().await,
        ["<b>mallory</b>", "<b>mallory</b>", "<i>eve</i>"]
    );
    let elements_in_messages: Vec<String> = page
        .js("return [...document.querySelectorAll('#messages .body *, #messages .author *')].map((e) => e.tagName);")
        .await;
    assert_eq!(elements_in_messages, Vec::<String>::new());
    let images: usize = page
        .js("return document.querySelectorAll('#messages img').length;")
        .await;
    assert_eq!(images, 0);
    match page.client.get_alert_text().await {
        Err(error) if error.is_no_such_alert() => {}
        other => panic!("a dialog opened: {other:?}"),
    }
    browser.close().await;
}
