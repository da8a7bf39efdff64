//! Configuration: every option is a flag with an environment-variable twin.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use chat_core::store::Retention;
use clap::Parser;

use crate::limits::{ParkedSlots, PostRate};
use crate::token_cli::Command;

/// How `chat-server` is configured.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "chat-server",
    version,
    about = "HTTP long-polling chat server: POST messages, GET them the moment they arrive."
)]
pub struct Config {
    /// Address to listen on (HOST:PORT; port 0 picks a free port).
    #[arg(long, env = "CHAT_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: String,

    /// Where messages live: `sqlite:PATH` (durable; PATH relative to the
    /// working directory), `postgres://USER@HOST:PORT/DATABASE` (durable,
    /// shared by several instances; any libpq URL, also `postgresql://`) or
    /// `memory` (lost on exit).
    #[arg(long, env = "CHAT_STORE", default_value = "sqlite:chat.db")]
    pub store: String,

    /// Largest accepted request body, in bytes; larger POSTs get 413.
    #[arg(long, env = "CHAT_MAX_BODY_BYTES", default_value_t = 10_000)]
    pub max_body_bytes: usize,

    /// Seconds a client gets to send a request body, in total; a body still
    /// incomplete then is answered 408 and its connection closed.
    #[arg(long, env = "CHAT_BODY_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout: u64,

    /// Seconds data the server sent may stay unacknowledged (a client that
    /// stops reading its answer) before the connection is dropped.
    #[arg(long, env = "CHAT_SEND_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub send_timeout: u64,

    /// Seconds a GET waits for new messages when it gives no `timeout`.
    #[arg(long, env = "CHAT_DEFAULT_POLL_TIMEOUT", default_value_t = 10)]
    pub default_poll_timeout: u64,

    /// Largest `timeout` a GET may ask for, in seconds; more is a 400.
    #[arg(long, env = "CHAT_MAX_POLL_TIMEOUT", default_value_t = 60)]
    pub max_poll_timeout: u64,

    /// Seconds of silence after which an event stream gets a `: ping`
    /// comment, so proxies keep it open (at least 1).
    #[arg(long, env = "CHAT_SSE_PING_INTERVAL", default_value_t = 15)]
    pub sse_ping_interval: u64,

    /// Keep at most this many messages per room (off by default).
    #[arg(long, env = "CHAT_RETAIN_PER_ROOM")]
    pub retain_per_room: Option<NonZeroUsize>,

    /// Delete messages older than this, e.g. `90s`, `30m`, `12h`, `7d` (off by
    /// default).
    #[arg(long, env = "CHAT_RETAIN_FOR", value_parser = parse_duration)]
    pub retain_for: Option<Duration>,

    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, env = "CHAT_WORKERS")]
    pub workers: Option<NonZeroUsize>,

    /// Access-control file (TOML: `[anonymous]` and `[[token]]` entries);
    /// without it anyone may read and post. Reloaded on SIGHUP.
    #[arg(long, env = "CHAT_AUTH_FILE", value_name = "PATH")]
    pub auth_file: Option<PathBuf>,

    /// Most polls and event streams waiting at once; past it a request that
    /// would wait gets 503 (default: the open-files limit less a reserve).
    #[arg(long, env = "CHAT_MAX_PARKED", value_name = "N")]
    pub max_parked: Option<usize>,

    /// Posts allowed per client (token name, else IP address), as
    /// `N[/s][:BURST]`, e.g. `5/s:20`; past it a POST gets 429 (off by
    /// default).
    #[arg(long, env = "CHAT_POST_RATE", value_name = "N[/s][:BURST]")]
    pub post_rate: Option<PostRate>,

    /// Take a client's address from the last `X-Forwarded-For` entry (only
    /// behind a proxy that sets it).
    #[arg(long, env = "CHAT_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,

    /// A subcommand instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Config {
    /// The defaults with another listening address and store: what tests use.
    pub fn new(addr: impl Into<String>, store: impl Into<String>) -> Self {
        let mut config = Self::parse_from(["chat-server"]);
        config.addr = addr.into();
        config.store = store.into();
        config
    }

    /// The store as it may be shown (the listening line, logs): a password
    /// in the URL, as `USER:PASSWORD@` or a `password=` parameter, is
    /// replaced by `***`.
    pub fn store_for_display(&self) -> String {
        let store = match self.store.split_once("://") {
            Some((scheme, rest)) => {
                let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
                let (authority, path) = rest.split_at(authority_end);
                match authority.rsplit_once('@') {
                    Some((user_info, host)) => match user_info.split_once(':') {
                        Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
                        None => self.store.clone(),
                    },
                    None => self.store.clone(),
                }
            }
            None => self.store.clone(),
        };
        match store.split_once('?') {
            Some((base, query)) => {
                let query: Vec<String> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some(("password", _)) => "password=***".to_owned(),
                        _ => pair.to_owned(),
                    })
                    .collect();
                format!("{base}?{}", query.join("&"))
            }
            None => store,
        }
    }

    /// The retention settings handed to the store.
    pub fn retention(&self) -> Retention {
        Retention {
            per_room: self.retain_per_room,
            max_age: self.retain_for,
        }
    }

    /// `--max-parked`, or its default from the open-files limit.
    pub fn max_parked(&self) -> usize {
        self.max_parked.unwrap_or_else(ParkedSlots::default_max)
    }

    /// The poll limits, checked for consistency.
    pub fn poll_limits(&self) -> Result<PollLimits, ConfigError> {
        if self.max_poll_timeout > MAX_POLL_TIMEOUT_SECS {
            return Err(ConfigError::PollTimeoutTooLong(self.max_poll_timeout));
        }
        if self.default_poll_timeout > self.max_poll_timeout {
            return Err(ConfigError::DefaultAboveMax {
                default: self.default_poll_timeout,
                max: self.max_poll_timeout,
            });
        }
        if self.sse_ping_interval == 0 {
            return Err(ConfigError::ZeroPingInterval);
        }
        Ok(PollLimits {
            default_timeout: Duration::from_secs(self.default_poll_timeout),
            max_timeout_secs: self.max_poll_timeout,
            ping_interval: Duration::from_secs(self.sse_ping_interval),
        })
    }
}

/// The largest `--max-poll-timeout`: an hour is far beyond what any proxy
/// keeps a silent request open for, and keeps deadlines far from overflow.
pub const MAX_POLL_TIMEOUT_SECS: u64 = 3600;
/// The longest `--retain-for`: a hundred years, so "now less the age" is
/// always a real date.
pub const MAX_RETAIN_FOR: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Options that cannot work together or are out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `--default-poll-timeout` above `--max-poll-timeout`.
    #[error("--default-poll-timeout ({default}) must not exceed --max-poll-timeout ({max})")]
    DefaultAboveMax {
        /// The default asked for.
        default: u64,
        /// The maximum asked for.
        max: u64,
    },
    /// `--max-poll-timeout` beyond [`MAX_POLL_TIMEOUT_SECS`].
    #[error("--max-poll-timeout ({0}) must be at most {MAX_POLL_TIMEOUT_SECS} seconds")]
    PollTimeoutTooLong(u64),
    /// `--sse-ping-interval` of zero: a stream would ping without pause.
    #[error("--sse-ping-interval must be at least 1 second")]
    ZeroPingInterval,
}

/// How long requests that wait for messages may stay silent: the bounds a
/// GET's `timeout` is checked against, and an event stream's ping interval.
#[derive(Debug, Clone, Copy)]
pub struct PollLimits {
    /// Used when a GET has no `timeout`.
    pub default_timeout: Duration,
    /// The largest `timeout` accepted, in whole seconds.
    pub max_timeout_secs: u64,
    /// The silence after which an event stream gets a `: ping` comment.
    pub ping_interval: Duration,
}

/// Parses `90s`, `30m`, `12h`, `7d` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let count: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 90s, 30m, 12h or 7d"))?;
    let seconds_per_unit = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "unknown unit `{unit}` in `{text}`: use s, m, h or d"
            ))
        }
    };
    let duration = count
        .checked_mul(seconds_per_unit)
        .filter(|&seconds| seconds > 0)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` must be a positive duration"))?;
    if duration > MAX_RETAIN_FOR {
        return Err(format!("`{text}` is longer than 100 years"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_store_url_is_never_shown() {
        let shown = |store: &str| Config::new("127.0.0.1:0", store).store_for_display();
        assert_eq!(
            shown("postgres://chat:s3cret@db.example:5432/chat"),
            "postgres://chat:***@db.example:5432/chat"
        );
        assert_eq!(
            shown("postgresql://chat:p@ss@db/chat?sslmode=disable&password=x"),
            "postgresql://chat:***@db/chat?sslmode=disable&password=***"
        );
        assert_eq!(
            shown("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/test"
        );
        assert_eq!(shown("sqlite:chat.db"), "sqlite:chat.db");
        assert_eq!(shown("memory"), "memory");
    }

    #[test]
    fn durations_take_the_common_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
    }

    #[test]
    fn bad_durations_are_rejected_with_a_reason() {
        for text in [
            "",
            "0s",
            "h",
            "5w",
            "-3m",
            "1.5h",
            "36501d",
            "99999999999999999d",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn the_defaults_match_the_contract() {
        let config = Config::new("127.0.0.1:0", "memory");
        assert_eq!(config.max_body_bytes, 10_000);
        let limits = config.poll_limits().unwrap();
        assert_eq!(limits.default_timeout, Duration::from_secs(10));
        assert_eq!(limits.max_timeout_secs, 60);
        assert_eq!(limits.ping_interval, Duration::from_secs(15));
        assert!(!config.retention().is_enabled());
        assert!(config.auth_file.is_none() && config.post_rate.is_none());
        assert!(config.max_parked() >= 1);
    }

    #[test]
    fn token_new_is_a_subcommand() {
        let config = Config::parse_from(["chat-server", "token", "new", "bob", "--write", "x-*"]);
        let Some(Command::Token(crate::token_cli::TokenCommand::New(new))) = config.command else {
            panic!("not parsed as `token new`");
        };
        assert_eq!(
            (new.name.as_str(), new.write),
            ("bob", vec!["x-*".to_owned()])
        );
    }

    #[test]
    fn a_default_timeout_above_the_maximum_is_refused() {
        let mut config = Config::new("127.0.0.1:0", "memory");
        config.default_poll_timeout = 61;
        assert_eq!(
            config.poll_limits().unwrap_err(),
            ConfigError::DefaultAboveMax {
                default: 61,
                max: 60
            }
        );
    }

    #[test]
    fn a_maximum_timeout_beyond_an_hour_is_refused_instead_of_overflowing() {
        let mut config = Config::new("127.0.0.1:0", "memory");
        config.max_poll_timeout = u64::MAX;
        assert_eq!(
            config.poll_limits().unwrap_err(),
            ConfigError::PollTimeoutTooLong(u64::MAX)
        );
    }

    #[test]
    fn a_zero_ping_interval_is_refused() {
        let mut config = Config::new("127.0.0.1:0", "memory");
        config.sse_ping_interval = 0;
        assert_eq!(
            config.poll_limits().unwrap_err(),
            ConfigError::ZeroPingInterval
        );
    }
}
