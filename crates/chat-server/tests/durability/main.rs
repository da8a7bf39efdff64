//! Durability of the default SQLite store, tested on the real `chat-server`
//! binary: restarts, `SIGKILL` in the middle of concurrent posts, and the
//! start-up errors and warnings an operator can meet.
#![cfg(feature = "sqlite")]

#[path = "../common/mod.rs"]
mod common;
mod process;

mod crash;
mod exit;
mod exposure;
mod health;
mod overload;
mod restart;
mod same_file;
mod startup_errors;
mod store_failure;
