//! The warning an operator gets when the server listens beyond this machine
//! with access control off.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

const WARNING: &str = "listening beyond this machine with access control off";
const DEADLINE: Duration = Duration::from_secs(30);

/// Starts the real binary on `addr` (memory store, logs at `warn`), waits
/// for its "listening on" line, stops it, and returns its standard error.
async fn stderr_of_a_server_on(addr: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--addr", addr, "--store", "memory"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("chat-server starts");
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    tokio::time::timeout(DEADLINE, BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("chat-server announces its address")
        .unwrap();
    assert!(line.contains("listening on"), "{line:?}");
    let pid = child.id().expect("the server is running").to_string();
    // SIGTERM: a graceful stop writes out the buffered log lines.
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("chat-server stops on SIGTERM")
        .unwrap();
    stderr
}

#[tokio::test]
async fn listening_on_every_interface_without_access_control_warns() {
    let stderr = stderr_of_a_server_on("0.0.0.0:0").await;
    assert!(stderr.contains(WARNING), "no warning in {stderr:?}");
}

#[tokio::test]
async fn listening_on_loopback_does_not_warn() {
    let stderr = stderr_of_a_server_on("127.0.0.1:0").await;
    assert!(
        !stderr.contains(WARNING),
        "unexpected warning in {stderr:?}"
    );
}
