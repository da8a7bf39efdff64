//! One server per database file, however the file is named: a second server
//! reaching the same file through a symbolic link or another spelling of its
//! path is refused.

use std::path::Path;

use crate::process;

async fn assert_in_use(db: &Path) {
    let (status, stderr) = process::start_failing(&process::sqlite(db), &[]).await;
    assert!(!status.success(), "a second server started on {db:?}");
    assert!(stderr.contains("in use by another chat-server"), "{stderr}");
}

#[tokio::test]
async fn a_second_server_on_the_same_file_under_another_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let first = process::start(&db).await;

    let file_link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&db, &file_link).unwrap();
    assert_in_use(&file_link).await;

    let dir_link = dir.path().join("linked-dir");
    std::os::unix::fs::symlink(dir.path(), &dir_link).unwrap();
    assert_in_use(&dir_link.join("chat.db")).await;

    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    assert_in_use(&sub.join("..").join(".").join("chat.db")).await;
    first.kill().await;
}
