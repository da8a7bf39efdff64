//! A connection that is opened lazily and reopened when lost.

use std::net::SocketAddr;
use std::time::Instant;

use super::{Connection, HttpError, Request, Response};

/// Sends requests one at a time over a keep-alive connection, opening a new
/// one when the server closed the last or an exchange failed (after a failure
/// the connection's state is unknown, so it is never reused).
///
/// Nothing is retried: a failed request is reported to the caller, who counts
/// it, because retrying a POST could post twice.
#[derive(Debug)]
pub struct Client {
    addr: SocketAddr,
    connection: Option<Connection>,
}

impl Client {
    /// A client for `addr`; nothing is opened yet.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            connection: None,
        }
    }

    /// Sends `request` and reads its response; returns when it was sent.
    pub async fn round_trip(
        &mut self,
        request: &Request,
    ) -> Result<(Instant, Response), HttpError> {
        let connection = match &mut self.connection {
            Some(connection) => connection,
            empty => empty.insert(Connection::open(self.addr).await?),
        };
        let result = connection.round_trip(request).await;
        if result.is_err() || !connection.is_reusable() {
            self.connection = None;
        }
        result
    }
}
