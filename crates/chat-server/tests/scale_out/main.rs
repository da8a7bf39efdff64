//! Several real `chat-server` processes on one PostgreSQL database behave as
//! one server: one sequence of messages, cross-instance wake-ups, recovery
//! when the database drops their connections, and a killed instance losing
//! nothing it acknowledged.
#![cfg(feature = "postgres")]

mod database;
mod process;

mod outages;
mod sharing;

use database::TestDatabase;
use process::Instance;

/// A new database and two instances on it; `None` when skipped.
async fn two_instances() -> Option<(TestDatabase, Instance, Instance)> {
    let database = TestDatabase::create().await?;
    let url = database.url();
    let (a, b) = tokio::join!(Instance::start(&url), Instance::start(&url));
    Some((database, a, b))
}
