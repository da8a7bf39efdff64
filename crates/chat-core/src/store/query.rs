//! What a read asks for ([`ReadQuery`]), what it answers ([`Page`]), and the
//! cursor rule, written once: which messages of a room a query selects.

use std::ops::Range;

use uuid::Uuid;

use crate::Message;

/// Which messages a read returns; always oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadQuery {
    /// The oldest `limit` messages whose id is greater than `cursor`.
    After {
        /// Exclusive lower bound (any UUID; nil means "from the start").
        cursor: Uuid,
        /// Most messages returned.
        limit: usize,
    },
    /// The newest `limit` messages whose id is less than `cursor`.
    Before {
        /// Exclusive upper bound.
        cursor: Uuid,
        /// Most messages returned.
        limit: usize,
    },
    /// The newest `limit` messages of the room.
    Latest {
        /// Most messages returned.
        limit: usize,
    },
}

impl ReadQuery {
    /// The range of `messages` (sorted by id, as a room holds them) that the
    /// query selects. This is the contract's cursor rule; a backend that
    /// reads with SQL writes the same rule as `id > ?` or `id < ?` ordered
    /// by id.
    pub fn select(&self, messages: &[Message]) -> Range<usize> {
        match *self {
            Self::After { cursor, limit } => {
                let start = messages.partition_point(|m| m.id <= cursor);
                start..messages.len().min(start.saturating_add(limit))
            }
            Self::Before { cursor, limit } => {
                let end = messages.partition_point(|m| m.id < cursor);
                end.saturating_sub(limit)..end
            }
            Self::Latest { limit } => messages.len().saturating_sub(limit)..messages.len(),
        }
    }

    /// True when the query certainly selects nothing from a room whose
    /// newest id ever is `newest` (`None`: the room never had a message):
    /// what every parked poll asks, answerable without reading the room.
    pub fn selects_nothing_up_to(&self, newest: Option<Uuid>) -> bool {
        match (*self, newest) {
            (_, None) => true,
            (Self::After { cursor, .. }, Some(newest)) => newest <= cursor,
            (Self::Before { .. } | Self::Latest { .. }, Some(_)) => false,
        }
    }

    /// The query that continues after a page whose last message is `last`:
    /// the next messages newer than it, with the same limit.
    pub fn continue_after(&self, last: Uuid) -> Self {
        let (Self::After { limit, .. } | Self::Before { limit, .. } | Self::Latest { limit }) =
            *self;
        Self::After {
            cursor: last,
            limit,
        }
    }
}

/// The answer to a read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The messages, oldest first.
    pub messages: Vec<Message>,
    /// True when retention deleted messages newer than an `after` cursor, so
    /// the page starts at the oldest retained message and the reader missed
    /// some.
    pub truncated: bool,
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::{NewMessage, RoomName};

    fn messages(ids: &[u128]) -> Vec<Message> {
        ids.iter()
            .map(|&id| {
                NewMessage::new(id.to_string(), None).unwrap().into_message(
                    Uuid::from_u128(id),
                    RoomName::general(),
                    Utc::now(),
                )
            })
            .collect()
    }

    fn selected(query: ReadQuery, ids: &[u128]) -> Vec<u128> {
        let messages = messages(ids);
        messages[query.select(&messages)]
            .iter()
            .map(|m| m.id.as_u128())
            .collect()
    }

    fn after(cursor: u128, limit: usize) -> ReadQuery {
        ReadQuery::After {
            cursor: Uuid::from_u128(cursor),
            limit,
        }
    }

    #[test]
    fn after_selects_the_oldest_newer_than_the_cursor() {
        assert_eq!(selected(after(2, 10), &[1, 2, 3, 4]), [3, 4]);
        assert_eq!(selected(after(2, 1), &[1, 2, 3, 4]), [3]);
        // A cursor between ids, or past them all.
        assert_eq!(selected(after(5, 10), &[2, 4, 6, 8]), [6, 8]);
        assert!(selected(after(9, 10), &[2, 4, 6, 8]).is_empty());
    }

    #[test]
    fn before_and_latest_select_the_newest_oldest_first() {
        let before = ReadQuery::Before {
            cursor: Uuid::from_u128(4),
            limit: 2,
        };
        assert_eq!(selected(before, &[1, 2, 3, 4, 5]), [2, 3]);
        let latest = ReadQuery::Latest { limit: 2 };
        assert_eq!(selected(latest, &[1, 2, 3, 4, 5]), [4, 5]);
    }

    #[test]
    fn a_cursor_at_or_past_the_newest_id_selects_nothing() {
        let newest = Some(Uuid::from_u128(5));
        assert!(after(5, 10).selects_nothing_up_to(newest));
        assert!(after(6, 10).selects_nothing_up_to(newest));
        assert!(!after(4, 10).selects_nothing_up_to(newest));
        assert!(!ReadQuery::Latest { limit: 1 }.selects_nothing_up_to(newest));
        assert!(ReadQuery::Latest { limit: 1 }.selects_nothing_up_to(None));
    }

    #[test]
    fn continuing_keeps_the_limit_and_moves_the_cursor() {
        let next = ReadQuery::Latest { limit: 7 }.continue_after(Uuid::from_u128(3));
        assert_eq!(next, after(3, 7));
    }
}
