//! Command-line arguments. Everything is checked here, so a bad value is a
//! usage error (exit code 2) before any request is made.

use std::path::PathBuf;

use chat_core::message::MAX_AUTHOR_CHARS;
use chat_core::RoomName;
use clap::builder::NonEmptyStringValueParser;
use clap::{Args, Parser, Subcommand};
use reqwest::Url;
use uuid::Uuid;

use crate::client::{BearerToken, DEFAULT_LONG_POLL_SECS};

/// Where `chat-server` listens by default.
const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Most recent messages `tail -n` may ask for: the contract's largest `limit`.
const MAX_RECENT: u16 = 1000;

/// `chat-cli [--server URL] [--room NAME] <send|tail> ...`
#[derive(Debug, Parser)]
#[command(
    name = "chat-cli",
    version,
    about = "Send messages to a chat-server room and follow the room from a terminal or a script.",
    after_help = "Exit codes: 0 success, 1 an error (one line on standard error), 2 a usage error."
)]
pub struct Cli {
    /// Which server and room to talk to.
    #[command(flatten)]
    pub target: Target,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The options every subcommand shares.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection")]
pub struct Target {
    /// Base URL of the chat server.
    #[arg(
        long,
        global = true,
        env = "CHAT_SERVER",
        default_value = DEFAULT_SERVER,
        value_name = "URL",
        value_parser = parse_server
    )]
    pub server: Url,

    /// Room to use: 1 to 64 characters from [A-Za-z0-9_-], case-sensitive
    /// [default: the server's default room, general].
    #[arg(
        long,
        global = true,
        env = "CHAT_ROOM",
        value_name = "NAME",
        value_parser = parse_room
    )]
    pub room: Option<RoomName>,

    /// Access token, sent as `Authorization: Bearer <TOKEN>` with every
    /// request (for a server started with --auth-file) [default: none].
    #[arg(
        long,
        global = true,
        env = "CHAT_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = BearerToken::parse
    )]
    pub token: Option<BearerToken>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Post a message, or one message per line of standard input, and print
    /// the id of each.
    Send(SendArgs),
    /// Print the room's recent messages, then follow new ones as they arrive
    /// over the room's event stream (or by long polling); rides out server
    /// restarts and network errors without duplicating or skipping a message.
    Tail(TailArgs),
}

/// `chat-cli send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The message text; `-` posts each line of standard input as its own
    /// message, in order, skipping empty lines (a body cannot be empty).
    /// Put `--` before a text that starts with `-`.
    #[arg(value_name = "BODY", value_parser = NonEmptyStringValueParser::new())]
    pub body: String,

    /// Author to post as (1 to 64 characters); omit for no author (stored as
    /// null, shown by tail as "(no author)"). With --token the server stores
    /// the token's name, and refuses another author.
    #[arg(long, env = "CHAT_AUTHOR", value_name = "NAME", value_parser = parse_author)]
    pub author: Option<String>,

    /// Print each stored message as a JSON object instead of its id.
    #[arg(long)]
    pub json: bool,
}

/// `chat-cli tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// How many recent messages to print before following (0 to 1000); 0
    /// prints only messages that arrive from now on.
    #[arg(
        short = 'n',
        long = "lines",
        value_name = "N",
        default_value_t = 10,
        value_parser = clap::value_parser!(u16).range(0..=i64::from(MAX_RECENT)),
        conflicts_with = "after"
    )]
    pub recent: u16,

    /// Replay every message newer than this message id, instead of recent
    /// history.
    #[arg(long, value_name = "UUID", conflicts_with = "cursor_file")]
    pub after: Option<Uuid>,

    /// Resume after the id stored in this file when it exists (then -n is
    /// ignored), and store in it, after each page of messages is printed (a
    /// poll's answer, or the events that arrived together; at most 100), the
    /// id of the last one: the next run continues from there, printing again
    /// at most the page a crash interrupted, never skipping one. The file
    /// also names the server and room, and a file written for another one is
    /// refused.
    #[arg(long, value_name = "PATH")]
    pub cursor_file: Option<PathBuf>,

    /// Exit after printing this many messages.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Print JSON Lines: one message object per line.
    #[arg(long)]
    pub json: bool,

    /// Follow by long polling (one request per page of messages) instead of
    /// the event stream (one request per connection): for a proxy that holds
    /// a streamed answer back until it ends, or a server without event
    /// streams.
    #[arg(long)]
    pub long_poll: bool,

    /// With --long-poll: seconds each poll asks the server to wait for a
    /// message (1 to 60; at most the server's --max-poll-timeout).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = DEFAULT_LONG_POLL_SECS,
        value_parser = clap::value_parser!(u64).range(1..=60)
    )]
    pub poll_timeout: u64,
}

/// Accepts only `http` and `https` URLs, the schemes the client speaks.
fn parse_server(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|error| format!("not a URL: {error}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("the scheme must be http or https, not {other}")),
    }
}

fn parse_room(text: &str) -> Result<RoomName, String> {
    RoomName::parse(text).map_err(|error| error.to_string())
}

/// The server's rule for authors, checked here so a typo fails before
/// anything is posted.
fn parse_author(text: &str) -> Result<String, String> {
    let chars = text.chars().count();
    if (1..=MAX_AUTHOR_CHARS).contains(&chars) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "an author must be 1 to {MAX_AUTHOR_CHARS} characters long, not {chars}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("chat-cli").chain(args.iter().copied()))
    }

    #[test]
    fn the_arguments_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_may_follow_the_subcommand() {
        let cli = parse(&["tail", "--server", "http://example.com:9", "--room", "ops"]).unwrap();
        assert_eq!(cli.target.server.as_str(), "http://example.com:9/");
        assert_eq!(cli.target.room.unwrap().as_str(), "ops");
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["--room", "no spaces", "tail"][..],
            &["--server", "ftp://example.com", "tail"],
            &["--server", "not a url", "tail"],
            &["send", ""],
            &["send", "--author", &"a".repeat(65), "hi"],
            &["tail", "-n", "1001"],
            &["tail", "--count", "0"],
            &["tail", "--after", "not-a-uuid"],
            &[
                "tail",
                "--after",
                &Uuid::nil().to_string(),
                "--cursor-file",
                "x",
            ],
            &["tail", "--after", &Uuid::nil().to_string(), "-n", "3"],
            &["--token", "", "tail"],
            &["--token", "two words", "tail"],
            &["--token", "caf\u{e9}", "tail"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn a_missing_subcommand_is_a_usage_error() {
        let error = parse(&[]).unwrap_err();
        assert_eq!(
            error.kind(),
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
        assert_eq!(error.exit_code(), 2);
    }

    #[test]
    fn the_token_is_a_global_option() {
        let cli = parse(&["send", "--token", "s3cr3t", "hi"]).unwrap();
        assert!(cli.target.token.is_some());
        assert!(parse(&["tail"]).unwrap().target.token.is_none());
    }

    #[test]
    fn send_help_claims_no_default_author() {
        let help = Cli::command()
            .find_subcommand_mut("send")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(help.contains("omit for no author"), "{help}");
        assert!(!help.contains("default: anonymous"), "{help}");
    }

    #[test]
    fn tail_defaults_to_ten_recent_messages() {
        let cli = parse(&["tail"]).unwrap();
        let Command::Tail(args) = cli.command else {
            panic!("not tail");
        };
        assert_eq!(args.recent, 10);
        assert_eq!(args.count, None);
        assert!(!args.long_poll, "the event stream is the default");
    }
}
