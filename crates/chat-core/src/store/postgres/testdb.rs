//! A throw-away database per test on the PostgreSQL the tests are given.
//!
//! `CHAT_TEST_POSTGRES_URL` names the server (default
//! `postgres://postgres@127.0.0.1:5432`). When it cannot be reached the
//! tests fail saying so, unless `CHAT_TEST_POSTGRES=skip`: then they pass
//! without running and print that they were skipped.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_postgres::NoTls;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A database created for one test, dropped (with its connections) when
/// this goes.
#[derive(Debug)]
pub(crate) struct TestDatabase {
    server: String,
    name: String,
}

impl TestDatabase {
    /// A new empty database, or `None` when PostgreSQL is unreachable and
    /// `CHAT_TEST_POSTGRES=skip`.
    pub(crate) async fn create() -> Option<Self> {
        let server = std::env::var("CHAT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
        let name = format!(
            "chat_test_{}_{}_{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let client = match connect(&format!("{server}/postgres")).await {
            Ok(client) => client,
            Err(error) if std::env::var("CHAT_TEST_POSTGRES").as_deref() == Ok("skip") => {
                eprintln!("SKIPPED: PostgreSQL at {server} is unreachable ({error})");
                return None;
            }
            Err(error) => panic!(
                "PostgreSQL tests need a server at {server} (set CHAT_TEST_POSTGRES_URL, or \
                 CHAT_TEST_POSTGRES=skip to skip them): {error}"
            ),
        };
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        Some(Self { server, name })
    }

    /// The `--store` URL of the database.
    pub(crate) fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let maintenance = format!("{}/postgres", self.server);
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop may run inside a runtime, which cannot be blocked on: use a
        // thread with its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let client = connect(&maintenance).await?;
                client.batch_execute(&statement).await
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}
