//! Every scenario, tiny, against an in-process chat-server, the bare
//! actix-web reference and, where nginx with Nchan is installed, Nchan: no
//! verification error, and reports whose counts add up.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_bench::api::{fresh_room, Api, Protocol};
use chat_bench::scenario::gap::GapOptions;
use chat_bench::scenario::{
    catchup, fanout, idle, latency, publish, stream_fanout, stream_idle, stream_latency, Context,
    Report,
};
use chat_bench::target::Target;
use chat_bench::BenchError;
use chat_core::store::StoreOptions;
use chat_core::ChatStore;
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
        Self::run(app)
    }

    /// A server on `store`, which another may share: two instances of one
    /// store, as on one PostgreSQL database.
    fn spawn_on(store: Arc<dyn ChatStore>) -> Self {
        let app = Application::build_with_store(&Config::new("127.0.0.1:0", "memory"), store)
            .expect("the server starts");
        Self::run(app)
    }

    fn run(app: Application) -> Self {
        let server = Self {
            port: app.port(),
            shutdown: app.shutdown(),
        };
        tokio::spawn(app.run_until_stopped());
        server
    }

    fn target(&self) -> Target {
        format!("http://127.0.0.1:{}", self.port).parse().unwrap()
    }

    /// Reads of a room's messages (polls, and the bench's own reads of the
    /// newest id) this server has answered `200`, from its metrics.
    fn reads_answered(&self) -> u64 {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        stream.write_all(request).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let series = r#"chat_http_requests_total{route="/rooms/{room}/messages",status="200"} "#;
        answer
            .lines()
            .find_map(|line| line.strip_prefix(series))
            .map_or(0, |count| count.trim().parse().unwrap())
    }

    /// A context for a fresh room of this server, without progress lines.
    fn context(&self, scenario: &str) -> Context {
        context(self.port, Protocol::Chat, scenario)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

fn context(port: u16, protocol: Protocol, scenario: &str) -> Context {
    let target = format!("http://127.0.0.1:{port}").parse().unwrap();
    Context::new(
        Api::new(target, protocol, &fresh_room(scenario)).unwrap(),
        false,
    )
}

/// A server process of its own (the reference, or nginx), stopped with
/// SIGTERM when dropped so that nginx's workers go with their master.
struct Process {
    child: Child,
    port: u16,
    /// Nchan's private directory, removed after the process.
    _dir: Option<tempfile::TempDir>,
}

impl Process {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `chat-bench-reference` on a free port (it prints its address).
    fn reference() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chat-bench-reference"))
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the reference starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Self {
            child,
            port,
            _dir: None,
        }
    }

    /// nginx with Nchan, configured by `scripts/nchan.conf`, on a free port;
    /// `None` (and a line saying why) when nginx or the module is missing.
    fn nchan() -> Option<Self> {
        const MODULE: &str = "/usr/lib/nginx/modules/ngx_nchan_module.so";
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .map(PathBuf::from)
            .find(|path| path.exists());
        let Some(nginx) = nginx.filter(|_| Path::new(MODULE).exists()) else {
            eprintln!(
                "skipped the Nchan scenarios: nginx with {MODULE} is not installed \
                 (scripts/bench.sh installs nginx and libnginx-mod-nchan)"
            );
            return None;
        };
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/nchan.conf"),
        )
        .unwrap();
        // Another process may take the free port before nginx binds it: try again.
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let config = template
                .replace("@DIR@", dir.path().to_str().unwrap())
                .replace("@PORT@", &port.to_string())
                .replace("@WORKERS@", "2");
            let config_path = dir.path().join("nginx.conf");
            std::fs::write(&config_path, config).unwrap();
            let mut child = Command::new(&nginx)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&config_path)
                .stderr(Stdio::null())
                .spawn()
                .expect("nginx starts");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
                if healthy(port) {
                    return Some(Self {
                        child,
                        port,
                        _dir: Some(dir),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("nginx with Nchan did not start");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Whether `GET /healthz` on `port` answers 200.
fn healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut answer = String::new();
    stream.write_all(request).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

fn assert_clean(report: &impl Report) {
    assert_eq!(report.errors(), 0, "{report}");
}

async fn check_latency(context: &Context, gap: GapOptions) {
    let options = latency::LatencyOptions { messages: 20, gap };
    let report = latency::run(context, &options).await.unwrap();
    assert_clean(&report);
    assert_eq!(report.posted, 20);
    assert_eq!(report.delivery.count, 20);
    assert_eq!(report.verification.received, 20);
    assert!(report.delivery.min_ms > 0.0 && report.delivery.p50_ms <= report.delivery.max_ms);
}

const SHORT_GAPS: GapOptions = GapOptions {
    gap_min_ms: 1,
    gap_max_ms: 5,
    seed: 1,
};

async fn check_fanout(context: &Context) {
    let options = fanout::FanoutOptions {
        pollers: 20,
        rounds: 2,
    };
    let report = fanout::run(context, &options).await.unwrap();
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

async fn check_idle(context: &Context, server_pid: u32) {
    let options = idle::IdleOptions {
        pollers: 20,
        seconds: 1,
        server_pid,
        poll_timeout: 1,
    };
    let report = idle::run(context, &options).await.unwrap();
    assert_clean(&report);
    assert_eq!(report.held, 20);
    assert!(report.seconds >= 1.0);
    assert!(report.rss_before_kib > 0 && report.rss_end_kib > 0);
    assert!(report.cpu_percent >= 0.0);
    assert_eq!(report.verification.received, 0);
}

async fn check_publish(context: &Context) {
    let options = publish::PublishOptions {
        concurrency: 4,
        seconds: 60,
        messages: Some(200),
    };
    let report = publish::run(context, &options).await.unwrap();
    assert_clean(&report);
    assert_eq!(report.posted, 200);
    assert_eq!(report.latency.count, 200);
    assert!(report.posts_per_second > 0.0);
}

async fn check_stream_latency(context: &Context) {
    let options = stream_latency::StreamLatencyOptions {
        messages: 20,
        gap: SHORT_GAPS,
    };
    let report = stream_latency::run(context, &options).await.unwrap();
    assert_clean(&report);
    assert_eq!(report.posted, 20);
    assert_eq!(report.delivery.count, 20);
    assert_eq!(
        (report.verification.expected, report.verification.received),
        (20, 20)
    );
}

async fn check_stream_fanout(context: &Context) {
    let options = stream_fanout::StreamFanoutOptions {
        streams: 20,
        rounds: 2,
    };
    let report = stream_fanout::run(context, &options).await.unwrap();
    assert_clean(&report);
    assert_eq!(report.opened, 20);
    assert_eq!(report.rounds.len(), 2);
    for round in &report.rounds {
        assert_eq!(round.delivery.count, 20);
        assert!(round.delivery.min_ms <= round.delivery.max_ms);
    }
    // Every stream got both messages.
    assert_eq!(
        (report.verification.expected, report.verification.received),
        (40, 40)
    );
}

async fn check_stream_idle(context: &Context, server_pid: u32) {
    let options = stream_idle::StreamIdleOptions {
        streams: 20,
        seconds: 1,
        server_pid,
    };
    let report = stream_idle::run(context, &options).await.unwrap();
    assert_clean(&report);
    assert_eq!(report.held, 20);
    assert!(report.rss_before_kib > 0 && report.rss_end_kib > 0);
    assert_eq!(report.verification.received, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delivers_every_message_once_in_order_hot_and_after_gaps() {
    let server = TestServer::spawn().await;
    check_latency(&server.context("latency"), GapOptions::NONE).await;
    check_latency(&server.context("latency-gap"), SHORT_GAPS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_reaches_every_parked_poller_in_every_round() {
    let server = TestServer::spawn().await;
    check_fanout(&server.context("fanout")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pollers_on_other_instances_of_the_store_get_what_is_posted_to_the_server() {
    let store = chat_core::store::open("memory", StoreOptions::default())
        .await
        .unwrap();
    let a = TestServer::spawn_on(Arc::clone(&store));
    let b = TestServer::spawn_on(store);
    let context = |scenario, subscribers| {
        let api = Api::new(a.target(), Protocol::Chat, &fresh_room(scenario)).unwrap();
        Context::new(api.with_subscribers(subscribers), false)
    };

    // Posted to A, every message delivered by B.
    check_latency(&context("latency", vec![b.target()]), SHORT_GAPS).await;
    let (on_a, on_b) = (a.reads_answered(), b.reads_answered());
    assert!(on_b >= 20 && on_a < 20, "A {on_a}, B {on_b}");

    // Pollers in turn on A and B: 10 of the 20 on each, in each of 2 rounds.
    check_fanout(&context("fanout", vec![a.target(), b.target()])).await;
    assert!(a.reads_answered() - on_a >= 20, "A {}", a.reads_answered());
    assert!(b.reads_answered() - on_b >= 20, "B {}", b.reads_answered());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_holds_every_poller_and_measures_the_server_process() {
    let server = TestServer::spawn().await;
    // The server runs in this process, so its memory and CPU are ours.
    check_idle(&server.context("idle"), std::process::id()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_gets_a_201_for_every_post_up_to_the_budget() {
    let server = TestServer::spawn().await;
    check_publish(&server.context("publish")).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_get_every_message_once_in_order_and_are_measured_idle() {
    let server = TestServer::spawn().await;
    check_stream_latency(&server.context("stream-latency")).await;
    check_stream_fanout(&server.context("stream-fanout")).await;
    check_stream_idle(&server.context("stream-idle"), std::process::id()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bare_actix_web_reference_holds_parked_pollers_and_delivers_to_them() {
    let reference = Process::reference();
    let context = |scenario| context(reference.port, Protocol::Chat, scenario);
    check_idle(&context("idle"), reference.pid()).await;
    check_latency(&context("latency"), SHORT_GAPS).await;
    check_fanout(&context("fanout")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_that_applies_runs_cleanly_against_nchan() {
    let Some(nchan) = Process::nchan() else {
        return;
    };
    let on = |scenario| context(nchan.port, Protocol::Nchan, scenario);
    check_latency(&on("latency"), GapOptions::NONE).await;
    check_latency(&on("latency-gap"), SHORT_GAPS).await;
    check_fanout(&on("fanout")).await;
    check_idle(&on("idle"), nchan.pid()).await;
    check_publish(&on("publish")).await;
    check_stream_latency(&on("stream-latency")).await;
    check_stream_fanout(&on("stream-fanout")).await;
    check_stream_idle(&on("stream-idle"), nchan.pid()).await;
    let catchup = catchup::CatchupOptions {
        messages: 10,
        concurrency: 1,
    };
    let refused = catchup::run(&on("catchup"), &catchup).await.unwrap_err();
    assert!(matches!(refused, BenchError::Unsupported(_)), "{refused}");
}
