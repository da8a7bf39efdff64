//! `spawn_app()` and friends: a server on port 0 over a chosen backend, with
//! a store decorator that tells tests when a poll has started watching.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chat_core::store::StoreOptions;
use chat_core::{
    AppendError, Appended, ChatStore, Message, NewMessage, Page, ReadQuery, RoomName, RoomWatch,
    StoreError,
};
use chat_server::{Application, Config, Shutdown};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[path = "../scale_out/database.rs"]
mod database;

pub use database::{ready as postgres_ready, TestDatabase};

/// The store backends every contract test runs against.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Memory,
    Sqlite,
    /// A new database on the test PostgreSQL server (see `TestDatabase`).
    Postgres,
}

/// Runs each named `async fn(Backend)` of the calling module once per backend.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Memory).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::helpers::postgres_ready().await {
                        super::$name($crate::helpers::Backend::Postgres).await;
                    }
                }
            )*
        }
    };
}
pub(crate) use backend_tests;

/// A running server and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub store: Arc<ObservedStore>,
    shutdown: Shutdown,
    server: JoinHandle<std::io::Result<()>>,
    _dir: TempDir,
    /// Declared after the server's store, so it is dropped after it.
    _database: Option<TestDatabase>,
}

/// Starts a server with the default configuration.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, StoreOptions::default(), |_| {}).await
}

/// Starts a server with custom store options and configuration.
pub async fn spawn_app_with(
    backend: Backend,
    options: StoreOptions,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    init_test_logging();
    let dir = tempfile::tempdir().unwrap();
    let mut database = None;
    let spec = match backend {
        Backend::Memory => "memory".to_owned(),
        Backend::Sqlite => format!("sqlite:{}", dir.path().join("chat.db").display()),
        Backend::Postgres => database
            .insert(
                TestDatabase::create()
                    .await
                    .expect("PostgreSQL is reachable"),
            )
            .url(),
    };
    let inner = chat_core::store::open(&spec, options).await.unwrap();
    let store = Arc::new(ObservedStore::new(inner));
    let mut config = Config::new("127.0.0.1:0", spec);
    configure(&mut config);
    let app = Application::build_with_store(&config, Arc::clone(&store) as _).unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = app.shutdown();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        store,
        shutdown,
        server,
        _dir: dir,
        _database: database,
    }
}

/// Prints the server's logs only when `TEST_LOG` is set.
fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        chat_server::telemetry::init_subscriber_for_process();
    }
}

impl TestApp {
    /// `POST {path}` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `POST {path}` with raw bytes and a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address))
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        request.send().await.unwrap()
    }

    /// Posts `body` to `path` and returns the stored message.
    pub async fn send(&self, path: &str, body: &str) -> Message {
        let response = self
            .post_json(path, &serde_json::json!({ "body": body }))
            .await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// `GET {path_and_query}`.
    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path_and_query}", self.address))
            .send()
            .await
            .unwrap()
    }

    /// Reads messages without waiting and asserts success.
    pub async fn read_now(&self, path: &str, query: &str) -> Vec<Message> {
        let separator = if query.is_empty() { "" } else { "&" };
        let response = self
            .get(&format!("{path}?timeout=0{separator}{query}"))
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Starts a graceful shutdown.
    pub fn trigger_shutdown(&self) {
        self.shutdown.trigger();
    }

    /// Waits until the server has exited after a shutdown.
    pub async fn stopped(self) -> std::io::Result<()> {
        self.server.await.unwrap()
    }
}

/// Asserts the contract's error shape and returns its `error` code.
pub async fn assert_error(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status, "unexpected status");
    assert_json_content_type(&response);
    // GET answers are never cached, errors included (and no error is).
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .map(|v| v.as_bytes()),
        Some(&b"no-store"[..]),
        "an error without `Cache-Control: no-store`"
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body["error"].as_str().expect("an `error` code").to_owned()
}

/// Asserts `Content-Type: application/json`.
pub fn assert_json_content_type(response: &reqwest::Response) {
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
}

/// A store wrapper that counts the watches started, so a test can wait until
/// a poll is parked instead of sleeping.
#[derive(Debug)]
pub struct ObservedStore {
    inner: Arc<dyn ChatStore>,
    watches_started: watch::Sender<usize>,
}

impl ObservedStore {
    fn new(inner: Arc<dyn ChatStore>) -> Self {
        Self {
            inner,
            watches_started: watch::Sender::new(0),
        }
    }

    /// Waits until at least `count` watches have been started in total.
    pub async fn wait_for_watches(&self, count: usize) {
        let mut started = self.watches_started.subscribe();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            started.wait_for(|&n| n >= count),
        )
        .await
        .expect("the poll never started watching")
        .unwrap();
    }
}

#[async_trait]
impl ChatStore for ObservedStore {
    async fn append(&self, room: &RoomName, message: NewMessage) -> Result<Appended, AppendError> {
        self.inner.append(room, message).await
    }

    async fn read(&self, room: &RoomName, query: ReadQuery) -> Result<Page, StoreError> {
        self.inner.read(room, query).await
    }

    fn watch(&self, room: &RoomName) -> RoomWatch {
        let watch = self.inner.watch(room);
        self.watches_started.send_modify(|n| *n += 1);
        watch
    }

    fn wake_all_watches(&self) {
        self.inner.wake_all_watches();
    }

    async fn prune(&self) -> Result<u64, StoreError> {
        self.inner.prune().await
    }

    async fn check_health(&self) -> Result<(), StoreError> {
        self.inner.check_health().await
    }
}

/// Checks `condition` every few milliseconds until it holds (`Ok`) or
/// `within` has passed (`Err`): for states no event announces, such as a
/// socket the server closed.
pub async fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> Result<(), ()> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if condition() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
