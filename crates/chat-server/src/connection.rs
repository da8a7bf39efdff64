//! What every accepted connection gets before its first request.

use std::any::Any;
use std::time::Duration;

/// Sets `TCP_USER_TIMEOUT` to `send_timeout` on an accepted TCP socket: a
/// connection whose data stayed unacknowledged or unsent (a zero window)
/// that long is closed by the kernel, and actix's write then fails and drops
/// the response. This ends stalled event streams and any other stalled
/// answer with no per-request timer or task.
pub(crate) fn bound_send_time(connection: &dyn Any, send_timeout: Duration) {
    if let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        if let Err(error) = socket2::SockRef::from(stream).set_tcp_user_timeout(Some(send_timeout))
        {
            tracing::warn!(%error, "cannot bound the time to send an answer");
        }
    }
}
