//! Following a room over server-sent events, and falling back to long
//! polling when streams do not get through, but not for a busy server or
//! streams the browser reconnects by itself.

use std::time::Duration;

use chat_core::store::StoreOptions;
use tokio::time::Instant;

use crate::harness::{eventually, Browser, Page, PAGE_TIMEOUT};
use crate::server::TestServer;

/// Replaces the page's `EventSource` with one whose every stream is refused
/// at once, as by a proxy that answers event streams with an error page.
const REFUSE_STREAMS: &str = "window.streamsTried = 0; \
    window.EventSource = class extends EventTarget { \
        static CONNECTING = 0; static OPEN = 1; static CLOSED = 2; \
        constructor() { super(); this.readyState = 0; window.streamsTried += 1; \
            setTimeout(() => { this.readyState = 2; this.dispatchEvent(new Event('error')); }, 10); } \
        close() { this.readyState = 2; } };";

/// Replaces the page's `EventSource` with one whose streams never open, as
/// behind a proxy that buffers the whole response: a `fetch` of an events
/// URL gets no answer either (until it is aborted), other requests go
/// through.
const STALL_STREAMS: &str = "window.streamsTried = 0; \
    window.EventSource = class extends EventTarget { \
        static CONNECTING = 0; static OPEN = 1; static CLOSED = 2; \
        constructor() { super(); this.readyState = 0; window.streamsTried += 1; } \
        close() { this.readyState = 2; } }; \
    const realFetch = window.fetch; \
    window.fetch = (url, options) => String(url).includes('/events') \
        ? new Promise((_, reject) => options.signal.addEventListener('abort', \
            () => reject(new DOMException('aborted', 'AbortError')))) \
        : realFetch(url, options);";

/// Puts a proxy in front of the page's streams and requests. Its streams
/// reach the server until `window.loseServer()`: from then on the proxy has
/// no server, as nginx does when its upstream is down, so open streams end,
/// new ones are refused at once and every request is answered `502 Bad
/// Gateway`, until `window.proxyDown = false`. Counts the streams refused.
const PROXY_LOSING_ITS_SERVER: &str = "window.streamsTried = 0; window.proxyDown = false; \
    window.liveStreams = []; \
    const RealEventSource = window.EventSource; \
    window.EventSource = class extends EventTarget { \
        static CONNECTING = 0; static OPEN = 1; static CLOSED = 2; \
        constructor(url) { super(); this.readyState = 0; \
            if (window.proxyDown) { window.streamsTried += 1; \
                setTimeout(() => this.refuse(), 10); return; } \
            const inner = new RealEventSource(url); this.inner = inner; \
            window.liveStreams.push(this); \
            for (const type of ['open', 'message', 'truncated', 'error']) { \
                inner.addEventListener(type, (event) => { this.readyState = inner.readyState; \
                    this.dispatchEvent(new MessageEvent(type, { data: event.data })); }); } } \
        refuse() { this.inner?.close(); this.readyState = 2; \
            this.dispatchEvent(new Event('error')); } \
        close() { this.inner?.close(); this.readyState = 2; } }; \
    window.loseServer = () => { window.proxyDown = true; \
        for (const stream of window.liveStreams.splice(0)) stream.refuse(); }; \
    const realFetch = window.fetch; \
    window.fetch = (url, options) => window.proxyDown \
        ? Promise.resolve(new Response('<html>502 Bad Gateway</html>', \
            { status: 502, headers: { 'Content-Type': 'text/html' } })) \
        : realFetch(url, options);";

/// Replaces the page's `EventSource` with one whose stream breaks three
/// times 300 ms after opening, each time reconnected by the browser 300 ms
/// later, as on a flaky network. Counts its opens.
const DROP_STREAMS: &str = "window.streamsOpened = 0; \
    window.EventSource = class extends EventTarget { \
        static CONNECTING = 0; static OPEN = 1; static CLOSED = 2; \
        constructor() { super(); this.readyState = 0; this.reopen(); } \
        reopen() { setTimeout(() => { if (this.readyState === 2) return; \
            this.readyState = 1; window.streamsOpened += 1; this.dispatchEvent(new Event('open')); \
            if (window.streamsOpened <= 3) setTimeout(() => this.drop(), 300); }, 300); } \
        drop() { if (this.readyState === 2) return; \
            this.readyState = 0; this.dispatchEvent(new Event('error')); this.reopen(); } \
        close() { this.readyState = 2; } };";

/// The streams that may fail in a row before the page polls instead
/// (`STREAM_FAILURES_BEFORE_FALLBACK` in js/event-follower.js).
const STREAM_FAILURES_BEFORE_FALLBACK: u64 = 3;

/// Long enough for a page honouring `Retry-After: 1` to be refused many
/// times, and for its backoff (at most 10 s) to end once there is room.
const OVERLOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// A page on a new server whose `EventSource` (and maybe `fetch`) `fake`
/// replaces, then a fresh view of `#lobby`, which opens its stream through
/// the fake.
async fn lobby_through(fake: &str) -> (Browser, TestServer, Page) {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    let page = browser.open(&server.url("/")).await;
    let _: Option<()> = page.js(fake).await;
    let _: Option<()> = page.js("location.hash = '#lobby';").await;
    (browser, server, page)
}

/// Waits at most `within` until the page follows its room by `transport`.
async fn wait_until_on(page: &Page, transport: &str, within: Duration) {
    eventually(within, async || match page.transport().await {
        shown if shown == transport => Ok(()),
        shown => Err(format!("the page follows its room by {shown}")),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pages_on_event_streams_both_see_a_message_within_a_second() {
    let browser = Browser::start().await;
    let server = TestServer::start().await;
    let alice = browser.open(&server.url("/#lobby")).await;
    let bob = browser.open(&server.url("/#lobby")).await;
    for page in [&alice, &bob] {
        assert_eq!(page.transport().await, "events");
    }

    server.post("lobby", "carol", "hello both of you").await;
    for page in [&alice, &bob] {
        page.wait_for_bodies_within(&["hello both of you"], Duration::from_secs(1))
            .await;
    }
    alice.set_name("alice").await;
    alice.type_and_send("hi carol").await;
    bob.wait_for_bodies_within(&["hello both of you", "hi carol"], Duration::from_secs(1))
        .await;
    assert_eq!(bob.authors().await, ["carol", "alice"]);
    // No page ever asked for messages with `after`: the streams carried them.
    let polls: usize = bob
        .js("return performance.getEntriesByType('resource') \
                 .filter((e) => e.name.includes('/messages?after=')).length;")
        .await;
    assert_eq!(polls, 0, "the page long-polled");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_streams_are_refused_the_page_falls_back_to_long_polling() {
    let (browser, server, page) = lobby_through(REFUSE_STREAMS).await;

    wait_until_on(&page, "long-poll", PAGE_TIMEOUT).await;
    let tried: u32 = page.js("return window.streamsTried;").await;
    assert_eq!(tried, 3, "streams tried before giving up");
    page.wait_for_state("live").await;
    server.post("lobby", "bob", "by long poll").await;
    page.wait_for_bodies_within(&["by long poll"], Duration::from_secs(1))
        .await;
    // The choice holds for the page: the next room is polled at once.
    let _: Option<()> = page.js("location.hash = '#general';").await;
    page.wait_for_state("live").await;
    server.post("general", "bob", "polled too").await;
    page.wait_for_bodies(&["polled too"]).await;
    let tried: u32 = page.js("return window.streamsTried;").await;
    assert_eq!(tried, 3, "no stream was tried for the next room");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_behind_a_proxy_is_waited_for_on_streams() {
    let (browser, server, page) = lobby_through(PROXY_LOSING_ITS_SERVER).await;
    page.wait_for_state("live").await;
    server.post("lobby", "bob", "through the proxy").await;
    page.wait_for_bodies(&["through the proxy"]).await;

    let _: Option<()> = page.js("window.loseServer();").await;
    // More refused streams than broken ones would make the page poll.
    eventually(2 * PAGE_TIMEOUT, async || {
        let (tried, transport): (u64, String) = page
            .js("return [window.streamsTried, \
                     document.getElementById('status').dataset.transport];")
            .await;
        if tried > STREAM_FAILURES_BEFORE_FALLBACK || transport != "events" {
            Ok(())
        } else {
            Err(format!("{tried} streams refused so far"))
        }
    })
    .await;
    assert_eq!(page.transport().await, "events", "fell back to polling");
    assert_eq!(page.state().await, "reconnecting");

    server
        .post("lobby", "bob", "while the proxy had no server")
        .await;
    let _: Option<()> = page.js("window.proxyDown = false;").await;
    page.wait_for_state("live").await;
    page.wait_for_bodies(&["through the proxy", "while the proxy had no server"])
        .await;
    server.post("lobby", "bob", "once it was back").await;
    page.wait_for_bodies(&[
        "through the proxy",
        "while the proxy had no server",
        "once it was back",
    ])
    .await;
    assert_eq!(page.transport().await, "events");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_the_browser_reconnects_by_itself_do_not_count_towards_the_fallback() {
    let (browser, _server, page) = lobby_through(DROP_STREAMS).await;

    // Three breaks, as many as broken streams before a fallback, each
    // mended by the browser's own reconnection.
    eventually(PAGE_TIMEOUT, async || {
        let (opened, transport): (u32, String) = page
            .js("return [window.streamsOpened, \
                     document.getElementById('status').dataset.transport];")
            .await;
        if opened == 4 || transport != "events" {
            Ok(())
        } else {
            Err(format!("{opened} streams opened so far"))
        }
    })
    .await;
    assert_eq!(
        page.transport().await,
        "events",
        "streams the browser reconnected made the page fall back"
    );
    page.wait_for_state("live").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_streams_never_open_the_page_falls_back_to_long_polling() {
    let (browser, server, page) = lobby_through(STALL_STREAMS).await;
    page.wait_for_state("connecting").await;
    // Posted while the stream hangs: the fallback's first read brings it.
    server.post("lobby", "bob", "while the stream hung").await;

    // The page waits 5 s for a stream to open, then as long again for the
    // events URL's answer, which the same proxy withholds, while a plain
    // read is answered.
    wait_until_on(
        &page,
        "long-poll",
        2 * PAGE_TIMEOUT + Duration::from_secs(2),
    )
    .await;
    page.wait_for_state("live").await;
    page.wait_for_bodies(&["while the stream hung"]).await;
    server.post("lobby", "bob", "by long poll").await;
    page.wait_for_bodies_within(
        &["while the stream hung", "by long poll"],
        Duration::from_secs(1),
    )
    .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_no_room_for_another_stream_is_waited_for_without_falling_back() {
    let browser = Browser::start().await;
    let server = TestServer::start_configured(StoreOptions::default(), |config| {
        config.max_parked = Some(1);
    })
    .await;
    // Another client's stream takes the one slot: the page's streams get
    // `503 overloaded` with `Retry-After: 1`, its quick reads are served.
    let other_client = server.hold_stream("general").await;
    let opened = Instant::now();
    let page = browser.open_until(&server.url("/"), "reconnecting").await;
    server
        .post("general", "bob", "while the server was busy")
        .await;

    // Twice as many refusals as broken streams would make the page poll.
    eventually(OVERLOAD_TIMEOUT, async || {
        match server.answered(503).await {
            refused if refused >= 2 * STREAM_FAILURES_BEFORE_FALLBACK => Ok(()),
            refused => Err(format!("the server refused {refused} waits so far")),
        }
    })
    .await;
    assert_eq!(
        page.transport().await,
        "events",
        "a busy server made the page fall back to long polling"
    );
    assert_eq!(page.state().await, "reconnecting");
    // Each try is a stream and its diagnosis, a second after the last try.
    assert!(
        opened.elapsed() >= Duration::from_secs(2),
        "the page did not wait out Retry-After: {:?}",
        opened.elapsed()
    );
    // The reads of each diagnosis still bring what is said.
    page.wait_for_bodies(&["while the server was busy"]).await;

    drop(other_client);
    eventually(OVERLOAD_TIMEOUT, async || match page.state().await {
        state if state == "live" => Ok(()),
        state => Err(format!("the page is {state} after the slot was freed")),
    })
    .await;
    assert_eq!(page.transport().await, "events");
    server.post("general", "bob", "once there was room").await;
    page.wait_for_bodies_within(
        &["while the server was busy", "once there was room"],
        Duration::from_secs(1),
    )
    .await;
    browser.close().await;
}
