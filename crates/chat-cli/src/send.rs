//! `chat-cli send`: one message from the command line, or one per line of
//! standard input.
//!
//! Each message gets a fresh `Idempotency-Key`, sent again unchanged on each
//! retry of that message: a server that stored the message but whose answer
//! was lost answers the retry with the message it stored, so a retry never
//! posts twice.

use chat_core::Message;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cli::SendArgs;
use crate::client::Client;
use crate::error::CliError;
use crate::output::Output;
use crate::retry::Backoff;

/// The body that means "read the messages from standard input".
const STDIN: &str = "-";

/// Most attempts at posting one message: the waits between them (0.1 + 0.2 +
/// 0.4 + 0.8 + 1.6 s) ride out a blip or a quick restart of the server,
/// while a script learns within seconds that the server is gone.
const SEND_ATTEMPTS: u32 = 6;

/// Posts the message(s) and prints the id (or, with `--json`, the whole
/// stored message) of each, in order.
pub async fn run(client: &Client, args: &SendArgs, out: &mut Output) -> Result<(), CliError> {
    let author = args.author.as_deref();
    if args.body != STDIN {
        let message = post(client, &args.body, author).await?;
        return print(out, &message, args.json);
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    // Once nobody reads the ids (`send - | head -1`), the rest of the input
    // is still posted: it was handed over to be sent.
    let mut printing = true;
    while let Some(line) = lines.next_line().await.map_err(CliError::Stdin)? {
        // A body must not be empty, so an empty line could only be refused;
        // a line of spaces is a valid body and is sent.
        if line.is_empty() {
            continue;
        }
        // Awaiting each answer before the next POST keeps the lines in order.
        let message = post(client, &line, author).await?;
        if printing {
            match print(out, &message, args.json) {
                Err(error) if error.is_closed_stdout() => printing = false,
                printed => printed?,
            }
        }
    }
    Ok(())
}

/// Posts one message, retrying network errors, 5xx and 429 answers with the
/// same idempotency key; a refusal (a 4xx) is returned at once.
async fn post(client: &Client, body: &str, author: Option<&str>) -> Result<Message, CliError> {
    let key = idempotency_key();
    let mut backoff = Backoff::new();
    let mut attempts = 1;
    loop {
        match client.post(body, author, &key).await {
            Ok(message) => return Ok(message),
            Err(error) if !error.is_transient() => return Err(error.into()),
            Err(error) if attempts == SEND_ATTEMPTS => {
                return Err(CliError::GaveUp { attempts, error })
            }
            Err(_) => {
                tokio::time::sleep(backoff.next_delay()).await;
                attempts += 1;
            }
        }
    }
}

/// A fresh key: a random UUID (version 4), 36 visible ASCII characters, as
/// the contract's 1 to 128 allow.
fn idempotency_key() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

fn print(out: &mut Output, message: &Message, json: bool) -> Result<(), CliError> {
    if json {
        out.json(message)
    } else {
        out.line(message.id)
    }
    .map_err(CliError::Stdout)
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn each_idempotency_key_is_a_fresh_random_uuid() {
        let first = idempotency_key();
        let second = idempotency_key();
        assert_ne!(first, second);
        let uuid = Uuid::parse_str(&first).unwrap();
        assert_eq!(uuid.get_version_num(), 4);
        assert!(first.chars().all(|c| c.is_ascii_graphic()));
    }
}
