//! Running the real `chat-server` binary over the memory store.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A `chat-server` process and the lines of its standard error.
pub struct ServerProcess {
    child: Child,
    pub address: String,
    log: mpsc::UnboundedReceiver<String>,
}

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat-server"));
    command
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs `chat-server ARGS` to completion.
pub async fn run(args: &[&str]) -> Output {
    tokio::time::timeout(START_TIMEOUT, command(args).output())
        .await
        .expect("chat-server exits")
        .unwrap()
}

/// Starts a server on a free port with `auth_file`.
pub async fn start(auth_file: &Path) -> ServerProcess {
    let auth_file = auth_file.to_str().unwrap();
    let mut child = command(&[
        "--addr",
        "127.0.0.1:0",
        "--store",
        "memory",
        "--auth-file",
        auth_file,
    ])
    .spawn()
    .expect("chat-server starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(START_TIMEOUT, stdout.read_line(&mut line))
        .await
        .expect("chat-server announces its address")
        .unwrap();
    let address = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    let (sender, log) = mpsc::unbounded_channel();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    ServerProcess {
        child,
        address,
        log,
    }
}

impl ServerProcess {
    /// Sends `SIGHUP`.
    pub fn hang_up(&self) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for a line of the log containing `text`.
    pub async fn wait_for_log(&mut self, text: &str) -> String {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let line = self.log.recv().await.expect("the server exited");
                if line.contains(text) {
                    return line;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no log line with {text:?}"))
    }
}
