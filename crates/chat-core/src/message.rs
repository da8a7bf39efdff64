//! Messages and the validated names they carry.

use std::borrow::Borrow;
use std::fmt;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::ValidationError;

/// Longest room name, in ASCII characters.
pub const MAX_ROOM_NAME_LEN: usize = 64;
/// Longest author, in Unicode scalar values.
pub const MAX_AUTHOR_CHARS: usize = 64;
/// The room that `/messages` stands for.
pub const DEFAULT_ROOM: &str = "general";

/// A stored message, as the HTTP API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// UUIDv7, strictly increasing within a room in visibility order.
    pub id: Uuid,
    /// The room the message belongs to.
    pub room: RoomName,
    /// When the message became visible (UTC, microsecond precision).
    #[serde(with = "rfc3339_micros")]
    pub created_at: DateTime<Utc>,
    /// Who wrote it, if they said.
    pub author: Option<String>,
    /// The text, exactly as sent.
    pub body: String,
}

/// A room name: 1 to 64 characters from `[A-Za-z0-9_-]`, case-sensitive.
///
/// Shared, not copied, by its clones: every message, watch and parked poll
/// of a room holds its name, and a clone is a reference count, not an
/// allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomName(Arc<str>);

impl RoomName {
    /// Validates `name` as a room name.
    pub fn parse(name: &str) -> Result<Self, ValidationError> {
        let valid = !name.is_empty()
            && name.len() <= MAX_ROOM_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(Arc::from(name)))
        } else {
            Err(ValidationError::InvalidRoomName)
        }
    }

    /// The default room, `general`.
    pub fn general() -> Self {
        static GENERAL: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(DEFAULT_ROOM));
        Self(Arc::clone(&GENERAL))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RoomName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for RoomName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RoomName {
    type Error = ValidationError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::parse(&name)
    }
}

impl From<RoomName> for String {
    fn from(room: RoomName) -> Self {
        room.0.as_ref().to_owned()
    }
}

/// A message as a client submits it, validated: a non-empty body and an
/// optional author of 1 to 64 characters. Both are kept exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    body: String,
    author: Option<String>,
    idempotency_key: Option<IdempotencyKey>,
}

impl NewMessage {
    /// Validates a submission.
    pub fn new(body: String, author: Option<String>) -> Result<Self, ValidationError> {
        if body.is_empty() {
            return Err(ValidationError::EmptyBody);
        }
        if let Some(author) = &author {
            let chars = author.chars().count();
            if chars == 0 || chars > MAX_AUTHOR_CHARS {
                return Err(ValidationError::InvalidAuthor);
            }
        }
        Ok(Self {
            body,
            author,
            idempotency_key: None,
        })
    }

    /// The same submission under an idempotency key: a store that already
    /// holds a message with this key in the room replays it instead of
    /// storing another.
    pub fn with_idempotency_key(mut self, key: IdempotencyKey) -> Self {
        self.idempotency_key = Some(key);
        self
    }

    /// The idempotency key, if the client sent one.
    pub fn idempotency_key(&self) -> Option<&IdempotencyKey> {
        self.idempotency_key.as_ref()
    }

    /// True when `stored` is what this submission stores: the same body and
    /// author (what an idempotent repeat must match).
    pub fn matches(&self, stored: &Message) -> bool {
        self.body == stored.body && self.author == stored.author
    }

    /// The body text.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The author, if any.
    pub fn author(&self) -> Option<&str> {
        self.author.as_deref()
    }

    /// Turns the submission into a stored message with the id and time the
    /// store assigned.
    pub fn into_message(self, id: Uuid, room: RoomName, created_at: DateTime<Utc>) -> Message {
        Message {
            id,
            room,
            created_at,
            author: self.author,
            body: self.body,
        }
    }
}

/// Longest idempotency key, in characters.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// An `Idempotency-Key`: 1 to 128 visible ASCII characters (`!` to `~`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Validates `key`.
    pub fn parse(key: &str) -> Result<Self, ValidationError> {
        let valid = !key.is_empty()
            && key.len() <= MAX_IDEMPOTENCY_KEY_LEN
            && key.bytes().all(|b| b.is_ascii_graphic());
        if valid {
            Ok(Self(key.to_owned()))
        } else {
            Err(ValidationError::InvalidIdempotencyKey)
        }
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Truncates a time to the microsecond precision that `created_at` carries,
/// so that every backend stores and returns the same value.
pub fn truncate_to_micros(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(time.timestamp_micros()).unwrap_or(time)
}

/// `created_at` on the wire: RFC 3339 in UTC with six fractional digits.
mod rfc3339_micros {
    use super::*;

    pub fn serialize<S: Serializer>(
        time: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_accept_the_contract_alphabet() {
        for name in ["general", "A-b_9", "x", &"r".repeat(64)] {
            assert_eq!(RoomName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn room_names_reject_everything_else() {
        for name in ["", "a b", "a/b", "é", "a.b", &"r".repeat(65)] {
            assert!(
                matches!(RoomName::parse(name), Err(ValidationError::InvalidRoomName)),
                "{name:?}"
            );
        }
    }

    #[test]
    fn a_body_must_not_be_empty_but_may_be_white_space() {
        assert!(matches!(
            NewMessage::new(String::new(), None),
            Err(ValidationError::EmptyBody)
        ));
        assert_eq!(NewMessage::new("  \n".into(), None).unwrap().body(), "  \n");
    }

    #[test]
    fn an_author_counts_unicode_scalar_values() {
        let emoji_64 = "😀".repeat(64);
        assert!(NewMessage::new("hi".into(), Some(emoji_64)).is_ok());
        let too_long = "a".repeat(65);
        assert!(matches!(
            NewMessage::new("hi".into(), Some(too_long)),
            Err(ValidationError::InvalidAuthor)
        ));
        assert!(matches!(
            NewMessage::new("hi".into(), Some(String::new())),
            Err(ValidationError::InvalidAuthor)
        ));
    }

    #[test]
    fn idempotency_keys_are_1_to_128_visible_ascii_characters() {
        for key in [
            "a",
            "!~",
            "550e8400-e29b-41d4-a716-446655440000",
            &"k".repeat(128),
        ] {
            assert_eq!(IdempotencyKey::parse(key).unwrap().as_str(), key);
        }
        for key in ["", " ", "a b", "é", "tab\t", &"k".repeat(129)] {
            assert_eq!(
                IdempotencyKey::parse(key),
                Err(ValidationError::InvalidIdempotencyKey),
                "{key:?}"
            );
        }
    }

    #[test]
    fn messages_round_trip_through_json_with_microsecond_times() {
        let message = NewMessage::new("Hello World".into(), Some("alice".into()))
            .unwrap()
            .into_message(
                Uuid::nil(),
                RoomName::general(),
                DateTime::parse_from_rfc3339("2026-11-28T21:21:14.123456Z")
                    .unwrap()
                    .into(),
            );
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["created_at"], "2026-11-28T21:21:14.123456Z");
        assert_eq!(json["room"], "general");
        let back: Message = serde_json::from_value(json).unwrap();
        assert_eq!(back, message);
    }
}
