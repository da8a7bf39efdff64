//! `token new`, and a file the server refuses at start.

use crate::process;

#[tokio::test]
async fn token_new_prints_the_token_alone_then_its_entry() {
    let output = process::run(&["token", "new", "carol", "--write", "team-*"]).await;
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let (token, entry) = stdout.split_once('\n').unwrap();
    assert!(
        token.len() >= 32 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "{token}"
    );
    assert!(
        entry.starts_with("[[token]]\nname = \"carol\"\n"),
        "{entry}"
    );
    assert!(
        entry.contains("read = [\"*\"]\nwrite = [\"team-*\"]\n"),
        "{entry}"
    );
    assert!(!entry.contains(token), "the entry must hold only the hash");

    let bad = process::run(&["token", "new", "carol", "--read", "a.b"]).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty());
}

/// Starts a server with the access-control file at `path`, which it must
/// refuse: exit status 2 and one line on stderr, which is returned.
async fn refused_at_start(path: &std::path::Path) -> String {
    let output = process::run(&[
        "--addr",
        "127.0.0.1:0",
        "--store",
        "memory",
        "--auth-file",
        path.to_str().unwrap(),
    ])
    .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}

#[tokio::test]
async fn an_invalid_file_at_start_is_one_line_and_exit_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.toml");
    std::fs::write(&path, "[anonymous]\nread = [\"*\"]\nwirte = []\n").unwrap();
    let stderr = refused_at_start(&path).await;
    assert!(stderr.contains("unknown field `wirte`"), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
}

#[tokio::test]
async fn a_missing_file_at_start_says_why_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    let stderr = refused_at_start(&path).await;
    assert!(stderr.contains("missing.toml"), "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}
