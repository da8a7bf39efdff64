//! Black-box tests of the `chat-cli` binary against an in-process server.

mod helpers;
mod send;
mod tail;
mod usage;
