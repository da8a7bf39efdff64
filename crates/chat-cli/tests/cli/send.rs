//! `chat-cli send`.

use chat_core::Message;
use uuid::Uuid;

use crate::helpers::{chat_cli, run, spawn_server, unused_port};

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
    assert!(line.ends_with("(payload_too_large, HTTP 413)"), "{line}");
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
async fn send_to_an_unreachable_server_fails_at_once_with_one_line() {
    let url = format!("http://127.0.0.1:{}", unused_port());
    let mut command = chat_cli(&url);
    command.args(["send", "anyone there?"]);

    let finished = run(command, "").await;

    let line = finished.single_error_line(1);
    assert!(line.contains(&url), "{line}");
    assert!(finished.stdout.is_empty());
}
