//! An in-process server on a free port over a memory store that outlives it,
//! so a test can stop the server and start another on the same port and store.

use std::sync::Arc;

use chat_core::store::StoreOptions;
use chat_core::ChatStore;
use chat_server::{Application, Config, Shutdown};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

/// A running server and the store it serves.
pub struct TestServer {
    pub port: u16,
    pub store: Arc<dyn ChatStore>,
    config: Config,
    client: reqwest::Client,
    shutdown: Shutdown,
    running: JoinHandle<std::io::Result<()>>,
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
        Self::serve(config, store)
    }

    /// Serves `store` with `config`.
    fn serve(config: Config, store: Arc<dyn ChatStore>) -> Self {
        let app = Application::build_with_store(&config, Arc::clone(&store)).unwrap();
        Self {
            port: app.port(),
            store,
            config,
            client: reqwest::Client::new(),
            shutdown: app.shutdown(),
            running: tokio::spawn(app.run_until_stopped()),
        }
    }

    /// Stops the server gracefully and waits until it has exited; the store
    /// lives on for [`TestServer::restart`].
    pub async fn stop(self) -> StoppedServer {
        self.shutdown.trigger();
        self.running.await.unwrap().unwrap();
        let mut config = self.config;
        config.addr = format!("127.0.0.1:{}", self.port);
        StoppedServer {
            config,
            store: self.store,
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

    /// Every message of `room`, oldest first, without waiting.
    pub async fn messages(&self, room: &str) -> Vec<Value> {
        self.client
            .get(self.url(&format!("/rooms/{room}/messages?limit=1000&timeout=0")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A stopped server: its configuration (now with its port) and store, ready
/// to serve again.
pub struct StoppedServer {
    config: Config,
    pub store: Arc<dyn ChatStore>,
}

impl StoppedServer {
    /// Starts a new server on the same port over the same store.
    pub fn restart(self) -> TestServer {
        TestServer::serve(self.config, self.store)
    }
}
