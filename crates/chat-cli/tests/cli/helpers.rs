//! An in-process chat-server on a free port, and the real `chat-cli` binary
//! run against it, with every wait bounded and tied to an event.

use std::io;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chat_core::store::{MemoryStore, StoreOptions};
use chat_core::{ChatStore, Message};
use chat_server::{Application, Config, Shutdown};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Longest any single expected event may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// A running server.
pub struct TestServer {
    /// The port it listens on.
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    shutdown: Shutdown,
    running: JoinHandle<io::Result<()>>,
}

/// A server over a fresh in-memory store on a free port.
pub fn spawn_server() -> TestServer {
    spawn_server_with("127.0.0.1:0", memory_store(StoreOptions::default()))
}

/// An in-memory store to share between servers.
pub fn memory_store(options: StoreOptions) -> Arc<dyn ChatStore> {
    Arc::new(MemoryStore::new(options))
}

/// A server on `addr` (port 0 picks one) serving `store`.
pub fn spawn_server_with(addr: &str, store: Arc<dyn ChatStore>) -> TestServer {
    spawn_configured_server(Config::new(addr, "memory"), store)
}

/// A server with `config` (its `store` is ignored) serving `store`.
pub fn spawn_configured_server(mut config: Config, store: Arc<dyn ChatStore>) -> TestServer {
    config.workers = std::num::NonZeroUsize::new(1);
    let app = Application::build_with_store(&config, store).expect("server builds");
    let port = app.port();
    let shutdown = app.shutdown();
    let running = tokio::spawn(app.run_until_stopped());
    TestServer {
        port,
        url: format!("http://127.0.0.1:{port}"),
        shutdown,
        running,
    }
}

impl TestServer {
    /// Stops the server and waits until it no longer listens.
    pub async fn stop(self) {
        self.shutdown.trigger();
        tokio::time::timeout(PATIENCE, self.running)
            .await
            .expect("the server stops in time")
            .expect("the server task ran")
            .expect("the server stopped cleanly");
    }

    /// Posts a message over HTTP, as another client would.
    pub async fn post(&self, room_path: &str, body: &str, author: Option<&str>) -> Message {
        let response = http()
            .post(format!("{}{room_path}", self.url))
            .json(&json!({ "body": body, "author": author }))
            .send()
            .await
            .expect("POST reaches the server");
        assert_eq!(response.status(), 201, "POST {room_path} {body:?}");
        response.json().await.expect("a stored message")
    }

    /// Posts into the default room.
    pub async fn post_general(&self, body: &str) -> Message {
        self.post("/messages", body, None).await
    }

    /// Every message of a room, oldest first, read over HTTP.
    pub async fn messages(&self, room_path: &str) -> Vec<Message> {
        let response = http()
            .get(format!("{}{room_path}", self.url))
            .query(&[
                ("after", Uuid::nil().to_string().as_str()),
                ("limit", "1000"),
                ("timeout", "0"),
            ])
            .send()
            .await
            .expect("GET reaches the server");
        assert_eq!(response.status(), 200);
        response.json().await.expect("a list of messages")
    }
}

/// A plain HTTP client that ignores any proxy settings of the environment.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client")
}

/// `chat-cli --server <server>`, isolated from the caller's environment.
pub fn chat_cli(server: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat-cli"));
    command
        .env_remove("CHAT_SERVER")
        .env_remove("CHAT_ROOM")
        .env_remove("CHAT_AUTHOR")
        .env_remove("CHAT_TOKEN")
        .env("NO_PROXY", "127.0.0.1")
        .args(["--server", server])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// What a finished run printed.
#[derive(Debug)]
pub struct Finished {
    /// How it exited.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Finished {
    /// Standard output, line by line.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Asserts the run failed with `code` and exactly one line on standard
    /// error that starts with `chat-cli: `; returns that line.
    pub fn single_error_line(&self, code: i32) -> &str {
        assert_eq!(self.status.code(), Some(code), "{self:?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{self:?}");
        assert!(lines[0].starts_with("chat-cli: "), "{self:?}");
        lines[0]
    }
}

/// Runs `command` to completion, feeding it `stdin`.
pub async fn run(mut command: Command, stdin: &str) -> Finished {
    use tokio::io::AsyncWriteExt;

    command.stdin(Stdio::piped());
    let mut child = command.spawn().expect("chat-cli starts");
    let mut input = child.stdin.take().expect("piped stdin");
    input.write_all(stdin.as_bytes()).await.expect("stdin");
    drop(input);
    let output = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("chat-cli finishes in time")
        .expect("chat-cli ran");
    Finished {
        status: output.status,
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

/// A `chat-cli tail` running in the background, read line by line.
pub struct Running {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: ChildStderr,
}

impl Running {
    /// Starts `command`.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command.spawn().expect("chat-cli starts");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let stderr = child.stderr.take().expect("piped stderr");
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// The next line of standard output, waiting for it.
    pub async fn next_line(&mut self) -> String {
        match tokio::time::timeout(PATIENCE, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => {
                let stderr = read_all(&mut self.stderr).await;
                panic!("chat-cli closed its output early; its standard error: {stderr}")
            }
            Ok(Err(error)) => panic!("cannot read chat-cli's output: {error}"),
            Err(_) => panic!("no line from chat-cli within {PATIENCE:?}"),
        }
    }

    /// The next `count` lines, each parsed as a JSON message.
    pub async fn next_messages(&mut self, count: usize) -> Vec<Message> {
        let mut messages = Vec::with_capacity(count);
        for _ in 0..count {
            let line = self.next_line().await;
            let message = serde_json::from_str(&line)
                .unwrap_or_else(|error| panic!("not a JSON message ({error}): {line}"));
            messages.push(message);
        }
        messages
    }

    /// Its standard input, when the command was given a piped one.
    pub fn take_stdin(&mut self) -> tokio::process::ChildStdin {
        self.child.stdin.take().expect("piped stdin")
    }

    /// Stops reading standard output, closing the pipe.
    pub fn close_stdout(self) -> (Child, ChildStderr) {
        (self.child, self.stderr)
    }

    /// Waits for the process to exit on its own; returns its status, what was
    /// left on standard output, and its standard error.
    pub async fn finish(mut self) -> Finished {
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("chat-cli exits in time")
            .expect("chat-cli ran");
        let mut stdout = String::new();
        while let Some(line) = self.stdout.next_line().await.expect("stdout") {
            stdout.push_str(&line);
            stdout.push('\n');
        }
        Finished {
            status,
            stdout,
            stderr: read_all(&mut self.stderr).await,
        }
    }
}

/// Everything left on a child's standard error.
pub async fn read_all(stderr: &mut ChildStderr) -> String {
    let mut text = String::new();
    tokio::time::timeout(PATIENCE, stderr.read_to_string(&mut text))
        .await
        .expect("standard error closes in time")
        .expect("UTF-8 stderr");
    text
}

/// Waits until `path` exists: how a test learns that `tail` has fixed its
/// starting point (it writes its cursor file right after).
pub async fn wait_for_file(path: &Path) {
    tokio::time::timeout(PATIENCE, async {
        while !path.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the file appears in time");
}

/// A port on which nothing listens.
pub fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local address").port()
}
