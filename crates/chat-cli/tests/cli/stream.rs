//! `chat-cli tail` over the event stream, where it differs from long
//! polling: pushed messages, a resume with `Last-Event-ID` across a restart
//! of a durable server, the stream's `retry`, pings, cut-off events and
//! refusals before any event. (`tail.rs` runs the common tests on both.)

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chat_core::store::StoreOptions;
use chat_core::{ChatStore, Message};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::helpers::{
    chat_cli, run, spawn_configured_server, spawn_server, spawn_server_with, wait_for_file,
    Running, TestServer, PATIENCE,
};
use crate::scripted::{message_event, message_json, Reply, ScriptedServer};

fn ids(messages: &[Message]) -> Vec<Uuid> {
    messages.iter().map(|message| message.id).collect()
}

#[tokio::test]
async fn tail_over_the_stream_prints_messages_from_several_posters_in_order() {
    let server = Arc::new(spawn_server());
    let directory = tempfile::tempdir().expect("temporary directory");
    let cursor = directory.path().join("cursor");
    let mut command = chat_cli(&server.url);
    command.args([
        "tail",
        "-n",
        "0",
        "--json",
        "--count",
        "30",
        "--cursor-file",
    ]);
    command.arg(&cursor);
    let mut tail = Running::spawn(command);
    wait_for_file(&cursor).await;

    let posters: Vec<_> = (0..3)
        .map(|poster| {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                for n in 0..10 {
                    server.post_general(&format!("poster {poster} #{n}")).await;
                }
            })
        })
        .collect();
    let printed = tail.next_messages(30).await;
    for poster in posters {
        poster.await.expect("the poster ran");
    }

    assert_eq!(printed, server.messages("/messages").await);
    let finished = tail.finish().await;
    assert!(finished.status.success(), "{finished:?}");
    assert!(finished.stderr.is_empty(), "{finished:?}");
    let stored = std::fs::read_to_string(&cursor).expect("cursor file");
    assert!(stored.contains(&printed[29].id.to_string()), "{stored}");
}

/// Opens the SQLite store in `path`, waiting for a stopped server that used
/// it to let go of it.
async fn sqlite_store(path: &Path) -> Arc<dyn ChatStore> {
    let spec = format!("sqlite:{}", path.display());
    tokio::time::timeout(PATIENCE, async {
        loop {
            match chat_core::store::open(&spec, StoreOptions::default()).await {
                Ok(store) => return store,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
    .expect("the SQLite file opens in time")
}

/// Posts `poster #0`, `poster #1`, ... into the default room, one after the
/// other without pause, `limit` of them or until a post fails (the server
/// stopped), reporting each stored message on `posted`.
fn keep_posting(
    server: &TestServer,
    limit: usize,
    posted: mpsc::UnboundedSender<Message>,
) -> JoinHandle<()> {
    let url = format!("{}/messages", server.url);
    tokio::spawn(async move {
        let http = reqwest::Client::builder().no_proxy().build().expect("HTTP");
        for n in 0..limit {
            let answer = http
                .post(&url)
                .json(&serde_json::json!({ "body": format!("poster #{n}") }))
                .send()
                .await;
            match answer {
                Ok(response) if response.status() == 201 => {
                    let message = response.json().await.expect("a stored message");
                    // The test may have stopped listening.
                    let _ = posted.send(message);
                }
                _ => return,
            }
        }
    })
}

#[tokio::test]
async fn tail_over_the_stream_resumes_across_a_restart_on_the_same_sqlite_file() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let db = directory.path().join("chat.db");
    let cursor = directory.path().join("cursor");
    let server_a = spawn_server_with("127.0.0.1:0", sqlite_store(&db).await);
    let port = server_a.port;
    server_a.post_general("before tail").await;
    let mut command = chat_cli(&server_a.url);
    command.args(["tail", "--json", "--cursor-file"]);
    command.arg(&cursor);
    let mut tail = Running::spawn(command);
    let mut printed = tail.next_messages(1).await;

    // Someone posts without pause while the server stops under them...
    let (posted, mut stored) = mpsc::unbounded_channel();
    let poster = keep_posting(&server_a, usize::MAX, posted);
    for _ in 0..5 {
        stored.recv().await.expect("a post before the stop");
    }
    server_a.stop().await;
    poster.await.expect("the poster ran");
    let server_b = spawn_server_with(&format!("127.0.0.1:{port}"), sqlite_store(&db).await);
    // ... and again once it is back, while tail reconnects.
    let (posted, _stored) = mpsc::unbounded_channel();
    keep_posting(&server_b, 10, posted)
        .await
        .expect("the poster ran");
    let everything = server_b.messages("/messages").await;
    printed.extend(tail.next_messages(everything.len() - 1).await);
    // A doubled message would come before this one.
    let last = server_b.post_general("last").await;
    printed.extend(tail.next_messages(1).await);

    let everything = server_b.messages("/messages").await;
    assert_eq!(everything.last(), Some(&last));
    assert_eq!(ids(&printed), ids(&everything));
    assert_eq!(printed, everything);
    let saved = tokio::time::timeout(PATIENCE, async {
        loop {
            let content = std::fs::read_to_string(&cursor).expect("cursor file");
            if content.contains(&last.id.to_string()) {
                return content;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the cursor file reaches the last message");
    assert!(saved.contains(r#""room":"general""#), "{saved}");
}

#[tokio::test]
async fn tail_over_the_stream_refuses_a_room_it_may_not_read_in_one_line() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let auth_file = directory.path().join("auth.toml");
    std::fs::write(
        &auth_file,
        "[anonymous]\nread = [\"general\"]\nwrite = []\n",
    )
    .expect("auth file");
    let mut config = chat_server::Config::new("127.0.0.1:0", "memory");
    config.auth_file = Some(auth_file);
    let server = spawn_configured_server(
        config,
        crate::helpers::memory_store(StoreOptions::default()),
    );
    let mut command = chat_cli(&server.url);
    command.args(["--room", "secret", "tail", "--after"]);
    command.arg(Uuid::nil().to_string());

    let finished = run(command, "").await;

    let line = finished.single_error_line(1);
    assert_eq!(
        line,
        "chat-cli: the server needs a token here: pass --token or set CHAT_TOKEN \
         (unauthorized, HTTP 401)"
    );
    assert!(finished.stdout.is_empty(), "{finished:?}");
}

#[tokio::test]
async fn tail_over_the_stream_resumes_after_the_last_message_printed_with_last_event_id() {
    let first = message_json(1, "first");
    let second = message_json(2, "second");
    let third = message_json(3, "third");
    let crlf = |text: String| text.replace('\n', "\r\n");
    let server = ScriptedServer::start(vec![
        // A short retry, a ping, CRLF line ends, and a connection lost in
        // the middle of the second event.
        Reply::Events(format!(
            "retry: 50\r\n\r\n: ping\r\n\r\n{}{}",
            crlf(message_event(&first)),
            // Cut after its id and event lines, in its data.
            &message_event(&second)[..60]
        )),
        Reply::Answer {
            status: "503 Service Unavailable",
            headers: vec![("Retry-After", "1")],
            body: r#"{"error":"overloaded","message":"too many waiting"}"#.to_owned(),
        },
        Reply::Events(format!(
            "event: truncated\ndata: {{}}\n\n{}{}",
            message_event(&second),
            message_event(&third)
        )),
    ])
    .await;
    let mut command = chat_cli(&server.url);
    command.args([
        "--token", "t0k3n", "tail", "--json", "--count", "3", "--after",
    ]);
    command.arg(Uuid::nil().to_string());

    let started = tokio::time::Instant::now();
    let finished = run(command, "").await;

    assert!(finished.status.success(), "{finished:?}");
    let printed: Vec<serde_json::Value> = finished
        .lines()
        .iter()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    assert_eq!(printed, [first.clone(), second, third]);
    assert!(
        finished
            .stderr
            .contains("warning: too many waiting (overloaded, HTTP 503); retrying"),
        "{finished:?}"
    );
    assert!(
        finished.stderr.contains("warning: messages were deleted"),
        "{finished:?}"
    );
    // The 503 asked for a second.
    assert!(started.elapsed() >= Duration::from_secs(1), "{finished:?}");
    let requests = server.requests();
    let nil = Uuid::nil().to_string();
    assert_eq!(requests[0].target, format!("/events?after={nil}"));
    assert_eq!(requests[0].header("Last-Event-ID"), None);
    for request in &requests[1..] {
        assert_eq!(request.target, "/events", "{requests:?}");
        assert_eq!(request.header("Last-Event-ID"), first["id"].as_str());
    }
    for request in &requests {
        assert_eq!(request.header("Authorization"), Some("Bearer t0k3n"));
        assert_eq!(request.header("Accept"), Some("text/event-stream"));
    }
}

#[tokio::test]
async fn tail_over_the_stream_reports_streams_that_end_at_once_as_one_outage() {
    let message = message_json(1, "at last");
    let unavailable = || Reply::error("503 Service Unavailable", "store_unavailable", "down");
    // Streams that open, send their `retry` and end, between refusals: one
    // outage, not several, and not a silent loop.
    let dropped = || Reply::Events("retry: 10\n\n".to_owned());
    let server = ScriptedServer::start(vec![
        unavailable(),
        dropped(),
        unavailable(),
        dropped(),
        Reply::Events(message_event(&message)),
    ])
    .await;
    let mut command = chat_cli(&server.url);
    command.args(["tail", "--json", "--count", "1", "--after"]);
    command.arg(Uuid::nil().to_string());

    let finished = run(command, "").await;

    assert!(finished.status.success(), "{finished:?}");
    let printed: serde_json::Value = serde_json::from_str(finished.stdout.trim()).expect("JSON");
    assert_eq!(printed, message);
    assert_eq!(
        finished.stderr.lines().collect::<Vec<_>>(),
        ["chat-cli: warning: down (store_unavailable, HTTP 503); retrying"],
        "{finished:?}"
    );
    assert_eq!(server.requests().len(), 5);
}

#[tokio::test]
async fn tail_over_the_stream_warns_once_about_a_server_that_ends_every_stream_at_once() {
    let message = message_json(1, "at last");
    let mut replies: Vec<_> = std::iter::repeat_with(|| Reply::Events("retry: 10\n\n".into()))
        .take(3)
        .collect();
    replies.push(Reply::Events(message_event(&message)));
    let server = ScriptedServer::start(replies).await;
    let mut command = chat_cli(&server.url);
    command.args(["tail", "--json", "--count", "1", "--after"]);
    command.arg(Uuid::nil().to_string());

    let finished = run(command, "").await;

    assert!(finished.status.success(), "{finished:?}");
    let warnings: Vec<_> = finished.stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "{finished:?}");
    assert!(
        warnings[0].starts_with("chat-cli: warning: the event stream from ")
            && warnings[0].ends_with(" ended before it delivered anything; retrying"),
        "{finished:?}"
    );
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn tail_over_the_stream_prints_and_saves_the_messages_before_a_malformed_event() {
    let first = message_json(1, "fine");
    let directory = tempfile::tempdir().expect("temporary directory");
    let cursor = directory.path().join("cursor");
    let server = ScriptedServer::start(vec![Reply::Events(format!(
        "{}id: 2\ndata: not json\n\n",
        message_event(&first)
    ))])
    .await;
    std::fs::write(&cursor, format!("{}\n", Uuid::nil())).expect("cursor file");
    let mut command = chat_cli(&server.url);
    command.args(["tail", "--json", "--cursor-file"]);
    command.arg(&cursor);

    let finished = run(command, "").await;

    let line = finished.single_error_line(1);
    assert!(line.contains("answer is not valid"), "{line}");
    let printed: serde_json::Value = serde_json::from_str(finished.stdout.trim()).expect("JSON");
    assert_eq!(printed, first);
    let stored = std::fs::read_to_string(&cursor).expect("cursor file");
    assert!(stored.contains(first["id"].as_str().unwrap()), "{stored}");
}

#[tokio::test]
async fn tail_over_the_stream_ends_in_one_line_on_a_refusal_or_an_answer_that_is_no_stream() {
    let refusal = Reply::error("400 Bad Request", "invalid_room", "no such room here");
    let not_a_stream = Reply::json("200 OK", "[]");
    for (reply, expected) in [
        (
            refusal,
            "chat-cli: no such room here (invalid_room, HTTP 400)",
        ),
        (
            not_a_stream,
            "chat-cli: the server's event stream is not valid: the answer is \
             \"application/json\", not text/event-stream",
        ),
    ] {
        let server = ScriptedServer::start(vec![reply, Reply::Events(String::new())]).await;
        let mut command = chat_cli(&server.url);
        command.args(["tail", "--after"]);
        command.arg(Uuid::nil().to_string());

        let finished = run(command, "").await;

        assert_eq!(finished.single_error_line(1), expected);
        assert!(finished.stdout.is_empty(), "{finished:?}");
        assert_eq!(server.requests().len(), 1, "retried: {expected}");
    }
}

#[tokio::test]
async fn tail_over_the_stream_follows_a_named_room_at_its_own_path() {
    let server = spawn_server();
    server.post_general("elsewhere").await;
    let mut command = chat_cli(&server.url);
    command.args(["--room", "ops", "tail", "--json", "--count", "2", "--after"]);
    command.arg(Uuid::nil().to_string());
    let mut tail = Running::spawn(command);

    let one = server.post("/rooms/ops/messages", "one", None).await;
    let two = server.post("/rooms/ops/messages", "two", None).await;

    assert_eq!(tail.next_messages(2).await, [one, two]);
    assert!(tail.finish().await.status.success());
}
