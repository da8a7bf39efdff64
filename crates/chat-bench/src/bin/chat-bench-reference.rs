//! `chat-bench-reference`: a bare actix-web app, the floor that chat-server's
//! memory per parked poller and delivery latency are judged against.
//!
//! actix-web keeps two 8 KiB buffers and a header map per connection,
//! whatever the handler does, so no actix-web server can hold a parked poll
//! for less; and a message crosses its workers the way it crosses
//! chat-server's, so none can deliver one sooner. This app has nothing else:
//! one list of messages in memory, whatever the room, and the least of the
//! contract that chat-bench's `latency`, `fanout` and `idle` scenarios use:
//!
//! - `GET /healthz` (the sentinel the bench pipelines before a poll) answers
//!   at once;
//! - `POST /rooms/{room}/messages` stores the body as it came and answers
//!   `201` with `{"id": ..., "body": ...}`, waking every parked poll;
//! - `GET /rooms/{room}/messages?after=ID&timeout=S` answers the messages
//!   after `ID` (a JSON array), parking until one is posted or `timeout`
//!   (seconds, default 60) runs out, then `[]`; without `after`, the newest
//!   `limit` at once.
//!
//! No validation, access control, limits, metrics, logs or durable store:
//! what chat-server spends on those is what separates it from this floor.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use clap::Parser;
use tokio::sync::watch;
use uuid::Uuid;

/// How long a poll waits when it names no timeout: the contract's longest.
const DEFAULT_TIMEOUT_SECS: u64 = 60;
/// How many messages a read answers when it names no limit.
const DEFAULT_LIMIT: usize = 100;

/// A bare actix-web app that stores messages and parks polls for them.
#[derive(Debug, Parser)]
#[command(name = "chat-bench-reference", version)]
struct Cli {
    /// Where to listen (port 0: a free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// HTTP worker threads (default: actix-web's, one per core), to see what
    /// a message crossing from one worker to another costs.
    #[arg(long)]
    workers: Option<std::num::NonZeroUsize>,
}

/// Every message posted, oldest first, and the count of them, which parked
/// polls watch.
struct Messages {
    /// Each message's id and its JSON.
    list: Mutex<Vec<(Uuid, Bytes)>>,
    /// How many messages `list` holds.
    posted: watch::Sender<usize>,
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let messages = web::Data::new(Messages {
        list: Mutex::new(Vec::new()),
        posted: watch::Sender::new(0),
    });
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(messages.clone())
            .route("/healthz", web::get().to(HttpResponse::Ok))
            .route("/rooms/{room}/messages", web::post().to(post))
            .route("/rooms/{room}/messages", web::get().to(poll))
    })
    // Its pollers are gone when it is stopped: nothing to wait for.
    .shutdown_timeout(1);
    if let Some(workers) = cli.workers {
        server = server.workers(workers.get());
    }
    let server = server.bind(cli.addr)?;
    for addr in server.addrs() {
        println!("chat-bench-reference listening on http://{addr}");
    }
    server.run().await
}

/// Stores the message and wakes the parked polls.
async fn post(messages: web::Data<Messages>, body: Bytes) -> HttpResponse {
    let text: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let json = {
        let mut list = messages.list.lock().expect("no poster panics");
        // Ids count from 1: the order is the list's.
        let id = Uuid::from_u128(list.last().map_or(0, |(last, _)| last.as_u128()) + 1);
        let json = Bytes::from(serde_json::json!({ "id": id, "body": text["body"] }).to_string());
        list.push((id, json.clone()));
        json
    };
    messages.posted.send_modify(|count| *count += 1);
    HttpResponse::Created()
        .content_type("application/json")
        .body(json)
}

/// Answers the messages after `after`, parking until there are some or the
/// timeout runs out; the newest ones at once without `after`.
async fn poll(messages: web::Data<Messages>, request: HttpRequest) -> HttpResponse {
    let query = request.query_string();
    let limit = parameter(query, "limit").unwrap_or(DEFAULT_LIMIT);
    let Some(after) = parameter::<Uuid>(query, "after") else {
        return json(page(&messages, None, limit));
    };
    let timeout = parameter(query, "timeout").unwrap_or(DEFAULT_TIMEOUT_SECS);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    // Subscribed before the first look: a message posted in between wakes it.
    let mut posted = messages.posted.subscribe();
    loop {
        let answer = page(&messages, Some(after), limit);
        if answer != "[]" {
            return json(answer);
        }
        if tokio::time::timeout_at(deadline, posted.changed())
            .await
            .is_err()
        {
            return json(answer);
        }
    }
}

/// The JSON array of the messages after `after` (all when `None`, then
/// the newest `limit`), at most `limit` of them.
fn page(messages: &Messages, after: Option<Uuid>, limit: usize) -> String {
    let list = messages.list.lock().expect("no poster panics");
    let start = match after {
        Some(after) => list.partition_point(|(id, _)| *id <= after),
        None => list.len().saturating_sub(limit),
    };
    let selected = &list[start..list.len().min(start.saturating_add(limit))];
    let mut text = String::from("[");
    for (n, (_, json)) in selected.iter().enumerate() {
        if n > 0 {
            text.push(',');
        }
        text.push_str(std::str::from_utf8(json).expect("serde_json writes UTF-8"));
    }
    text.push(']');
    text
}

fn json(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

/// The query parameter `name`, parsed, or `None` when it is missing or
/// does not parse.
fn parameter<T: std::str::FromStr>(query: &str, name: &str) -> Option<T> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .and_then(|value| value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(count: u128) -> Messages {
        let list = (1..=count)
            .map(|n| (Uuid::from_u128(n), Bytes::from(format!("{n}"))))
            .collect();
        Messages {
            list: Mutex::new(list),
            posted: watch::Sender::new(0),
        }
    }

    #[test]
    fn parameters_come_from_the_query_and_a_bad_one_is_missing() {
        assert_eq!(parameter("after=x&limit=100&timeout=7", "timeout"), Some(7));
        assert_eq!(parameter::<u64>("limit=1&timeout=0", "timeout"), Some(0));
        assert_eq!(parameter::<u64>("timeout=x", "timeout"), None);
        assert_eq!(parameter::<u64>("", "timeout"), None);
        assert_eq!(parameter::<u64>("timeouts=3", "timeout"), None);
    }

    #[test]
    fn a_page_holds_what_follows_the_cursor_or_the_newest_up_to_the_limit() {
        let messages = messages(5);
        assert_eq!(page(&messages, Some(Uuid::from_u128(2)), 2), "[3,4]");
        assert_eq!(page(&messages, Some(Uuid::from_u128(5)), 2), "[]");
        assert_eq!(page(&messages, Some(Uuid::nil()), 100), "[1,2,3,4,5]");
        assert_eq!(page(&messages, None, 2), "[4,5]");
    }
}
