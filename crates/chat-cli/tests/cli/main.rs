//! Black-box tests of the `chat-cli` binary against an in-process server, or
//! a scripted stand-in for what the server does not do (yet, or on demand).

mod helpers;
mod scripted;
mod send;
mod stream;
mod tail;
mod tokens;
mod usage;
