//! Clients that send or read slowly cannot hold a request forever.

use std::time::{Duration, Instant};

use chat_core::store::StoreOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app_with, Backend, TestApp};

/// The head of a POST that announces 10,000 bytes of body.
const POST_HEAD: &str = "POST /messages HTTP/1.1\r\nHost: localhost\r\n\
     Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n";

async fn app_with_body_timeout(secs: u64) -> TestApp {
    spawn_app_with(Backend::Sqlite, StoreOptions::default(), |config| {
        config.body_timeout = secs;
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    TcpStream::connect(address).await.unwrap()
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server must answer and close the connection")
        .unwrap();
    String::from_utf8(answer).unwrap()
}

fn assert_request_timeout(answer: &str) {
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\":\"request_timeout\""), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_comes_is_answered_408_and_the_connection_closed() {
    let app = app_with_body_timeout(1).await;
    let mut stream = connect(&app).await;
    stream.write_all(POST_HEAD.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut stream).await;
    assert_request_timeout(&answer);
    assert!(app.read_now("/messages", "").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_gets_the_same_total_time_not_more() {
    let app = app_with_body_timeout(1).await;
    let mut stream = connect(&app).await;
    stream.write_all(POST_HEAD.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut read_half, mut write_half) = stream.into_split();
    let trickle = tokio::spawn(async move {
        // One byte every 100 ms: never idle for long, never complete.
        while write_half.write_all(b" ").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), read_half.read_to_end(&mut answer))
        .await
        .expect("a trickling client must be cut off")
        .unwrap();
    assert_request_timeout(&String::from_utf8(answer).unwrap());
    assert!(started.elapsed() < Duration::from_secs(5));
    trickle.abort();
}

/// True while the server's end of the connection from client port `client`
/// to server port `server` is open, from the kernel's table.
fn server_side_open(server: u16, client: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let (local, remote) = (format!(":{server:04X}"), format!(":{client:04X}"));
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() > 3 && fields[1].ends_with(&local) && fields[2].ends_with(&remote)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_answer_is_dropped_after_the_send_timeout() {
    let app = spawn_app_with(Backend::Sqlite, StoreOptions::default(), |config| {
        config.send_timeout = 2;
    })
    .await;
    // About 9 MB of answer: far more than the socket buffers hold.
    let body = "x".repeat(9_000);
    for _ in 0..10 {
        let posts = (0..100).map(|_| app.send("/messages", &body));
        futures_util::future::join_all(posts).await;
    }
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let address: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    socket.connect(&address.into()).unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut stream = TcpStream::from_std(socket.into()).unwrap();
    stream
        .write_all(b"GET /messages?limit=1000&timeout=0 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let client_port = stream.local_addr().unwrap().port();
    assert!(server_side_open(port, client_port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while server_side_open(port, client_port) {
        assert!(
            Instant::now() < deadline,
            "the connection of a client that does not read is still open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_poll_outlives_the_send_timeout() {
    let app = spawn_app_with(Backend::Sqlite, StoreOptions::default(), |config| {
        config.send_timeout = 1;
    })
    .await;
    let response = app.get("/messages?timeout=3").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "[]");
}
