//! [`CliError`]: everything that can end a run early.

use std::io;

use crate::client_error::ClientError;
use crate::cursor_file::CursorFileError;

/// Why a command failed. Its `Display` is the one line shown to the user.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A request failed for good.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A request failed in a way that could pass, every time it was tried.
    #[error("{error} (gave up after {attempts} attempts)")]
    GaveUp {
        /// How many times it was sent.
        attempts: u32,
        /// The last failure.
        error: ClientError,
    },
    /// The cursor file could not be read or written.
    #[error(transparent)]
    CursorFile(#[from] CursorFileError),
    /// Standard input could not be read (or is not UTF-8).
    #[error("cannot read standard input: {0}")]
    Stdin(#[source] io::Error),
    /// Standard output could not be written.
    #[error("cannot write to standard output: {0}")]
    Stdout(#[source] io::Error),
}

impl CliError {
    /// True when whoever read our output has gone away (`chat-cli tail | head
    /// -3`): not a failure worth a message.
    pub fn is_closed_stdout(&self) -> bool {
        matches!(self, Self::Stdout(error) if error.kind() == io::ErrorKind::BrokenPipe)
    }
}
