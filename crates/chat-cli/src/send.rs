//! `chat-cli send`: one message from the command line, or one per line of
//! standard input.

use chat_core::Message;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cli::SendArgs;
use crate::client::Client;
use crate::error::CliError;
use crate::output::Output;

/// The body that means "read the messages from standard input".
const STDIN: &str = "-";

/// Posts the message(s) and prints the id (or, with `--json`, the whole
/// stored message) of each, in order.
pub async fn run(client: &Client, args: &SendArgs, out: &mut Output) -> Result<(), CliError> {
    let author = args.author.as_deref();
    if args.body != STDIN {
        let message = client.post(&args.body, author).await?;
        return print(out, &message, args.json);
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await.map_err(CliError::Stdin)? {
        // A body must not be empty, so an empty line could only be refused;
        // a line of spaces is a valid body and is sent.
        if line.is_empty() {
            continue;
        }
        // Awaiting each answer before the next POST keeps the lines in order.
        let message = client.post(&line, author).await?;
        print(out, &message, args.json)?;
    }
    Ok(())
}

fn print(out: &mut Output, message: &Message, json: bool) -> Result<(), CliError> {
    if json {
        out.json(message)
    } else {
        out.line(message.id)
    }
    .map_err(CliError::Stdout)
}
