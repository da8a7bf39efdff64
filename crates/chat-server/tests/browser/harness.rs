//! Headless Chromium through chromedriver: one chromedriver per test, a fresh
//! profile per page, and waiting for the page by polling its DOM against a
//! deadline.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long chromedriver gets to start answering.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a condition on the page is checked while waiting for it.
const CHECK_INTERVAL: Duration = Duration::from_millis(25);
/// How long the page gets to reach an expected state.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(5);

/// The screen a page is opened on.
#[derive(Debug, Clone, Copy)]
pub enum Screen {
    /// A desktop window of this width and height.
    Desktop(u32, u32),
    /// A phone: Chromium's mobile emulation, which honours the viewport meta
    /// tag as a phone does.
    Phone,
}

/// An ordinary laptop window.
pub const DESKTOP: Screen = Screen::Desktop(1000, 720);
/// A common phone's screen in CSS pixels.
const PHONE_SIZE: (u32, u32) = (390, 844);

/// How the page follows its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Server-sent events, the page's default.
    Events,
    /// Long polling, as `/?transport=long-poll` forces.
    LongPoll,
}

impl Transport {
    /// The path of the page following `fragment` (such as `#lobby`, or `""`
    /// for the default room) over this transport.
    pub fn page(self, fragment: &str) -> String {
        match self {
            Self::Events => format!("/{fragment}"),
            Self::LongPoll => format!("/?transport=long-poll{fragment}"),
        }
    }

    /// What the page's status badge says in `data-transport`.
    pub fn shown(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::LongPoll => "long-poll",
        }
    }
}

/// Declares `$check(transport)` as two tests, `$check::events` and
/// `$check::long_poll`, for behaviour the page keeps whichever way it
/// follows its room.
macro_rules! on_each_transport {
    ($check:ident) => {
        mod $check {
            use crate::harness::Transport;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn events() {
                super::$check(Transport::Events).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn long_poll() {
                super::$check(Transport::LongPoll).await;
            }
        }
    };
}

/// Browser tests take turns: each runs Chromium, and several at once on a
/// small machine would make the one-second delivery check flaky.
static TURN: Mutex<()> = Mutex::const_new(());

/// Waits for `probe` to return `Ok`, checking every 25 ms; once `within` has
/// passed, fails the test with the last `Err`, which says what was seen.
pub async fn eventually<T>(
    within: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(not_yet) if Instant::now() >= deadline => {
                panic!("gave up after {within:?}: {not_yet}")
            }
            Err(_) => tokio::time::sleep(CHECK_INTERVAL).await,
        }
    }
}

/// A chromedriver of this test's own; pages are opened through it.
pub struct Browser {
    driver: Chromedriver,
    /// Every session opened, to be closed by [`Browser::close`].
    sessions: std::sync::Mutex<Vec<Client>>,
    // Dropped after the driver, so the next test starts once this one's
    // browsers are gone.
    _turn: MutexGuard<'static, ()>,
}

impl Browser {
    /// Waits for this test's turn and starts chromedriver.
    pub async fn start() -> Self {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: the browser tests need Debian's chromium and \
                 chromium-driver; run scripts/install-browser.sh to install them"
            );
        }
        let turn = TURN.lock().await;
        Self {
            driver: Chromedriver::start().await,
            sessions: std::sync::Mutex::default(),
            _turn: turn,
        }
    }

    /// Closes every browser window, so each Chromium exits and is reaped by
    /// chromedriver, then stops chromedriver. A test that fails before this
    /// still has its processes killed when the `Browser` is dropped.
    pub async fn close(self) {
        let sessions = std::mem::take(&mut *self.sessions.lock().unwrap());
        for session in sessions {
            session.close().await.unwrap();
        }
    }

    /// Opens `url` in a new desktop-sized browser and waits until the page is
    /// live.
    pub async fn open(&self, url: &str) -> Page {
        self.open_on(url, DESKTOP).await
    }

    /// Opens `url` in a new browser on `screen` and waits until the page is
    /// live.
    pub async fn open_on(&self, url: &str, screen: Screen) -> Page {
        let page = self.launch(url, screen).await;
        page.wait_for_state("live").await;
        page
    }

    /// Opens `url` in a new desktop-sized browser and waits until the page
    /// shows connection state `state`.
    pub async fn open_until(&self, url: &str, state: &str) -> Page {
        let page = self.launch(url, DESKTOP).await;
        page.wait_for_state(state).await;
        page
    }

    /// Opens `url` in a new browser on `screen`.
    async fn launch(&self, url: &str, screen: Screen) -> Page {
        let profile = tempfile::tempdir().unwrap();
        let (width, height) = match screen {
            Screen::Desktop(width, height) => (width, height),
            Screen::Phone => PHONE_SIZE,
        };
        let mut options = json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                // Tests run as root in containers, where the sandbox cannot
                // start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                format!("--user-data-dir={}", profile.path().display()),
                format!("--window-size={width},{height}"),
            ],
        });
        if let Screen::Phone = screen {
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 3, "touch": true },
            });
        }
        let capabilities = json!({ "goog:chromeOptions": options });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.driver.url)
            .await
            .expect("chromedriver could not start Chromium");
        self.sessions.lock().unwrap().push(client.clone());
        client.goto(url).await.unwrap();
        Page {
            client,
            _profile: profile,
        }
    }
}

/// A chromedriver process on a free port.
struct Chromedriver {
    process: Child,
    url: String,
}

impl Chromedriver {
    async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let output = || {
            if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            }
        };
        let process = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(output())
            .stderr(output())
            // Its own process group, so dropping it can stop the browsers it
            // started too.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {CHROMEDRIVER}: {error}"));
        let mut driver = Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
        };
        driver.wait_until_ready().await;
        driver
    }

    /// Polls `/status` until chromedriver says it is ready.
    async fn wait_until_ready(&mut self) {
        let client = reqwest::Client::new();
        let status_url = format!("{}/status", self.url);
        let deadline = Instant::now() + DRIVER_START_TIMEOUT;
        loop {
            if let Ok(response) = client.get(&status_url).send().await {
                let status: Value = response.json().await.unwrap_or_default();
                if status["value"]["ready"] == true {
                    return;
                }
            }
            if let Some(exit) = self.process.try_wait().unwrap() {
                panic!("chromedriver exited at start-up ({exit}); run with TEST_LOG=1 to see why");
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {status_url} within {DRIVER_START_TIMEOUT:?}"
            );
            tokio::time::sleep(CHECK_INTERVAL).await;
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and every Chromium it started, also
        // when a test failed before it could close its sessions.
        let group = format!("-{}", self.process.id());
        let killed = Command::new("kill")
            .args(["-KILL", "--", &group])
            .status()
            .is_ok_and(|status| status.success());
        if !killed {
            let _ = self.process.kill();
        }
        let _ = self.process.wait();
    }
}

/// One browser window showing the chat page.
pub struct Page {
    pub client: Client,
    _profile: TempDir,
}

impl Page {
    /// Runs `script` in the page and decodes what it returns.
    pub async fn js<T: DeserializeOwned>(&self, script: &str) -> T {
        let value = self.client.execute(script, Vec::new()).await.unwrap();
        serde_json::from_value(value).unwrap()
    }

    /// The bodies of the messages shown, top to bottom, as displayed text.
    pub async fn bodies(&self) -> Vec<String> {
        self.js("return [...document.querySelectorAll('#messages .message .body')].map((b) => b.textContent);")
            .await
    }

    /// The authors of the messages shown, top to bottom.
    pub async fn authors(&self) -> Vec<String> {
        self.js("return [...document.querySelectorAll('#messages .message .author')].map((a) => a.textContent);")
            .await
    }

    /// The connection state shown: `connecting`, `live`, `reconnecting`,
    /// `locked` (a token is needed) or `denied`.
    pub async fn state(&self) -> String {
        self.js("return document.getElementById('status').dataset.state;")
            .await
    }

    /// How the page follows its room: `events` or `long-poll`.
    pub async fn transport(&self) -> String {
        self.js("return document.getElementById('status').dataset.transport;")
            .await
    }

    /// Waits until the element matching `selector` is displayed with a text
    /// that contains `part`, and returns that text.
    pub async fn wait_for_text(&self, selector: &str, part: &str) -> String {
        let element = self.find(selector).await;
        eventually(PAGE_TIMEOUT, async || {
            let text = element.text().await.unwrap();
            if element.is_displayed().await.unwrap() && text.contains(part) {
                Ok(text)
            } else {
                Err(format!("{selector} shows {text:?}, not {part:?}"))
            }
        })
        .await
    }

    /// Waits until the page shows connection state `state`.
    pub async fn wait_for_state(&self, state: &str) {
        eventually(PAGE_TIMEOUT, async || match self.state().await {
            shown if shown == state => Ok(()),
            shown => Err(format!("the page is {shown}, not {state}")),
        })
        .await;
    }

    /// Waits until the message bodies shown are exactly `expected`.
    pub async fn wait_for_bodies(&self, expected: &[&str]) {
        self.wait_for_bodies_within(expected, PAGE_TIMEOUT).await;
    }

    /// Waits at most `within` until the bodies shown are exactly `expected`.
    pub async fn wait_for_bodies_within(&self, expected: &[&str], within: Duration) {
        eventually(within, async || match self.bodies().await {
            shown if shown == expected => Ok(()),
            shown => Err(format!(
                "expected the bodies {expected:?}, the page shows {shown:?}"
            )),
        })
        .await;
    }

    /// The element matching the CSS `selector`.
    pub async fn find(&self, selector: &str) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Css(selector))
            .await
            .unwrap_or_else(|error| panic!("no {selector}: {error}"))
    }

    /// The `id` of the focused element.
    pub async fn focused_id(&self) -> String {
        self.js("return document.activeElement.id;").await
    }

    /// Types a name into the name field, replacing what was there.
    pub async fn set_name(&self, name: &str) {
        let field = self.find("#author").await;
        field.clear().await.unwrap();
        field.send_keys(name).await.unwrap();
    }

    /// Presses and releases `key` wherever the focus is.
    pub async fn press(&self, key: Key) {
        let keyboard = KeyActions::new("keyboard".to_owned())
            .then(KeyAction::Down { value: key.into() })
            .then(KeyAction::Up { value: key.into() });
        self.client.perform_actions(keyboard).await.unwrap();
    }

    /// Types `text` into the message box and presses Enter.
    pub async fn type_and_send(&self, text: &str) {
        self.find("#body")
            .await
            .send_keys(&format!("{text}{}", Key::Enter))
            .await
            .unwrap();
    }
}
