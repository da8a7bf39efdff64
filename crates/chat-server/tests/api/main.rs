//! Black-box tests of the HTTP contract (`shared/API.md`), over real HTTP,
//! against every store backend: each test is written once as
//! `async fn name(backend: Backend)` and `backend_tests!` runs it per backend.

#[path = "../common/mod.rs"]
mod common;
mod helpers;

mod access;
mod concurrency;
mod disconnect;
mod errors;
mod events;
mod health;
mod idempotency;
mod limits;
mod long_poll;
mod metrics;
mod openapi;
mod read;
mod retention;
mod shutdown;
mod slow_clients;
mod write;
