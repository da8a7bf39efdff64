//! The idempotent-POST rule, written once for every backend: what a repeat
//! of a key gets, and for how long a key is remembered.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{AppendError, Appended};
use crate::{Message, NewMessage};

/// How long a key is remembered (shorter where retention deletes the
/// message first: a key lives with its message).
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// What a submission whose key is already held by `existing` (in the same
/// room) gets at `now`: the stored message again, a refusal when it differs,
/// or `None` when the key has expired and the submission is a new message.
pub fn answer_repeat(
    submission: &NewMessage,
    existing: Message,
    now: DateTime<Utc>,
) -> Option<Result<Appended, AppendError>> {
    let lifetime = TimeDelta::from_std(KEY_LIFETIME).expect("a day fits in a TimeDelta");
    if existing.created_at + lifetime <= now {
        return None;
    }
    Some(if submission.matches(&existing) {
        Ok(Appended {
            message: existing,
            replayed: true,
        })
    } else {
        Err(AppendError::KeyReused)
    })
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::{IdempotencyKey, RoomName};

    fn submission(body: &str, author: Option<&str>) -> NewMessage {
        NewMessage::new(body.into(), author.map(Into::into))
            .unwrap()
            .with_idempotency_key(IdempotencyKey::parse("k").unwrap())
    }

    fn stored_at(created_at: DateTime<Utc>) -> Message {
        submission("hi", Some("ann")).into_message(Uuid::nil(), RoomName::general(), created_at)
    }

    #[test]
    fn a_repeat_within_a_day_replays_the_stored_message() {
        let then = Utc::now();
        let answer = answer_repeat(&submission("hi", Some("ann")), stored_at(then), then)
            .unwrap()
            .unwrap();
        assert!(answer.replayed);
        assert_eq!(answer.message, stored_at(then));
    }

    #[test]
    fn another_body_or_author_under_the_key_is_refused() {
        let then = Utc::now();
        for other in [submission("ho", Some("ann")), submission("hi", None)] {
            assert!(matches!(
                answer_repeat(&other, stored_at(then), then),
                Some(Err(AppendError::KeyReused))
            ));
        }
    }

    #[test]
    fn after_a_day_the_key_posts_a_new_message() {
        let then = Utc::now();
        let later = then + TimeDelta::hours(24);
        assert!(answer_repeat(&submission("hi", Some("ann")), stored_at(then), later).is_none());
    }
}
