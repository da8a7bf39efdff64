//! The access-control file (`--auth-file`): TOML parsed strictly into
//! [`Rules`]. Anything doubtful (an unknown key, a bad hash, a duplicate, a
//! bad pattern) refuses the whole file with a one-line reason.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::pattern::RoomPattern;

/// A SHA-256 digest of a token.
pub(crate) type TokenDigest = [u8; 32];

/// Why a file was refused; the text is one line.
#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    /// The file could not be read.
    #[error("cannot read the access-control file {path}: {cause}")]
    Read {
        /// The file.
        path: String,
        /// Why (in the message, so not also a source: the line would say
        /// it twice).
        cause: std::io::Error,
    },
    /// The file is not what the contract describes.
    #[error("invalid access-control file {path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with the line where known.
        reason: String,
    },
}

/// What one caller (anonymous, or a token) may do.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rights {
    /// Rooms it may read.
    pub read: Vec<RoomPattern>,
    /// Rooms it may post into.
    pub write: Vec<RoomPattern>,
    /// Whether it may read `/metrics`.
    pub metrics: bool,
}

impl Rights {
    /// True when a pattern of `patterns` matches `room`.
    pub fn allows(patterns: &[RoomPattern], room: &str) -> bool {
        patterns.iter().any(|pattern| pattern.matches(room))
    }
}

/// One `[[token]]` entry.
#[derive(Debug)]
pub(crate) struct TokenEntry {
    /// Becomes the author of the token's messages.
    pub name: String,
    /// What the token may do beyond the anonymous rights.
    pub rights: Rights,
}

/// The parsed file.
#[derive(Debug, Default)]
pub(crate) struct Rules {
    /// What a request without a token may do.
    pub anonymous: Rights,
    /// The tokens, by digest.
    pub tokens: HashMap<TokenDigest, Arc<TokenEntry>>,
    /// Every token's name, so nobody else posts under it.
    pub names: HashSet<String>,
}

impl Rules {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, AuthFileError> {
        let text = std::fs::read_to_string(path).map_err(|cause| AuthFileError::Read {
            path: path.display().to_string(),
            cause,
        })?;
        Self::parse(&text).map_err(|reason| AuthFileError::Invalid {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Checks the text of a file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: FileSpec = toml::from_str(text).map_err(|error| one_line(text, &error))?;
        let anonymous = file.anonymous.unwrap_or_default();
        let mut rules = Rules {
            anonymous: Rights {
                read: patterns(&anonymous.read)?,
                write: patterns(&anonymous.write)?,
                metrics: false,
            },
            ..Rules::default()
        };
        for token in file.token {
            let digest = parse_digest(&token.sha256)
                .ok_or_else(|| format!("token `{}`: sha256 must be 64 hex digits", token.name))?;
            if chat_core::NewMessage::new("x".into(), Some(token.name.clone())).is_err() {
                return Err(format!(
                    "token name `{}` must be 1 to 64 characters (it becomes the author)",
                    token.name
                ));
            }
            if !rules.names.insert(token.name.clone()) {
                return Err(format!("two tokens are named `{}`", token.name));
            }
            let entry = TokenEntry {
                rights: Rights {
                    read: patterns(&token.read)?,
                    write: patterns(&token.write)?,
                    metrics: token.metrics,
                },
                name: token.name,
            };
            if rules.tokens.insert(digest, Arc::new(entry)).is_some() {
                return Err(format!("two tokens have the sha256 {}", token.sha256));
            }
        }
        Ok(rules)
    }

    /// The entry of the token `secret`, if the file knows it. The lookup is
    /// by the secret's SHA-256, never by the secret itself, so its timing
    /// tells nothing useful about any token.
    pub fn token(&self, secret: &str) -> Option<&Arc<TokenEntry>> {
        self.tokens.get(&digest(secret))
    }
}

/// The SHA-256 of a token, as the file stores it.
pub(crate) fn digest(secret: &str) -> TokenDigest {
    Sha256::digest(secret.as_bytes()).into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    anonymous: Option<AnonymousSpec>,
    #[serde(default)]
    token: Vec<TokenSpec>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AnonymousSpec {
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenSpec {
    name: String,
    sha256: String,
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
    #[serde(default)]
    metrics: bool,
}

fn patterns(texts: &[String]) -> Result<Vec<RoomPattern>, String> {
    texts
        .iter()
        .map(|text| RoomPattern::parse(text).map_err(|error| error.to_string()))
        .collect()
}

fn parse_digest(hex: &str) -> Option<TokenDigest> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut digest = [0; 32];
    for (index, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * index..2 * index + 2], 16).ok()?;
    }
    Some(digest)
}

/// toml's errors quote the file over several lines: keep the line number
/// and the message.
fn one_line(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().replace('\n', " ");
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE_HASH: &str = "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90";

    #[test]
    fn a_full_file_is_read() {
        let rules = Rules::parse(&format!(
            "[anonymous]\nread = [\"*\"]\nwrite = []\n\n[[token]]\nname = \"alice\"\n\
             sha256 = \"{ALICE_HASH}\"\nread = [\"*\"]\nwrite = [\"general\", \"team-*\"]\n\
             metrics = true\n"
        ))
        .unwrap();
        assert_eq!(rules.anonymous.read.len(), 1);
        let alice = rules.tokens.values().next().unwrap();
        assert_eq!(alice.name, "alice");
        assert!(alice.rights.metrics);
        assert!(rules.names.contains("alice"));
        assert_eq!(hex(&digest("alice")), ALICE_HASH);
        assert!(rules.token("alice").is_some());
        assert!(rules.token("bob").is_none());
    }

    #[test]
    fn an_empty_file_allows_nothing() {
        let rules = Rules::parse("").unwrap();
        assert!(rules.anonymous.read.is_empty() && rules.tokens.is_empty());
    }

    #[test]
    fn doubtful_files_are_refused_with_one_line() {
        let entry = |extra: &str| {
            format!("[[token]]\nname = \"alice\"\nsha256 = \"{ALICE_HASH}\"\n{extra}")
        };
        for (text, expected) in [
            ("not toml at all".to_owned(), "line 1"),
            ("[anonymous]\nred = []\n".to_owned(), "unknown field `red`"),
            ("colour = 1\n".to_owned(), "unknown field `colour`"),
            (
                "[[token]]\nsha256 = \"00\"\n".to_owned(),
                "missing field `name`",
            ),
            (
                "[[token]]\nname = \"x\"\n".to_owned(),
                "missing field `sha256`",
            ),
            (
                "[[token]]\nname = \"x\"\nsha256 = \"abc\"\n".to_owned(),
                "64 hex digits",
            ),
            (entry("admin = true\n"), "unknown field `admin`"),
            (entry("read = [\"a.b\"]\n"), "room pattern `a.b`"),
            (
                format!("{}{}", entry(""), entry("").replace("alice\"", "bob\"")),
                "sha256",
            ),
            (
                format!(
                    "{}[[token]]\nname = \"alice\"\nsha256 = \"{}\"\n",
                    entry(""),
                    "0".repeat(64)
                ),
                "two tokens are named `alice`",
            ),
            (
                "[[token]]\nname = \"\"\nsha256 = \"".to_owned() + &"0".repeat(64) + "\"\n",
                "1 to 64 characters",
            ),
        ] {
            let error = Rules::parse(&text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
