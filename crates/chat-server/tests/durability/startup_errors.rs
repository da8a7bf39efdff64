//! Each start-up problem gives a one-line reason and exit status 2.

use std::path::Path;

use crate::process;

async fn assert_refused(db: &Path, extra_args: &[&str], expected: &str) {
    let (status, stderr) = process::start_failing(&process::sqlite(db), extra_args).await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(expected),
        "stderr {stderr:?} should mention {expected:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn a_database_in_use_by_another_server_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let first = process::start(&db).await;
    assert_refused(&db, &[], "in use by another chat-server").await;
    first.kill().await;
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    std::fs::write(&db, "these are my notes, not a database\n".repeat(200)).unwrap();
    assert_refused(&db, &[], "is not a SQLite database").await;
    let unchanged = std::fs::read_to_string(&db).unwrap();
    assert!(
        unchanged.starts_with("these are my notes"),
        "the file was modified"
    );
}

#[tokio::test]
async fn a_database_from_a_newer_chat_server_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE future (x); PRAGMA user_version = 999;")
        .unwrap();
    assert_refused(&db, &[], "is newer than this chat-server supports").await;
}

#[tokio::test]
async fn a_location_that_cannot_hold_the_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_directory = dir.path().join("file.txt");
    std::fs::write(&not_a_directory, "x").unwrap();
    assert_refused(&not_a_directory.join("chat.db"), &[], "cannot open").await;
}

#[tokio::test]
async fn an_unknown_store_is_refused() {
    let (status, stderr) = process::start_failing("redis://localhost", &[]).await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown store `redis://localhost`"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_bad_flag_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let (status, stderr) =
        process::start_failing(&process::sqlite(&db), &["--retain-for", "5w"]).await;
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("--retain-for"), "{stderr}");
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_postgresql_server_that_cannot_be_reached_is_refused_in_one_line_with_status_2() {
    // Nothing listens on port 1: the connection is refused at once.
    let (status, stderr) = process::start_failing(
        "postgres://postgres@127.0.0.1:1/chat?connect_timeout=2",
        &[],
    )
    .await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with(
            "chat-server: cannot open store: cannot connect to PostgreSQL at 127.0.0.1"
        ),
        "{stderr}"
    );
}
