//! The server under test, from `--server URL`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// Why `--server` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not `http://HOST[:PORT]`.
    #[error("`{0}` is not a URL like http://127.0.0.1:8080 (plain http, no path)")]
    Malformed(String),
    /// The host did not resolve.
    #[error("`{0}` does not resolve to an address")]
    Unresolved(String),
    /// The host is not this machine.
    #[error("`{0}` is not a loopback address: chat-bench only loads a server on this machine")]
    NotLoopback(String),
}

/// Where the server listens, and the `Host` header that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The socket address every connection goes to.
    pub addr: SocketAddr,
    /// `HOST:PORT` as given, for the `Host` header.
    pub host: String,
}

impl FromStr for Target {
    type Err = TargetError;

    /// Parses `http://HOST[:PORT][/]`; the host must resolve to a loopback
    /// address, so a load test can never be pointed at another machine.
    fn from_str(url: &str) -> Result<Self, TargetError> {
        let malformed = || TargetError::Malformed(url.to_owned());
        let authority = url
            .strip_prefix("http://")
            .map(|rest| rest.strip_suffix('/').unwrap_or(rest))
            .filter(|authority| !authority.is_empty() && !authority.contains(['/', '?', '#', '@']))
            .ok_or_else(malformed)?;
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.contains(']'));
        let with_port = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|_| TargetError::Unresolved(authority.to_owned()))?
            .next()
            .ok_or_else(|| TargetError::Unresolved(authority.to_owned()))?;
        if !addr.ip().is_loopback() {
            return Err(TargetError::NotLoopback(authority.to_owned()));
        }
        Ok(Self {
            addr,
            host: authority.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_accepted_with_or_without_port_and_slash() {
        let target: Target = "http://127.0.0.1:8080/".parse().unwrap();
        assert_eq!(target.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(target.host, "127.0.0.1:8080");
        let default_port: Target = "http://127.0.0.1".parse().unwrap();
        assert_eq!(default_port.addr.port(), 80);
        let v6: Target = "http://[::1]:9000".parse().unwrap();
        assert_eq!(v6.addr, "[::1]:9000".parse().unwrap());
    }

    #[test]
    fn other_schemes_paths_and_remote_hosts_are_refused() {
        for url in [
            "127.0.0.1:8080",
            "https://127.0.0.1:8080",
            "http://127.0.0.1:8080/messages",
            "http://",
        ] {
            assert_eq!(
                url.parse::<Target>(),
                Err(TargetError::Malformed(url.into()))
            );
        }
        assert_eq!(
            "http://192.0.2.1:8080".parse::<Target>(),
            Err(TargetError::NotLoopback("192.0.2.1:8080".into()))
        );
    }
}
