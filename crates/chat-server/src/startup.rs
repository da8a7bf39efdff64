//! Building and running the server: [`Application::build`] opens the store and
//! binds the socket, [`Application::run_until_stopped`] serves until the
//! [`Shutdown`] fires.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{dev::Server, web, App, HttpServer};
use chat_core::store::{OpenError, StoreOptions};
use chat_core::{ChatStore, SystemClock};
use tokio_util::sync::CancellationToken;

use crate::config::ConfigError;
use crate::pruning::{self, PrunerGuard};
use crate::state::AppState;
use crate::{routes, telemetry, Config};

/// Pending connections the kernel queues before accepting: thousands of
/// pollers reconnect at once after a restart.
const LISTEN_BACKLOG: u32 = 4096;
/// Connections one worker holds at most; parked polls are connections.
const MAX_CONNECTIONS_PER_WORKER: usize = 100_000;
/// Seconds in-flight requests get to finish once shutdown starts (parked
/// polls answer at once, so this only bounds slow uploads).
const SHUTDOWN_GRACE_SECS: u64 = 10;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] OpenError),
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
        let shutdown = Shutdown::default();
        let state = web::Data::new(AppState {
            store: Arc::clone(&store),
            poll_limits,
            max_body_bytes: config.max_body_bytes,
            body_timeout: Duration::from_secs(config.body_timeout),
            shutdown: shutdown.0.clone(),
        });
        let bind_error = |source| StartupError::Bind {
            addr: config.addr.clone(),
            source,
        };
        let send_timeout = Duration::from_secs(config.send_timeout);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(from_fn(telemetry::log_request))
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
        // actix-web has no write timeout: an answer its client does not read
        // would hold its memory and connection until the client reads. The
        // kernel drops a connection whose sent data stays unacknowledged
        // (zero-window probes included) this long; idle parked polls have
        // nothing unacknowledged and are not affected.
        .on_connect(move |connection, _| {
            if let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
                if let Err(error) =
                    socket2::SockRef::from(stream).set_tcp_user_timeout(Some(send_timeout))
                {
                    tracing::warn!(%error, "cannot bound the time to send an answer");
                }
            }
        })
        .backlog(LISTEN_BACKLOG)
        .max_connections(MAX_CONNECTIONS_PER_WORKER)
        .shutdown_timeout(SHUTDOWN_GRACE_SECS)
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
        // Only once the socket is bound: a failed start leaves nothing running.
        let pruner = pruning::spawn(store, config.retention());
        let server = server.run();
        // Not `HttpServer::shutdown_signal`: actix then stops its "system"
        // too, after a fixed 300 ms pause that delayed every exit.
        let handle = server.handle();
        let stop = shutdown.0.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            handle.stop(true).await;
        });
        Ok(Self {
            server,
            addr,
            shutdown,
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

    /// Serves until the shutdown handle fires and in-flight requests are done.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.server.await
    }
}
