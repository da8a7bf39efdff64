//! An in-process server on a free port, so a test can stop it and start
//! another on the same port: over a memory store that outlives it, or over a
//! SQLite file that the next server opens afresh, as a restarted process
//! would.

use std::sync::Arc;
use std::time::Duration;

use chat_core::store::StoreOptions;
use chat_core::ChatStore;
use chat_server::{Application, Config, Shutdown};
use reqwest::header::AUTHORIZATION;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::task::JoinHandle;

use crate::harness::eventually;

/// How long a stopped server may keep its SQLite file locked.
const FILE_RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// A running server and the store it serves.
pub struct TestServer {
    pub port: u16,
    pub store: Arc<dyn ChatStore>,
    storage: Storage,
    config: Config,
    client: reqwest::Client,
    shutdown: Shutdown,
    running: JoinHandle<std::io::Result<()>>,
}

/// Where the messages live between servers.
enum Storage {
    /// In the memory store itself, handed from server to server.
    Memory,
    /// In a SQLite file, closed when a server stops and opened again.
    Sqlite { spec: String, _dir: TempDir },
}

impl TestServer {
    /// Starts a server on a free port over a fresh memory store.
    pub async fn start() -> Self {
        Self::start_with(StoreOptions::default()).await
    }

    /// Starts a server on a free port over a memory store with `options`.
    pub async fn start_with(options: StoreOptions) -> Self {
        Self::start_configured(options, |_| {}).await
    }

    /// Starts a server on a free port over a memory store with `options`,
    /// its configuration changed by `configure` (for example its poll limits).
    pub async fn start_configured(
        options: StoreOptions,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            chat_server::telemetry::init_subscriber_for_process();
        }
        let store = chat_core::store::open("memory", options).await.unwrap();
        let mut config = Config::new("127.0.0.1:0", "memory");
        configure(&mut config);
        Self::serve(config, store, Storage::Memory)
    }

    /// Starts a server on a free port over a SQLite file of its own.
    pub async fn start_sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let spec = format!("sqlite:{}", dir.path().join("chat.db").display());
        let store = chat_core::store::open(&spec, StoreOptions::default())
            .await
            .unwrap();
        let config = Config::new("127.0.0.1:0", spec.clone());
        Self::serve(config, store, Storage::Sqlite { spec, _dir: dir })
    }

    /// Serves `store` with `config`.
    fn serve(config: Config, store: Arc<dyn ChatStore>, storage: Storage) -> Self {
        let app = Application::build_with_store(&config, Arc::clone(&store)).unwrap();
        Self {
            port: app.port(),
            store,
            storage,
            config,
            client: reqwest::Client::new(),
            shutdown: app.shutdown(),
            running: tokio::spawn(app.run_until_stopped()),
        }
    }

    /// Stops the server gracefully and waits until it has exited; the store
    /// lives on for [`StoppedServer::restart`]: the same memory store, or
    /// the SQLite file closed and opened again.
    pub async fn stop(self) -> StoppedServer {
        self.shutdown.trigger();
        self.running.await.unwrap().unwrap();
        let mut config = self.config;
        config.addr = format!("127.0.0.1:{}", self.port);
        let store = match &self.storage {
            Storage::Memory => self.store,
            Storage::Sqlite { spec, .. } => {
                drop(self.store);
                // The server's worker threads drop their handles on the store
                // just after it has stopped; till then the file stays locked.
                eventually(FILE_RELEASE_TIMEOUT, async || {
                    chat_core::store::open(spec, StoreOptions::default())
                        .await
                        .map_err(|error| error.to_string())
                })
                .await
            }
        };
        StoppedServer {
            config,
            store,
            storage: self.storage,
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What `chat-cli send` does: `POST /rooms/{room}/messages` with JSON.
    /// Returns the stored message.
    pub async fn post(&self, room: &str, author: &str, body: &str) -> Value {
        let response = self
            .client
            .post(self.url(&format!("/rooms/{room}/messages")))
            .json(&json!({ "body": body, "author": author }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "posting {body:?}");
        response.json().await.unwrap()
    }

    /// What `chat-cli --token TOKEN send` does: a POST without an author,
    /// which the server stores under the token's name.
    pub async fn post_with_token(&self, room: &str, token: &str, body: &str) -> Value {
        let response = self
            .client
            .post(self.url(&format!("/rooms/{room}/messages")))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .json(&json!({ "body": body }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "posting {body:?}");
        response.json().await.unwrap()
    }

    /// Opens an event stream on `room` as another client would; it holds a
    /// parked slot (see `--max-parked`) until the answer is dropped.
    pub async fn hold_stream(&self, room: &str) -> reqwest::Response {
        let response = self
            .client
            .get(self.url(&format!("/rooms/{room}/events")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "opening a stream on {room}");
        response
    }

    /// How many requests the server has answered with `status`, every route
    /// together, as its `chat_http_requests_total` counts them.
    pub async fn answered(&self, status: u16) -> u64 {
        let metrics = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let labels_end = format!("status=\"{status}\"}}");
        metrics
            .lines()
            .filter_map(|line| line.rsplit_once(' '))
            .filter(|(series, _)| {
                series.starts_with("chat_http_requests_total{") && series.ends_with(&labels_end)
            })
            .map(|(_, count)| count.parse::<u64>().unwrap())
            .sum()
    }

    /// Every message of `room`, oldest first, without waiting.
    pub async fn messages(&self, room: &str) -> Vec<Value> {
        self.read_all(room, None).await
    }

    /// Every message of `room`, oldest first, read with `token`.
    pub async fn messages_with_token(&self, room: &str, token: &str) -> Vec<Value> {
        self.read_all(room, Some(token)).await
    }

    async fn read_all(&self, room: &str, token: Option<&str>) -> Vec<Value> {
        let mut request = self
            .client
            .get(self.url(&format!("/rooms/{room}/messages?limit=1000&timeout=0")));
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "reading {room}");
        response.json().await.unwrap()
    }
}

/// A stopped server: its configuration (now with its port) and store, ready
/// to serve again.
pub struct StoppedServer {
    config: Config,
    pub store: Arc<dyn ChatStore>,
    storage: Storage,
}

impl StoppedServer {
    /// Starts a new server on the same port over the same store.
    pub fn restart(self) -> TestServer {
        TestServer::serve(self.config, self.store, self.storage)
    }
}
