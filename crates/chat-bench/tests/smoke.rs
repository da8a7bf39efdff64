//! Every scenario, tiny, against an in-process server: no verification
//! error, and reports whose counts add up.

use chat_bench::api::{fresh_room, Api};
use chat_bench::scenario::{catchup, fanout, idle, latency, publish, Context, Report};
use chat_server::{Application, Config, Shutdown};

/// A memory-store server on a free port, stopped when dropped.
struct TestServer {
    port: u16,
    shutdown: Shutdown,
}

impl TestServer {
    async fn spawn() -> Self {
        let app = Application::build(Config::new("127.0.0.1:0", "memory"))
            .await
            .expect("the server starts");
        let server = Self {
            port: app.port(),
            shutdown: app.shutdown(),
        };
        tokio::spawn(app.run_until_stopped());
        server
    }

    /// A context for a fresh room of this server, without progress lines.
    fn context(&self, scenario: &str) -> Context {
        let target = format!("http://127.0.0.1:{}", self.port).parse().unwrap();
        Context::new(Api::new(target, &fresh_room(scenario)).unwrap(), false)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

fn assert_clean(report: &impl Report) {
    assert_eq!(report.errors(), 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delivers_every_message_once_in_order() {
    let server = TestServer::spawn().await;
    let options = latency::LatencyOptions { messages: 20 };
    let report = latency::run(&server.context("latency"), &options)
        .await
        .unwrap();
    assert_clean(&report);
    assert_eq!(report.posted, 20);
    assert_eq!(report.delivery.count, 20);
    assert_eq!(report.verification.received, 20);
    assert!(report.delivery.min_ms > 0.0 && report.delivery.p50_ms <= report.delivery.max_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_reaches_every_parked_poller_in_every_round() {
    let server = TestServer::spawn().await;
    let options = fanout::FanoutOptions {
        pollers: 20,
        rounds: 2,
    };
    let report = fanout::run(&server.context("fanout"), &options)
        .await
        .unwrap();
    assert_clean(&report);
    assert_eq!(report.rounds.len(), 2);
    for round in &report.rounds {
        assert_eq!(
            (round.pollers, round.parked, round.returned_early),
            (20, 20, 0)
        );
        assert_eq!(round.delivery.count, 20);
        assert_eq!(
            (round.verification.expected, round.verification.received),
            (20, 20)
        );
        assert!(round.delivery.min_ms <= round.delivery.p50_ms);
        assert!(round.delivery.p50_ms <= round.delivery.max_ms);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_holds_every_poller_and_measures_the_server_process() {
    let server = TestServer::spawn().await;
    // The server runs in this process, so its memory and CPU are ours.
    let options = idle::IdleOptions {
        pollers: 20,
        seconds: 1,
        server_pid: std::process::id(),
        poll_timeout: 1,
    };
    let report = idle::run(&server.context("idle"), &options).await.unwrap();
    assert_clean(&report);
    assert_eq!(report.held, 20);
    assert!(report.seconds >= 1.0);
    assert!(report.rss_before_kib > 0 && report.rss_end_kib > 0);
    assert!(report.cpu_percent >= 0.0);
    assert_eq!(report.verification.received, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_gets_a_201_for_every_post_up_to_the_budget() {
    let server = TestServer::spawn().await;
    let options = publish::PublishOptions {
        concurrency: 4,
        seconds: 60,
        messages: Some(200),
    };
    let report = publish::run(&server.context("publish"), &options)
        .await
        .unwrap();
    assert_clean(&report);
    assert_eq!(report.posted, 200);
    assert_eq!(report.latency.count, 200);
    assert!(report.posts_per_second > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catchup_reads_back_exactly_what_was_posted_in_order() {
    let server = TestServer::spawn().await;
    let options = catchup::CatchupOptions {
        messages: 500,
        concurrency: 8,
    };
    let report = catchup::run(&server.context("catchup"), &options)
        .await
        .unwrap();
    assert_clean(&report);
    assert_eq!(report.posted, 500);
    assert_eq!(report.verification.received, 500);
    // 500 messages at 1,000 per page: one full page, then the empty answer.
    assert_eq!(report.requests, 2);
    assert!(report.read_messages_per_second > 0.0);
}
