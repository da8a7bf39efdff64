//! `--token` / `CHAT_TOKEN`: sent with every request, and a refusal of
//! access explained in one line, never retried.

use uuid::Uuid;

use crate::helpers::{chat_cli, run};
use crate::scripted::{message_event, message_json, Reply, ScriptedServer};

/// `tail` arguments that make one request and print one message.
const TAIL_ONE: [&str; 5] = ["tail", "--json", "--count", "1", "--after"];

#[tokio::test]
async fn the_token_goes_with_every_send_and_tail_request_as_a_bearer_header() {
    let page = serde_json::json!([message_json(3, "polled")]).to_string();
    let server = ScriptedServer::start(vec![
        Reply::json("201 Created", message_json(1, "hi").to_string()),
        Reply::Events(message_event(&message_json(2, "streamed"))),
        Reply::json("200 OK", page),
        Reply::json("201 Created", message_json(4, "anonymous").to_string()),
    ])
    .await;
    let mut send = chat_cli(&server.url);
    send.args(["--token", "t0k3n", "send", "hi"]);
    let mut stream = chat_cli(&server.url);
    stream.env("CHAT_TOKEN", "fr0m-env").args(TAIL_ONE);
    stream.arg(Uuid::nil().to_string());
    let mut long_poll = chat_cli(&server.url);
    long_poll.args(["--token", "p0ll"]).args(TAIL_ONE);
    long_poll.arg(Uuid::nil().to_string()).arg("--long-poll");
    let mut anonymous = chat_cli(&server.url);
    anonymous.args(["send", "anonymous"]);

    for command in [send, stream, long_poll, anonymous] {
        let finished = run(command, "").await;
        assert!(finished.status.success(), "{finished:?}");
    }

    let requests = server.requests();
    let authorization: Vec<Option<&str>> = requests
        .iter()
        .map(|request| request.header("Authorization"))
        .collect();
    assert_eq!(
        authorization,
        [
            Some("Bearer t0k3n"),
            Some("Bearer fr0m-env"),
            Some("Bearer p0ll"),
            None
        ]
    );
    assert_eq!(requests[1].method, "GET");
    assert!(requests[1].target.starts_with("/events?"), "{requests:?}");
    assert_eq!(requests[2].method, "GET");
    assert!(requests[2].target.starts_with("/messages?"), "{requests:?}");
}

/// Runs `args` with `token` against a server that answers `reply` once;
/// returns the error line, after checking that nothing was printed and the
/// request was made once.
async fn refused(args: &[&str], token: Option<&str>, reply: Reply) -> String {
    let server = ScriptedServer::start(vec![
        reply,
        Reply::json("201 Created", message_json(1, "retried").to_string()),
    ])
    .await;
    let mut command = chat_cli(&server.url);
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    command.args(args);

    let finished = run(command, "").await;

    let line = finished.single_error_line(1).to_owned();
    assert!(finished.stdout.is_empty(), "{finished:?}");
    assert_eq!(server.requests().len(), 1, "retried: {line}");
    line
}

fn unauthorized() -> Reply {
    Reply::Answer {
        status: "401 Unauthorized",
        headers: vec![("WWW-Authenticate", "Bearer")],
        body: r#"{"error":"unauthorized","message":"a valid token is needed"}"#.to_owned(),
    }
}

fn forbidden() -> Reply {
    Reply::error(
        "403 Forbidden",
        "forbidden",
        "this token may not do that here",
    )
}

#[tokio::test]
async fn a_401_says_whether_the_token_is_missing_or_unknown_and_is_not_retried() {
    let nil = Uuid::nil().to_string();
    let tail: Vec<&str> = TAIL_ONE.iter().copied().chain([nil.as_str()]).collect();

    let missing = refused(&["send", "hi"], None, unauthorized()).await;
    let unknown = refused(&tail, Some("typo"), unauthorized()).await;

    assert_eq!(
        missing,
        "chat-cli: the server needs a token here: pass --token or set CHAT_TOKEN \
         (unauthorized, HTTP 401)"
    );
    assert_eq!(
        unknown,
        "chat-cli: the server does not know this token (check --token or CHAT_TOKEN) \
         (unauthorized, HTTP 401)"
    );
}

#[tokio::test]
async fn a_403_says_what_is_not_allowed_in_which_room_and_is_not_retried() {
    let nil = Uuid::nil().to_string();
    let tail: Vec<&str> = ["--room", "ops"]
        .into_iter()
        .chain(TAIL_ONE)
        .chain([nil.as_str()])
        .collect();

    let post = refused(&["send", "hi"], Some("reader"), forbidden()).await;
    let read = refused(&tail, None, forbidden()).await;

    assert_eq!(
        post,
        "chat-cli: not allowed to post in room \"general\" with this token: this token may not \
         do that here (forbidden, HTTP 403)"
    );
    assert_eq!(
        read,
        "chat-cli: not allowed to read room \"ops\" without a token: this token may not do that \
         here (forbidden, HTTP 403)"
    );
}
