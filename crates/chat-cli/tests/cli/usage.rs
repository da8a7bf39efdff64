//! Usage errors: caught before any request, exit code 2.

use crate::helpers::{chat_cli, run, spawn_server};

#[tokio::test]
async fn usage_errors_exit_with_code_2_and_touch_nothing() {
    let server = spawn_server();
    let nil = uuid::Uuid::nil().to_string();
    for args in [
        &["--room", "no/slashes", "send", "hi"][..],
        &["--room", "", "tail"],
        &["send", ""],
        &["send"],
        &["send", "--author", &"a".repeat(65), "hi"],
        &["tail", "--after", "yesterday"],
        &["tail", "--after", &nil, "--cursor-file", "cursor"],
        &["tail", "-n", "-1"],
        &["tail", "--count", "0"],
        &["tail", "--poll-timeout", "0"],
        &["tail", "--poll-timeout", "61"],
        &["--token", "two words", "send", "hi"],
        &["--token", "", "tail"],
        &["shout", "hi"],
        &[],
    ] {
        let mut command = chat_cli(&server.url);
        command.args(args);
        let finished = run(command, "").await;
        assert_eq!(finished.status.code(), Some(2), "{args:?}: {finished:?}");
        assert!(!finished.stderr.is_empty(), "{args:?}");
    }
    assert!(server.messages("/messages").await.is_empty());
}

#[tokio::test]
async fn a_bad_room_name_is_explained() {
    let mut command = chat_cli("http://127.0.0.1:1");
    command.args(["--room", "no spaces", "tail"]);

    let finished = run(command, "").await;

    assert_eq!(finished.status.code(), Some(2));
    assert!(
        finished
            .stderr
            .contains("room name must be 1 to 64 characters"),
        "{finished:?}"
    );
}

#[tokio::test]
async fn help_hides_the_token_and_claims_no_default_author() {
    let mut command = chat_cli("http://127.0.0.1:1");
    command.env("CHAT_TOKEN", "s3cr3t").args(["send", "--help"]);

    let finished = run(command, "").await;

    assert!(finished.status.success(), "{finished:?}");
    let help = finished.stdout;
    assert!(help.contains("--token <TOKEN>"), "{help}");
    assert!(!help.contains("s3cr3t"), "{help}");
    assert!(help.contains("omit for no author"), "{help}");
    assert!(!help.contains("anonymous"), "{help}");
}
