//! Access control on the real `chat-server` binary: `token new`, an invalid
//! file at start, and reloading the file on `SIGHUP` without dropping a
//! parked poll.

mod process;

mod reload;
mod start;
