//! Limits that keep one client or a crowd from exhausting the server:
//!
//! - [`ParkedSlots`]: how many requests may wait at once (`--max-parked`);
//! - [`PostRate`] and `PostLimiter`: posts per second per client
//!   (`--post-rate`).
//!
//! Slow request heads are closed by actix itself
//! (`HttpServer::client_request_timeout`, set in `startup`).

mod parked;
mod rate;

pub use parked::{ParkedPermit, ParkedSlots};
pub use rate::{PostRate, PostRateError};

pub(crate) use rate::PostLimiter;
