//! `chat-cli tail`: every test of following the room runs on both
//! transports, the event stream (the default) and `--long-poll`.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use chat_core::store::{Retention, StoreOptions};
use chat_core::{ManualClock, Message, NewMessage, RoomName};
use chrono::{TimeDelta, Utc};
use tokio::process::Command;
use uuid::Uuid;

use crate::helpers::{
    chat_cli, memory_store, read_all, run, spawn_configured_server, spawn_server,
    spawn_server_with, wait_for_file, Running, PATIENCE,
};
use crate::scripted::{message_json, Reply, ScriptedServer};

fn ids(messages: &[Message]) -> Vec<Uuid> {
    messages.iter().map(|message| message.id).collect()
}

/// How `tail` follows the room.
#[derive(Debug, Clone, Copy)]
enum Transport {
    /// The event stream, the default.
    Stream,
    /// `--long-poll`.
    LongPoll,
}

/// `chat-cli --server <server> tail`, following with `transport`.
fn tail_cli(server: &str, transport: Transport) -> Command {
    let mut command = chat_cli(server);
    command.arg("tail");
    if let Transport::LongPoll = transport {
        command.arg("--long-poll");
    }
    command
}

/// For each `test(transport)` named, a module of that name holding the
/// test on each transport: `test::stream` and `test::long_poll`.
macro_rules! on_both_transports {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test]
                async fn stream() {
                    super::$test(super::Transport::Stream).await;
                }

                #[tokio::test]
                async fn long_poll() {
                    super::$test(super::Transport::LongPoll).await;
                }
            }
        )*
    };
}

on_both_transports!(
    tail_prints_recent_history_then_follows_new_messages_one_line_each,
    tail_n_0_prints_only_messages_posted_after_it_started,
    tail_in_an_empty_room_prints_the_first_message_posted,
    tail_after_replays_every_message_after_the_cursor,
    tail_json_prints_each_message_as_one_json_object_per_line,
    tail_cursor_file_resumes_exactly_where_the_previous_run_stopped,
    tail_resumes_from_a_cursor_file_that_holds_only_an_id,
    tail_survives_a_server_restart_and_prints_every_message_exactly_once,
    tail_warns_when_retention_deleted_messages_it_had_not_read,
    tail_does_not_warn_about_a_room_that_retention_emptied_before_it_started,
    tail_ends_with_the_servers_message_on_a_client_error,
    tail_exits_quietly_when_its_reader_goes_away,
    tail_exits_when_its_reader_goes_away_in_a_quiet_room,
);

async fn tail_prints_recent_history_then_follows_new_messages_one_line_each(transport: Transport) {
    let server = spawn_server();
    for body in ["too old", "second\nline", "third"] {
        server.post_general(body).await;
    }
    let mut command = tail_cli(&server.url, transport);
    command.args(["-n", "2", "--count", "3"]);
    let mut tail = Running::spawn(command);

    let first = tail.next_line().await;
    let second = tail.next_line().await;
    server.post("/messages", "fresh", Some("alice")).await;
    let third = tail.next_line().await;

    assert!(first.ends_with(r" (no author): second\nline"), "{first}");
    assert!(second.ends_with(" (no author): third"), "{second}");
    assert!(third.ends_with(" alice: fresh"), "{third}");
    let time = first.split(' ').next().unwrap_or_default();
    assert!(
        chrono::NaiveTime::parse_from_str(time, "%H:%M:%S").is_ok(),
        "{first}"
    );
    let finished = tail.finish().await;
    assert!(finished.status.success(), "{finished:?}");
    assert!(finished.stdout.is_empty() && finished.stderr.is_empty());
}

async fn tail_n_0_prints_only_messages_posted_after_it_started(transport: Transport) {
    let server = spawn_server();
    server.post_general("before").await;
    let directory = tempfile::tempdir().expect("temporary directory");
    let cursor = directory.path().join("cursor");
    let mut command = tail_cli(&server.url, transport);
    command.args(["-n", "0", "--count", "1", "--json", "--cursor-file"]);
    command.arg(&cursor);
    let mut tail = Running::spawn(command);

    // The cursor file is written once tail knows where it starts.
    wait_for_file(&cursor).await;
    let after = server.post_general("after").await;

    assert_eq!(tail.next_messages(1).await, [after]);
    assert!(tail.finish().await.status.success());
}

#[tokio::test]
async fn tail_poll_timeout_fits_a_server_with_a_lower_maximum_wait() {
    let mut config = chat_server::Config::new("127.0.0.1:0", "memory");
    config.default_poll_timeout = 5;
    config.max_poll_timeout = 5;
    let server = spawn_configured_server(config, memory_store(StoreOptions::default()));
    let follow = |transport, extra: &[&str]| {
        let mut command = tail_cli(&server.url, transport);
        command.args(["--count", "1", "--json", "--after"]);
        command.arg(Uuid::nil().to_string()).args(extra);
        command
    };

    // The default 30-second poll is more than this server allows.
    let refused = Running::spawn(follow(Transport::LongPoll, &[]))
        .finish()
        .await;
    let line = refused.single_error_line(1);
    assert!(line.ends_with("(invalid_parameter, HTTP 400)"), "{line}");

    // The stream does not poll, and --poll-timeout does not concern it.
    for (transport, extra) in [
        (Transport::LongPoll, &["--poll-timeout", "5"][..]),
        (Transport::Stream, &[]),
        (Transport::Stream, &["--poll-timeout", "60"]),
    ] {
        let mut tail = Running::spawn(follow(transport, extra));
        // After the nil UUID, each run prints the room's first message,
        // whether it connected before this post or after.
        let message = server.post_general("fits").await;
        let printed = tail.next_messages(1).await;
        assert_eq!(printed[0].body, message.body, "{transport:?} {extra:?}");
        assert!(tail.finish().await.status.success());
    }
}

async fn tail_in_an_empty_room_prints_the_first_message_posted(transport: Transport) {
    let server = spawn_server();
    let mut command = tail_cli(&server.url, transport);
    command.args(["--room", "quiet", "--count", "1", "--json"]);
    let mut tail = Running::spawn(command);

    let first = server.post("/rooms/quiet/messages", "anyone?", None).await;

    assert_eq!(tail.next_messages(1).await, [first]);
    assert!(tail.finish().await.status.success());
}

async fn tail_after_replays_every_message_after_the_cursor(transport: Transport) {
    let server = spawn_server();
    let mut posted = Vec::new();
    for body in ["one", "two", "three", "four"] {
        posted.push(server.post_general(body).await);
    }
    let mut command = tail_cli(&server.url, transport);
    command.args(["--json", "--count", "2", "--after"]);
    command.arg(posted[1].id.to_string());

    let mut tail = Running::spawn(command);

    assert_eq!(tail.next_messages(2).await, posted[2..]);
    assert!(tail.finish().await.status.success());
}

async fn tail_json_prints_each_message_as_one_json_object_per_line(transport: Transport) {
    let server = spawn_server();
    let first = server
        .post("/messages", "multi\nline \"quoted\"", None)
        .await;
    let second = server.post("/messages", "plain", Some("bob")).await;
    let mut command = tail_cli(&server.url, transport);
    command.args(["--json", "--count", "2"]);

    let finished = Running::spawn(command).finish().await;

    assert!(finished.status.success(), "{finished:?}");
    let lines = finished.lines();
    assert_eq!(lines.len(), 2, "{finished:?}");
    let parsed: Vec<Message> = lines
        .iter()
        .map(|line| serde_json::from_str(line).expect("one JSON message per line"))
        .collect();
    assert_eq!(parsed, [first, second]);
}

async fn tail_cursor_file_resumes_exactly_where_the_previous_run_stopped(transport: Transport) {
    let server = spawn_server();
    for body in ["m1", "m2", "m3"] {
        server.post_general(body).await;
    }
    let directory = tempfile::tempdir().expect("temporary directory");
    let cursor = directory.path().join("cursor");
    let tail = |count: &str| {
        let mut command = tail_cli(&server.url, transport);
        command.args(["--json", "--count", count, "--cursor-file"]);
        command.arg(&cursor);
        Running::spawn(command)
    };

    let mut first_run = tail("1");
    let first = first_run.next_messages(1).await;
    assert!(first_run.finish().await.status.success());
    server.post_general("m4").await;
    let mut second_run = tail("3");
    let second = second_run.next_messages(3).await;
    assert!(second_run.finish().await.status.success());

    let everything = server.messages("/messages").await;
    let printed: Vec<Message> = first.into_iter().chain(second).collect();
    assert_eq!(printed, everything);
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cursor).expect("cursor file"))
            .expect("a JSON cursor file");
    let expected = serde_json::json!({
        "server": format!("{}/", server.url),
        "room": "general",
        "after": everything[3].id,
    });
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn tail_refuses_a_cursor_file_written_for_another_room_or_server() {
    let server = spawn_server();
    let other_server = spawn_server();
    let posted = server.post("/rooms/ops/messages", "ops news", None).await;
    server.post_general("general news").await;
    other_server.post_general("elsewhere").await;
    let directory = tempfile::tempdir().expect("temporary directory");
    let cursor = directory.path().join("cursor");
    let mut command = chat_cli(&server.url);
    command.args([
        "--room",
        "ops",
        "tail",
        "--json",
        "--count",
        "1",
        "--cursor-file",
    ]);
    command.arg(&cursor);
    let mut first_run = Running::spawn(command);
    assert_eq!(first_run.next_messages(1).await, [posted]);
    // The cursor is saved once the message is printed, so wait for the exit.
    assert!(first_run.finish().await.status.success());
    let written = std::fs::read(&cursor).expect("cursor file");

    for (url, room) in [(&server.url, "general"), (&other_server.url, "ops")] {
        let mut command = chat_cli(url);
        command.args(["--room", room, "tail", "--count", "1", "--cursor-file"]);
        command.arg(&cursor);
        let finished = run(command, "").await;
        let line = finished.single_error_line(1);
        assert!(
            line.contains(&format!(
                "is for room ops on {}/, not room {room}",
                server.url
            )),
            "{line}"
        );
        assert!(finished.stdout.is_empty(), "{finished:?}");
        assert_eq!(std::fs::read(&cursor).expect("cursor file"), written);
    }
}

async fn tail_resumes_from_a_cursor_file_that_holds_only_an_id(transport: Transport) {
    let server = spawn_server();
    let mut posted = Vec::new();
    for body in ["one", "two", "three"] {
        posted.push(server.post_general(body).await);
    }
    let directory = tempfile::tempdir().expect("temporary directory");
    let cursor = directory.path().join("cursor");
    std::fs::write(&cursor, format!("{}\n", posted[0].id)).expect("old cursor file");
    let mut command = tail_cli(&server.url, transport);
    command.args(["--json", "--count", "2", "--cursor-file"]);
    command.arg(&cursor);

    let mut tail = Running::spawn(command);

    assert_eq!(tail.next_messages(2).await, posted[1..]);
    assert!(tail.finish().await.status.success());
    let stored = std::fs::read_to_string(&cursor).expect("cursor file");
    assert!(stored.contains(&posted[2].id.to_string()), "{stored}");
    assert!(stored.contains(r#""room":"general""#), "{stored}");
}

#[tokio::test]
async fn tail_escapes_characters_that_would_disguise_a_line_but_json_keeps_them() {
    let server = spawn_server();
    let body = "pay \u{202E}1337\u{202C} now\u{200B}!";
    let posted = server.post("/messages", body, Some("bo\u{2066}b")).await;
    let text = |json: bool| {
        let mut command = chat_cli(&server.url);
        command.args(["tail", "--count", "1"]);
        if json {
            command.arg("--json");
        }
        run(command, "")
    };

    let human = text(false).await;
    let json = text(true).await;

    assert!(human.status.success(), "{human:?}");
    assert!(
        human
            .stdout
            .trim_end()
            .ends_with(r" bo\u{2066}b: pay \u{202e}1337\u{202c} now\u{200b}!"),
        "{human:?}"
    );
    assert!(human.stdout.is_ascii(), "{human:?}");
    let parsed: Message = serde_json::from_str(json.stdout.trim()).expect("JSON");
    assert_eq!(parsed, posted);
}

async fn tail_survives_a_server_restart_and_prints_every_message_exactly_once(
    transport: Transport,
) {
    let store = memory_store(StoreOptions::default());
    let general = RoomName::general();
    let server_a = spawn_server_with("127.0.0.1:0", Arc::clone(&store));
    let port = server_a.port;
    let mut command = tail_cli(&server_a.url, transport);
    command.args(["--json", "--count", "6"]);
    let mut tail = Running::spawn(command);

    server_a.post_general("a1").await;
    server_a.post_general("a2").await;
    let mut printed = tail.next_messages(2).await;
    server_a.stop().await;
    for body in ["while down 1", "while down 2"] {
        let message = NewMessage::new(body.into(), None).expect("valid message");
        store.append(&general, message).await.expect("stored");
    }
    let server_b = spawn_server_with(&format!("127.0.0.1:{port}"), Arc::clone(&store));
    server_b.post_general("b1").await;
    server_b.post_general("b2").await;
    printed.extend(tail.next_messages(4).await);

    let finished = tail.finish().await;
    assert!(finished.status.success(), "{finished:?}");
    assert!(finished.stdout.is_empty(), "{finished:?}");
    let everything = server_b.messages("/messages").await;
    assert_eq!(everything.len(), 6);
    assert_eq!(ids(&printed), ids(&everything));
}

async fn tail_warns_when_retention_deleted_messages_it_had_not_read(transport: Transport) {
    let store = memory_store(StoreOptions {
        retention: Retention {
            per_room: NonZeroUsize::new(2),
            max_age: None,
        },
        ..StoreOptions::default()
    });
    let server = spawn_server_with("127.0.0.1:0", Arc::clone(&store));
    let mut posted = Vec::new();
    for body in ["m1", "m2", "m3", "m4"] {
        posted.push(server.post_general(body).await);
    }
    assert_eq!(store.prune().await.expect("pruned"), 2);
    let mut command = tail_cli(&server.url, transport);
    command.args(["--json", "--count", "2", "--after"]);
    command.arg(posted[0].id.to_string());

    let finished = Running::spawn(command).finish().await;

    assert!(finished.status.success(), "{finished:?}");
    assert_eq!(finished.lines().len(), 2);
    assert!(
        finished
            .stderr
            .starts_with("chat-cli: warning: messages were deleted"),
        "{finished:?}"
    );
}

async fn tail_does_not_warn_about_a_room_that_retention_emptied_before_it_started(
    transport: Transport,
) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let store = memory_store(StoreOptions {
        retention: Retention {
            per_room: None,
            max_age: Some(Duration::from_secs(60)),
        },
        clock: clock.clone(),
    });
    let server = spawn_server_with("127.0.0.1:0", Arc::clone(&store));
    server.post_general("expired").await;
    clock.advance(TimeDelta::minutes(5));
    assert_eq!(store.prune().await.expect("pruned"), 1);
    let directory = tempfile::tempdir().expect("temporary directory");
    let cursor = directory.path().join("cursor");
    let mut command = tail_cli(&server.url, transport);
    command.args(["--json", "--count", "1", "--cursor-file"]);
    command.arg(&cursor);
    let mut tail = Running::spawn(command);

    wait_for_file(&cursor).await;
    let fresh = server.post_general("fresh").await;

    assert_eq!(tail.next_messages(1).await, [fresh]);
    let finished = tail.finish().await;
    assert!(finished.status.success(), "{finished:?}");
    assert!(finished.stderr.is_empty(), "{finished:?}");
}

async fn tail_ends_with_the_servers_message_on_a_client_error(transport: Transport) {
    let server = spawn_server();
    let mut command = tail_cli(&format!("{}/no/such/prefix", server.url), transport);
    // Straight to following, past the first read of the newest messages:
    // the refusal is the transport's own.
    command.arg("--after").arg(Uuid::nil().to_string());

    let finished = Running::spawn(command).finish().await;

    let line = finished.single_error_line(1);
    assert!(line.ends_with("(not_found, HTTP 404)"), "{line}");
}

#[tokio::test]
async fn tail_long_poll_retries_a_server_error_like_a_network_error() {
    let message = message_json(7, "made it");
    let server = ScriptedServer::start(vec![
        Reply::error(
            "503 Service Unavailable",
            "store_unavailable",
            "try again later",
        ),
        Reply::json("200 OK", serde_json::json!([message]).to_string()),
    ])
    .await;
    let mut command = tail_cli(&server.url, Transport::LongPoll);
    command.args(["--json", "--count", "1", "--after"]);
    command.arg(Uuid::nil().to_string());

    let finished = Running::spawn(command).finish().await;

    assert!(finished.status.success(), "{finished:?}");
    let printed: serde_json::Value = serde_json::from_str(finished.stdout.trim()).expect("JSON");
    assert_eq!(printed, message);
    assert!(
        finished
            .stderr
            .contains("warning: try again later (store_unavailable, HTTP 503)"),
        "{finished:?}"
    );
}

async fn tail_exits_quietly_when_its_reader_goes_away(transport: Transport) {
    let server = spawn_server();
    server.post_general("read").await;
    let command = tail_cli(&server.url, transport);
    let mut tail = Running::spawn(command);
    tail.next_line().await;

    let (mut child, mut stderr) = tail.close_stdout();
    // A process that another test spawns at this moment can hold a copy of
    // the pipe for an instant and let one write through, so keep posting
    // until tail's write fails.
    let status = tokio::time::timeout(PATIENCE, async {
        loop {
            server.post_general("nobody reads this").await;
            tokio::select! {
                status = child.wait() => return status.expect("tail ran"),
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    })
    .await
    .expect("tail exits once its output is closed");
    assert!(status.success(), "{status:?}");
    assert_eq!(read_all(&mut stderr).await, "");
}

/// `chat-cli tail | head -3` ends once `head` has its lines, even when no
/// message comes after them to fail a write.
async fn tail_exits_when_its_reader_goes_away_in_a_quiet_room(transport: Transport) {
    let server = spawn_server();
    server.post_general("read").await;
    let mut tail = Running::spawn(tail_cli(&server.url, transport));
    tail.next_line().await;

    let (mut child, mut stderr) = tail.close_stdout();
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("tail exits once its output is closed, with nothing more to print")
        .expect("tail ran");
    assert!(status.success(), "{status:?}");
    assert_eq!(read_all(&mut stderr).await, "");
}
