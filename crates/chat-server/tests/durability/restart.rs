//! A graceful stop and start on the same file keeps everything.

use crate::process;

#[tokio::test]
async fn a_restarted_server_serves_the_same_messages_and_keeps_ids_increasing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let client = reqwest::Client::new();

    let server = process::start(&db).await;
    let mut sent = Vec::new();
    for n in 0..20 {
        sent.push(
            server
                .send(&client, "general", &format!("message {n}"))
                .await,
        );
    }
    assert!(
        server.terminate().await.success(),
        "SIGTERM is a clean exit"
    );

    let server = process::start(&db).await;
    assert_eq!(server.read_all(&client, "general").await, sent);
    let next = server.send(&client, "general", "after the restart").await;
    assert!(next.id > sent.last().unwrap().id);
    assert!(server.terminate().await.success());
}
