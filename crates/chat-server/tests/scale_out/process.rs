//! Running real `chat-server` processes on one PostgreSQL database.

use std::process::Stdio;
use std::time::Duration;

use chat_core::Message;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A `chat-server` process listening on a port it chose.
pub struct Instance {
    child: Child,
    pub address: String,
}

impl Instance {
    /// Starts a server on `store` and waits for its "listening on" line.
    pub async fn start(store: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
            .args(["--addr", "127.0.0.1:0", "--store", store])
            .env("RUST_LOG", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Start-up errors still reach stderr; the expected 503 logs do not.
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
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
        Self { child, address }
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("still running")
    }

    /// Kills the process with `SIGKILL` (if it still runs) and reaps it.
    pub async fn kill(mut self) {
        // Already dead is fine: this reaps it.
        let _ = self.child.kill().await;
    }

    /// `POST /rooms/{room}/messages` with an idempotency key; the status and
    /// the message, or `None` when no answer came (the process died).
    pub async fn post(
        &self,
        client: &reqwest::Client,
        room: &str,
        body: &str,
        key: &str,
    ) -> Option<(u16, Option<Message>)> {
        let response = client
            .post(format!("{}/rooms/{room}/messages", self.address))
            .header("Idempotency-Key", key)
            .json(&json!({ "body": body }))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        let message = if status == 200 || status == 201 {
            Some(response.json().await.ok()?)
        } else {
            None
        };
        Some((status, message))
    }

    /// Posts until the store takes it (retrying `503`s with the same key,
    /// which the contract makes safe); the stored message.
    pub async fn post_until_stored(
        &self,
        client: &reqwest::Client,
        room: &str,
        body: &str,
    ) -> Message {
        let key = format!("{:032x}", rand::random::<u128>());
        loop {
            match self.post(client, room, body, &key).await {
                Some((200 | 201, Some(message))) => return message,
                Some((503, _)) => tokio::time::sleep(Duration::from_millis(20)).await,
                other => panic!("unexpected answer to a post: {other:?}"),
            }
        }
    }

    /// One long poll: messages after `cursor`, waiting up to `timeout` s.
    pub async fn poll(
        &self,
        client: &reqwest::Client,
        room: &str,
        cursor: Uuid,
        timeout: u64,
    ) -> Vec<Message> {
        let response = client
            .get(format!(
                "{}/rooms/{room}/messages?after={cursor}&limit=1000&timeout={timeout}",
                self.address
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Every message of `room`, chaining `after` from the start.
    pub async fn read_all(&self, client: &reqwest::Client, room: &str) -> Vec<Message> {
        let mut all: Vec<Message> = Vec::new();
        loop {
            let cursor = all.last().map_or(Uuid::nil(), |message| message.id);
            let page = self.poll(client, room, cursor, 0).await;
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }
}
