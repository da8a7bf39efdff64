//! Black-box tests of the HTTP contract (`shared/API.md`), over real HTTP,
//! against every store backend: each test is written once as
//! `async fn name(backend: Backend)` and `backend_tests!` runs it per backend.

mod helpers;

mod access;
mod concurrency;
mod errors;
mod health;
mod idempotency;
mod limits;
mod long_poll;
mod metrics;
mod openapi;
mod read;
mod retention;
mod shutdown;
mod write;
