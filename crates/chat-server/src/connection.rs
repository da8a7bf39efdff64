//! What every accepted connection gets before its first request.
//!
//! A client that stops reading fills its socket's buffers, and then the
//! server can write nothing more to it: actix stops polling the response
//! body, so no timer of the body can end it. The kernel can:
//! `TCP_USER_TIMEOUT` closes a connection whose data stayed unacknowledged
//! or unsent (a zero window) for [`WRITE_STALL_TIMEOUT`], and actix's write
//! then fails and drops the response. This ends stalled event streams (and
//! any other stalled response) with no per-stream timer or task.

use std::any::Any;
use std::time::Duration;

use actix_web::dev::Extensions;

/// How long nothing may be written to a client before its connection ends.
pub(crate) const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The `HttpServer::on_connect` hook: sets the socket options above.
pub(crate) fn on_connect(connection: &dyn Any, _data: &mut Extensions) {
    #[cfg(target_os = "linux")]
    if let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        let socket = socket2::SockRef::from(stream);
        if let Err(error) = socket.set_tcp_user_timeout(Some(WRITE_STALL_TIMEOUT)) {
            tracing::warn!(%error, "cannot set TCP_USER_TIMEOUT: a client that stops reading keeps its connection");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = connection;
}
