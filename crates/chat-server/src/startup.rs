//! Building and running the server: [`Application::build`] opens the store and
//! binds the socket, [`Application::run_until_stopped`] serves until the
//! [`Shutdown`] fires.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{dev::Server, web, App, HttpServer};
use chat_core::store::{OpenError, StoreOptions};
use chat_core::{ChatStore, SystemClock};
use tokio_util::sync::CancellationToken;

use crate::auth::{Access, AuthFileError};
use crate::config::ConfigError;
use crate::limits::{ParkedSlots, PostLimiter};
use crate::metrics::{MeteredStore, Metrics};
use crate::observe::Observe;
use crate::pruning::{self, PrunerGuard};
use crate::serialised::SerialisedCache;
use crate::state::{AppState, CACHED_PAGES};
use crate::{connection, routes, Config};

/// Pending connections the kernel queues before accepting: thousands of
/// pollers reconnect at once after a restart.
const LISTEN_BACKLOG: u32 = 4096;
/// Connections one worker holds at most; parked polls are connections.
const MAX_CONNECTIONS_PER_WORKER: usize = 100_000;
/// Seconds in-flight requests get to finish once shutdown starts (parked
/// polls answer at once, so this only bounds slow uploads).
const SHUTDOWN_GRACE_SECS: u64 = 10;
/// A client gets this long to send its request head; a slower one (or one
/// that sends nothing) is disconnected. Parked polls have sent theirs. The
/// contract's 5 s plus half a second: actix computes the deadline from a
/// clock it updates every 500 ms, so it may fire up to that much early, and
/// a head sent within 5 s must always be served.
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_millis(5_500);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] OpenError),
    /// The access-control file is invalid or unreadable.
    #[error(transparent)]
    Auth(#[from] AuthFileError),
    /// Options out of range or contradicting each other.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address from the configuration.
        addr: String,
        /// Why binding failed.
        #[source]
        source: io::Error,
    },
}

/// Stops a running [`Application`] gracefully: parked polls answer `[]`,
/// in-flight requests finish, then the server exits. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    /// Starts the graceful shutdown.
    pub fn trigger(&self) {
        self.0.cancel();
    }
}

/// A bound, ready-to-run server.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    shutdown: Shutdown,
    access: Access,
    _pruner: PrunerGuard,
}

impl Application {
    /// Opens the configured store and binds the configured address.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let options = StoreOptions {
            retention: config.retention(),
            clock: Arc::new(SystemClock),
        };
        let store = chat_core::store::open(&config.store, options).await?;
        Self::build_with_store(&config, store)
    }

    /// Binds the configured address and serves `store`; `config.store` is
    /// ignored. Tests use this to restart a server over the same store.
    /// Must be called inside a tokio runtime.
    pub fn build_with_store(
        config: &Config,
        store: Arc<dyn ChatStore>,
    ) -> Result<Self, StartupError> {
        let poll_limits = config.poll_limits()?;
        let access = Access::load(config.auth_file.clone())?;
        let shutdown = Shutdown::default();
        let metrics = Metrics::new();
        let state = web::Data::new(AppState {
            store: MeteredStore::wrap(Arc::clone(&store), metrics.store_duration.clone()),
            poll_limits,
            max_body_bytes: config.max_body_bytes,
            body_timeout: Duration::from_secs(config.body_timeout),
            shutdown: shutdown.0.clone(),
            page_json: SerialisedCache::new(CACHED_PAGES),
            access: access.clone(),
            parked: ParkedSlots::new(config.max_parked(), metrics.parked.clone()),
            post_limiter: config
                .post_rate
                .map(|rate| PostLimiter::new(rate, config.trust_forwarded_for)),
            metrics,
        });
        let bind_error = |source| StartupError::Bind {
            addr: config.addr.clone(),
            source,
        };
        let send_timeout = Duration::from_secs(config.send_timeout);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(Observe)
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        // A poll's answer is one small write that must leave at once, not
        // wait for the peer's delayed ACK of the previous one (Nagle).
        .tcp_nodelay(true)
        // A client that closes its side has stopped waiting: end its request
        // at once. With half-closed connections allowed (actix's default), a
        // parked poll would keep its timer, watch and socket (in CLOSE-WAIT)
        // until its timeout. HTTP clients do not half-close to await an answer.
        .h1_allow_half_closed(false)
        // actix-web has no write timeout, and once a client stops reading it
        // stops polling the response, so no timer of the body (an event
        // stream's) can end it: the kernel drops a connection whose sent data
        // stays unacknowledged (zero-window probes included) for
        // --send-timeout; idle parked polls have nothing unacknowledged.
        .on_connect(move |connection, _| connection::bound_send_time(connection, send_timeout))
        .backlog(LISTEN_BACKLOG)
        .max_connections(MAX_CONNECTIONS_PER_WORKER)
        .shutdown_timeout(SHUTDOWN_GRACE_SECS)
        .client_request_timeout(REQUEST_HEAD_TIMEOUT)
        // The binary handles SIGINT and SIGTERM itself, through `Shutdown`.
        .disable_signals();
        if let Some(workers) = config.workers {
            server = server.workers(workers.get());
        }
        let server = server.bind(&config.addr).map_err(bind_error)?;
        let addr = *server
            .addrs()
            .first()
            .ok_or_else(|| bind_error(io::Error::other("the address resolved to nothing")))?;
        if !access.is_on() && !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "listening beyond this machine with access control off: anyone who can \
                 reach it may read and post (see --auth-file)"
            );
        }
        // Only once the socket is bound: a failed start leaves nothing running.
        let pruner = pruning::spawn(Arc::clone(&store), config.retention());
        let server = server.run();
        // Not `HttpServer::shutdown_signal`: actix then stops its "system"
        // too, after a fixed 300 ms pause that delayed every exit.
        let handle = server.handle();
        let stop = shutdown.0.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            // Parked polls and streams see the cancelled token once woken.
            store.wake_all_watches();
            handle.stop(true).await;
        });
        Ok(Self {
            server,
            addr,
            shutdown,
            access,
            _pruner: pruner,
        })
    }

    /// The address actually bound (its port is the real one when the
    /// configuration said 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A handle that stops the server gracefully.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// The access-control rules, to reload them (on SIGHUP).
    pub fn access(&self) -> Access {
        self.access.clone()
    }

    /// Serves until the shutdown handle fires and in-flight requests are done.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.server.await
    }
}
