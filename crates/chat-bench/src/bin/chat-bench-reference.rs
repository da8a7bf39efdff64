//! `chat-bench-reference`: a bare actix-web app, the floor that memory per
//! parked poller is judged against.
//!
//! actix-web keeps two 8 KiB buffers and a header map per connection,
//! whatever the handler does, so no actix-web server can hold a parked poll
//! for less. This app has nothing else: `GET /healthz` (the sentinel the
//! bench pipelines before a poll) answers at once, and every other request
//! is parked until its `timeout` query parameter (seconds, default 60) runs
//! out, then answered `[]`, as a poll that saw no message. The bench's
//! `idle` scenario measures it exactly as it measures chat-server.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use clap::Parser;

/// How long a poll waits when it names no timeout: the contract's longest.
const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// A bare actix-web app that parks every GET until its timeout.
#[derive(Debug, Parser)]
#[command(name = "chat-bench-reference", version)]
struct Cli {
    /// Where to listen (port 0: a free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let server = HttpServer::new(|| {
        App::new()
            .route("/healthz", web::get().to(HttpResponse::Ok))
            .default_service(web::to(park))
    })
    // Its pollers are gone when it is stopped: nothing to wait for.
    .shutdown_timeout(1)
    .bind(cli.addr)?;
    for addr in server.addrs() {
        println!("chat-bench-reference listening on http://{addr}");
    }
    server.run().await
}

/// Waits out the request's `timeout`, then answers as an empty poll.
async fn park(request: HttpRequest) -> HttpResponse {
    tokio::time::sleep(Duration::from_secs(timeout_secs(request.query_string()))).await;
    HttpResponse::Ok()
        .content_type("application/json")
        .body("[]")
}

/// The `timeout` parameter of a query string, or the default.
fn timeout_secs(query: &str) -> u64 {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("timeout="))
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_TIMEOUT_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_comes_from_the_query_or_the_default() {
        assert_eq!(timeout_secs("after=x&limit=100&timeout=7"), 7);
        assert_eq!(timeout_secs("limit=1&timeout=0"), 0);
        assert_eq!(timeout_secs("timeout=x"), DEFAULT_TIMEOUT_SECS);
        assert_eq!(timeout_secs(""), DEFAULT_TIMEOUT_SECS);
    }
}
