//! A client that closes its connection frees its parked poll at once: no
//! timer, watch or socket is left waiting out the poll's timeout.

use std::sync::Arc;
use std::time::Duration;

use chat_core::store::{SqliteStore, StoreOptions};
use chat_server::{Application, Config};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::eventually;

const CLIENTS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_clients_free_their_parked_polls_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(dir.path().join("chat.db"), StoreOptions::default())
            .await
            .unwrap(),
    );
    let config = Config::new("127.0.0.1:0", "sqlite:unused");
    let app = Application::build_with_store(&config, Arc::clone(&store) as _).unwrap();
    let address = app.addr();
    let shutdown = app.shutdown();
    let server = tokio::spawn(app.run_until_stopped());

    let mut clients = Vec::new();
    for n in 0..CLIENTS {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let request =
            format!("GET /rooms/room-{n}/messages?timeout=60 HTTP/1.1\r\nHost: localhost\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        clients.push(stream);
    }
    eventually(Duration::from_secs(10), || store.watched_rooms() == CLIENTS)
        .await
        .expect("every poll parks");

    drop(clients);
    eventually(Duration::from_secs(1), || store.watched_rooms() == 0)
        .await
        .unwrap_or_else(|()| {
            panic!(
                "{} polls of closed clients still parked after a second",
                store.watched_rooms()
            )
        });
    shutdown.trigger();
    server.await.unwrap().unwrap();
}
