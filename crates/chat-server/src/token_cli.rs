//! `chat-server token new NAME [--read P]... [--write P]... [--metrics]`:
//! prints a new random token alone on its first line, then the `[[token]]`
//! entry (holding only its SHA-256) to add to the access-control file.

use std::fmt::Write as _;

use clap::{Args, Subcommand};
use rand::RngCore;

use crate::auth::{digest, RoomPattern};

/// Random bytes in a token: 256 bits, far above the 128 the contract asks.
const TOKEN_BYTES: usize = 32;

/// The subcommands of `chat-server`; without one, it serves.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Manage access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `chat-server token ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum TokenCommand {
    /// Print a new random token, then the `[[token]]` entry for the
    /// access-control file.
    New(NewToken),
}

/// The entry `token new` prints.
#[derive(Debug, Clone, Args)]
pub struct NewToken {
    /// The token's name: the author of its messages.
    pub name: String,
    /// A room pattern the token may read (repeatable; default `*`).
    #[arg(long = "read", value_name = "PATTERN")]
    pub read: Vec<String>,
    /// A room pattern the token may post into (repeatable; default none).
    #[arg(long = "write", value_name = "PATTERN")]
    pub write: Vec<String>,
    /// Let the token read `/metrics`.
    #[arg(long)]
    pub metrics: bool,
}

/// A bad name or pattern for `token new`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenCliError {
    /// The name cannot be an author.
    #[error("token name `{0}` must be 1 to 64 characters (it becomes the author)")]
    Name(String),
    /// A pattern has a character other than room-name characters and `*`.
    #[error(transparent)]
    Pattern(#[from] crate::auth::InvalidPattern),
}

impl NewToken {
    /// The new token and the text to print: the token alone on the first
    /// line, then the entry.
    pub fn generate(&self) -> Result<(String, String), TokenCliError> {
        if chat_core::NewMessage::new("x".into(), Some(self.name.clone())).is_err() {
            return Err(TokenCliError::Name(self.name.clone()));
        }
        let read = if self.read.is_empty() {
            vec!["*".to_owned()]
        } else {
            self.read.clone()
        };
        for pattern in read.iter().chain(&self.write) {
            RoomPattern::parse(pattern)?;
        }
        let mut bytes = [0_u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let token = hex(&bytes);
        let mut text = format!("{token}\n[[token]]\n");
        let _ = writeln!(text, "name = {}", toml_string(&self.name));
        let _ = writeln!(text, "sha256 = \"{}\"", hex(&digest(&token)));
        let _ = writeln!(text, "read = {}", toml_list(&read));
        let _ = writeln!(text, "write = {}", toml_list(&self.write));
        let _ = writeln!(text, "metrics = {}", self.metrics);
        Ok((token, text))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

/// A TOML basic string: quotes, backslashes and control characters escaped.
fn toml_string(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04X}", c as u32);
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn toml_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|item| toml_string(item)).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Rules;

    fn new_token(name: &str, read: &[&str], write: &[&str]) -> NewToken {
        NewToken {
            name: name.to_owned(),
            read: read.iter().map(|s| s.to_string()).collect(),
            write: write.iter().map(|s| s.to_string()).collect(),
            metrics: false,
        }
    }

    #[test]
    fn the_entry_is_a_valid_file_that_knows_the_token() {
        let (token, text) = new_token("O\"Brien \\ ☃", &[], &["team-*"])
            .generate()
            .unwrap();
        assert_eq!(text.lines().next(), Some(token.as_str()));
        assert_eq!(token.len(), 2 * TOKEN_BYTES);
        let entry = text.split_once('\n').unwrap().1;
        assert!(entry.contains("read = [\"*\"]"), "{entry}");
        let rules = Rules::parse(entry).unwrap();
        let known = rules
            .token(&token)
            .expect("the printed hash is the token's");
        assert_eq!(known.name, "O\"Brien \\ ☃");
    }

    #[test]
    fn tokens_differ_and_bad_input_is_refused() {
        let entry = new_token("a", &[], &[]);
        assert_ne!(entry.generate().unwrap().0, entry.generate().unwrap().0);
        assert!(new_token("", &[], &[]).generate().is_err());
        assert!(new_token("a", &["a.b"], &[]).generate().is_err());
    }
}
