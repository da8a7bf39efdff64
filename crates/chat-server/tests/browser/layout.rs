//! Fit and reach: the page on a phone, with the keyboard alone, and the
//! screenshot in the docs (written under `target/`; over `docs/screenshot.png`
//! only with `CHAT_REFRESH_SCREENSHOT=1`, as `scripts/refresh-screenshot.sh`
//! sets).

use std::path::Path;

use fantoccini::key::Key;

use crate::harness::{eventually, Browser, Screen, PAGE_TIMEOUT};
use crate::server::TestServer;

/// Set to `1` to write the screenshot over `docs/screenshot.png` instead of
/// into `target/`.
const REFRESH_SCREENSHOT: &str = "CHAT_REFRESH_SCREENSHOT";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_fits_a_phone_screen() {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    let long_word = "x".repeat(300);
    server.post("general", "alice", &long_word).await;
    server
        .post(
            "general",
            &"a-rather-long-name-".repeat(3),
            "hello from a phone",
        )
        .await;
    let page = browser.open_on(&server.url("/"), Screen::Phone).await;
    page.wait_for_bodies(&[&long_word, "hello from a phone"])
        .await;

    let (viewport, page_width): (u32, u32) = page
        .js("return [window.innerWidth, document.documentElement.scrollWidth];")
        .await;
    assert_eq!(
        viewport, 390,
        "the viewport meta tag makes the page phone-wide"
    );
    assert!(
        page_width <= viewport,
        "no sideways scrolling: {page_width} > {viewport}"
    );
    // The message box and its button are on screen, not pushed off it.
    let off_screen: Vec<String> = page
        .js("return ['#author', '#body', '#send', '#room'].filter((s) => { \
                 const r = document.querySelector(s).getBoundingClientRect(); \
                 return r.left < 0 || r.right > innerWidth || r.top < 0 || r.bottom > innerHeight; });")
        .await;
    assert_eq!(off_screen, Vec::<String>::new());
    browser.close().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyboard_alone_reaches_every_control_with_a_visible_focus() {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    for n in 1..=60 {
        server
            .post("general", "alice", &format!("message {n}"))
            .await;
    }
    let page = browser.open(&server.url("/")).await;
    assert_eq!(page.focused_id().await, "author", "no name yet: ask for it");

    // Round the page once; focus leaves the document between the last
    // control and the first, where the page has nothing to check.
    let mut order = Vec::new();
    for _ in 0..8 {
        page.press(Key::Tab).await;
        let (id, outline): (String, String) = page
            .js("const e = document.activeElement; \
                 return [e.id, getComputedStyle(e).outlineStyle];")
            .await;
        if id.is_empty() {
            continue;
        }
        assert_ne!(outline, "none", "#{id} shows no focus");
        order.push(id);
    }
    assert_eq!(
        order,
        [
            "body",
            "send",
            "room",
            "join",
            "log",
            "load-older",
            "author"
        ]
    );

    let unlabelled: Vec<String> = page
        .js("return [...document.querySelectorAll('input')].filter((i) => i.labels.length === 0).map((i) => i.id);")
        .await;
    assert_eq!(unlabelled, Vec::<String>::new());
    // New messages are read out by screen readers.
    server.post("general", "bob", "can you hear me?").await;
    eventually(PAGE_TIMEOUT, async || {
        let said: String = page
            .js("const a = document.querySelector('[aria-live=polite]'); return a ? a.textContent : '';")
            .await;
        if said.contains("bob: can you hear me?") {
            Ok(())
        } else {
            Err(format!("the live region says {said:?}"))
        }
    })
    .await;
    browser.close().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screenshot_of_a_conversation_is_saved_for_the_docs() {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    let conversation = [
        ("alice", "Morning! Is the deploy still on for ten o'clock?"),
        ("bob", "Yes. The migration ran fine on staging last night."),
        (
            "alice",
            "Great. I'll watch the error rate once it goes out.",
        ),
        (
            "bob",
            "Release notes are in docs/releases/1.4.md if anyone wants a look.",
        ),
        (
            "alice",
            "Read them, looks good. Ping me here when it's live.",
        ),
    ];
    for (author, body) in conversation {
        server.post("general", author, body).await;
    }
    let page = browser
        .open_on(&server.url("/"), Screen::Desktop(900, 760))
        .await;
    page.set_name("bob").await;
    page.type_and_send("Deploy finished, all green.").await;
    let mut expected: Vec<&str> = conversation.iter().map(|(_, body)| *body).collect();
    expected.push("Deploy finished, all green.");
    page.wait_for_bodies(&expected).await;
    // No caret or focus ring in the picture.
    let _: Option<()> = page.js("document.activeElement.blur();").await;

    let png = page.client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    // The tracked picture changes only on request (scripts/refresh-screenshot.sh),
    // so running the tests leaves the checkout clean.
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshot.png");
    let refresh = std::env::var_os(REFRESH_SCREENSHOT).is_some_and(|value| value == "1");
    let path = if refresh {
        docs.clone()
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshot.png")
    };
    let modified = || {
        std::fs::metadata(&docs)
            .and_then(|meta| meta.modified())
            .ok()
    };
    let docs_before = modified();
    std::fs::write(&path, png).unwrap();
    if !refresh {
        assert_eq!(modified(), docs_before, "docs/screenshot.png was rewritten");
    }
    browser.close().await;
}
