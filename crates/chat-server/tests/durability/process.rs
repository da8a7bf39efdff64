//! Running the real `chat-server` binary on a database file.

use crate::common::read_all_pages;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use chat_core::Message;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A `chat-server` process listening on a port it chose.
pub struct ServerProcess {
    child: Child,
    pub address: String,
}

/// The `--store` value for a database file.
pub fn sqlite(db: &Path) -> String {
    format!("sqlite:{}", db.display())
}

/// The command line of a server on `store`, listening on a free port.
fn command(store: &str, extra_args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat-server"));
    command
        .args(["--addr", "127.0.0.1:0", "--store", store])
        .args(extra_args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Starts a server and waits for its "listening on" line.
pub async fn start(db: &Path) -> ServerProcess {
    let mut child = command(&sqlite(db), &[])
        .spawn()
        .expect("chat-server starts");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(START_TIMEOUT, BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("chat-server announces its address")
        .unwrap();
    let address = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    ServerProcess { child, address }
}

/// Runs a server that must fail to start; returns its exit status and
/// standard error.
pub async fn start_failing(store: &str, extra_args: &[&str]) -> (ExitStatus, String) {
    let mut child = command(store, extra_args)
        .spawn()
        .expect("chat-server starts");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    let status = tokio::time::timeout(START_TIMEOUT, child.wait())
        .await
        .expect("a server that cannot start exits")
        .unwrap();
    (status, stderr)
}

impl ServerProcess {
    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("still running")
    }

    /// Kills the process with `SIGKILL` and reaps it.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// Sends `SIGTERM` and waits for the exit status.
    pub async fn terminate(mut self) -> ExitStatus {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("chat-server exits after SIGTERM")
            .unwrap()
    }

    /// Every message of `room`, read by chaining `after` from the start.
    pub async fn read_all(&self, client: &reqwest::Client, room: &str) -> Vec<Message> {
        read_all_pages(async |cursor| {
            client
                .get(format!(
                    "{}/rooms/{room}/messages?after={cursor}&limit=1000&timeout=0",
                    self.address
                ))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        })
        .await
    }

    /// Posts one message and returns it.
    pub async fn send(&self, client: &reqwest::Client, room: &str, body: &str) -> Message {
        let response = client
            .post(format!("{}/rooms/{room}/messages", self.address))
            .json(&serde_json::json!({ "body": body }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }
}
