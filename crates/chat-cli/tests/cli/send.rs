//! `chat-cli send`.

use chat_core::Message;
use uuid::Uuid;

use crate::helpers::{chat_cli, run, spawn_server, unused_port, Running, PATIENCE};
use crate::scripted::{message_json, Reply, ScriptedServer};

#[tokio::test]
async fn send_prints_the_id_of_the_message_it_stored() {
    let server = spawn_server();
    let mut command = chat_cli(&server.url);
    command.args(["send", "Hello World"]);

    let finished = run(command, "").await;

    assert!(finished.status.success(), "{finished:?}");
    let id: Uuid = finished.stdout.trim().parse().expect("a UUID");
    let stored = server.messages("/messages").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, id);
    assert_eq!(stored[0].body, "Hello World");
    assert_eq!(stored[0].author, None);
}

#[tokio::test]
async fn send_json_prints_the_whole_stored_message() {
    let server = spawn_server();
    let mut command = chat_cli(&server.url);
    command.args(["send", "--json", "--author", "alice", "two\nlines"]);

    let finished = run(command, "").await;

    assert!(finished.status.success(), "{finished:?}");
    let printed: Message = serde_json::from_str(finished.stdout.trim()).expect("JSON message");
    assert_eq!(printed.author.as_deref(), Some("alice"));
    assert_eq!(printed.body, "two\nlines");
    assert_eq!(server.messages("/messages").await, [printed]);
}

#[tokio::test]
async fn send_dash_posts_each_line_of_standard_input_in_order_and_skips_empty_lines() {
    let server = spawn_server();
    let mut command = chat_cli(&server.url);
    command.args(["send", "-"]);

    let finished = run(command, "one\n\ntwo\r\n   \nthree").await;

    assert!(finished.status.success(), "{finished:?}");
    let stored = server.messages("/messages").await;
    let bodies: Vec<&str> = stored.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["one", "two", "   ", "three"]);
    let stored_ids: Vec<String> = stored.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(finished.lines(), stored_ids);
}

#[tokio::test]
async fn send_dash_posts_the_rest_of_its_input_when_nobody_reads_its_output() {
    use tokio::io::AsyncWriteExt;

    let server = spawn_server();
    let mut command = chat_cli(&server.url);
    command
        .args(["send", "-"])
        .stdin(std::process::Stdio::piped());
    let mut send = Running::spawn(command);
    let mut input = send.take_stdin();
    input.write_all(b"p1\n").await.unwrap();
    send.next_line().await;

    // `... | chat-cli send - | head -1`: head has its line and is gone.
    let (mut child, _stderr) = send.close_stdout();
    input.write_all(b"p2\np3\n").await.unwrap();
    drop(input);
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("send exits once its input ends")
        .expect("send ran");
    assert!(status.success(), "{status:?}");
    let stored = server.messages("/messages").await;
    let bodies: Vec<&str> = stored.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["p1", "p2", "p3"]);
}

#[tokio::test]
async fn send_takes_the_author_from_the_flag_before_chat_author() {
    let server = spawn_server();
    for (flag, env, expected) in [
        (None, None, None),
        (None, Some("carol"), Some("carol")),
        (Some("dave"), Some("carol"), Some("dave")),
    ] {
        let mut command = chat_cli(&server.url);
        command.arg("send");
        if let Some(author) = flag {
            command.args(["--author", author]);
        }
        if let Some(author) = env {
            command.env("CHAT_AUTHOR", author);
        }
        command.arg("hi");
        let finished = run(command, "").await;
        assert!(finished.status.success(), "{finished:?}");
        let stored = server.messages("/messages").await;
        let last = stored.last().expect("a message");
        assert_eq!(last.author.as_deref(), expected, "{flag:?} {env:?}");
    }
}

#[tokio::test]
async fn send_with_a_room_posts_into_that_room_only() {
    let server = spawn_server();
    let mut command = chat_cli(&server.url);
    command.args(["--room", "ops", "send", "deploy done"]);

    let finished = run(command, "").await;

    assert!(finished.status.success(), "{finished:?}");
    let ops = server.messages("/rooms/ops/messages").await;
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].room.as_str(), "ops");
    assert!(server.messages("/messages").await.is_empty());
}

#[tokio::test]
async fn a_body_over_the_servers_limit_fails_with_the_servers_message_and_exit_code_1() {
    let server = spawn_server();
    let mut command = chat_cli(&server.url);
    command.args(["send", &"x".repeat(10_001)]);

    let finished = run(command, "").await;

    let line = finished.single_error_line(1);
    assert_eq!(
        line,
        "chat-cli: message too long: the server accepts request bodies of at most 10000 bytes, \
         the JSON around the message included (payload_too_large, HTTP 413)"
    );
    assert!(finished.stdout.is_empty());
    assert!(server.messages("/messages").await.is_empty());
}

#[tokio::test]
async fn a_rejected_line_stops_send_dash_after_the_lines_before_it_were_posted() {
    let server = spawn_server();
    let mut command = chat_cli(&server.url);
    command.args(["send", "-"]);
    let input = format!("first\n{}\nnever\n", "y".repeat(10_001));

    let finished = run(command, &input).await;

    finished.single_error_line(1);
    let stored = server.messages("/messages").await;
    let bodies: Vec<&str> = stored.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["first"]);
    assert_eq!(finished.lines(), [stored[0].id.to_string()]);
}

#[tokio::test]
async fn send_to_an_unreachable_server_gives_up_after_a_few_attempts_with_one_line() {
    let url = format!("http://127.0.0.1:{}", unused_port());
    let mut command = chat_cli(&url);
    command.args(["send", "anyone there?"]);

    let finished = run(command, "").await;

    let line = finished.single_error_line(1);
    assert!(line.contains(&url), "{line}");
    assert!(line.ends_with("(gave up after 6 attempts)"), "{line}");
    assert!(finished.stdout.is_empty());
}

/// The `Idempotency-Key` of every request `server` received.
fn keys(server: &ScriptedServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|request| {
            assert_eq!(request.method, "POST");
            let key = request.header("Idempotency-Key").expect("a key");
            assert!(
                (1..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()),
                "not a valid key: {key:?}"
            );
            key.to_owned()
        })
        .collect()
}

#[tokio::test]
async fn send_retries_a_lost_answer_with_the_same_idempotency_key() {
    let stored = message_json(1, "once");
    let server = ScriptedServer::start(vec![
        Reply::Drop,
        Reply::error("503 Service Unavailable", "store_unavailable", "later"),
        Reply::Answer {
            status: "200 OK",
            headers: vec![("Idempotent-Replayed", "true")],
            body: stored.to_string(),
        },
    ])
    .await;
    let mut command = chat_cli(&server.url);
    command.args(["send", "once"]);

    let finished = run(command, "").await;

    assert!(finished.status.success(), "{finished:?}");
    assert!(finished.stderr.is_empty(), "{finished:?}");
    assert_eq!(finished.stdout, format!("{}\n", Uuid::from_u128(1)));
    let keys = keys(&server);
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|key| *key == keys[0]), "{keys:?}");
    let bodies: Vec<Vec<u8>> = server.requests().into_iter().map(|r| r.body).collect();
    assert!(bodies.iter().all(|body| *body == bodies[0]));
}

#[tokio::test]
async fn send_dash_sends_a_fresh_idempotency_key_with_each_message() {
    let server = ScriptedServer::start(vec![
        Reply::json("201 Created", message_json(1, "one").to_string()),
        Reply::json("201 Created", message_json(2, "two").to_string()),
    ])
    .await;
    let mut command = chat_cli(&server.url);
    command.args(["send", "-"]);

    let finished = run(command, "one\ntwo\n").await;

    assert!(finished.status.success(), "{finished:?}");
    assert_eq!(finished.lines().len(), 2);
    let keys = keys(&server);
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1]);
}

#[tokio::test]
async fn a_replayed_answer_counts_as_sent_and_prints_the_stored_message() {
    let stored = message_json(5, "earlier");
    let server = ScriptedServer::start(vec![Reply::Answer {
        status: "200 OK",
        headers: vec![("Idempotent-Replayed", "true")],
        body: stored.to_string(),
    }])
    .await;
    let mut command = chat_cli(&server.url);
    command.args(["send", "--json", "earlier"]);

    let finished = run(command, "").await;

    assert!(finished.status.success(), "{finished:?}");
    let printed: serde_json::Value = serde_json::from_str(finished.stdout.trim()).expect("JSON");
    assert_eq!(printed, stored);
    assert_eq!(keys(&server).len(), 1);
}

#[tokio::test]
async fn a_reused_idempotency_key_is_a_one_line_error_and_not_retried() {
    let server = ScriptedServer::start(vec![
        Reply::error(
            "422 Unprocessable Entity",
            "idempotency_key_reused",
            "this key was used for another message",
        ),
        Reply::json("201 Created", message_json(1, "no").to_string()),
    ])
    .await;
    let mut command = chat_cli(&server.url);
    command.args(["send", "no"]);

    let finished = run(command, "").await;

    let line = finished.single_error_line(1);
    assert!(
        line.ends_with("(idempotency_key_reused, HTTP 422)"),
        "{line}"
    );
    assert!(finished.stdout.is_empty());
    assert_eq!(keys(&server).len(), 1, "retried");
}
