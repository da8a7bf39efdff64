//! Message ids: UUIDv7 values that strictly increase per store.
//!
//! A UUIDv7 is a 48-bit Unix timestamp in milliseconds, the version nibble,
//! 12 bits `rand_a`, the variant bits and 62 bits `rand_b` (RFC 9562). Ids
//! compare as unsigned 128-bit numbers, so a fresh random id is only
//! "greater" than the previous one if the clock moved forward. When it did not
//! (several messages in one millisecond, or a clock that stepped back), the
//! generator uses the previous id plus one in the 74 random bits, carrying
//! into the timestamp (RFC 9562, section 6.2, method 2). This keeps `after`
//! a correct cursor whatever the clock does.

use chrono::{DateTime, Utc};
use uuid::Uuid;

const RAND_A_BITS: u32 = 12;
const RAND_B_BITS: u32 = 62;
const COUNTER_BITS: u32 = RAND_A_BITS + RAND_B_BITS;
const COUNTER_MAX: u128 = (1 << COUNTER_BITS) - 1;
const RAND_B_MASK: u128 = (1 << RAND_B_BITS) - 1;
const VERSION_7: u128 = 0x7;
const VARIANT_RFC: u128 = 0b10;

/// Hands out strictly increasing UUIDv7 ids.
///
/// One generator serves a whole store, under the store's write lock, so ids
/// increase in the order messages become visible in every room.
#[derive(Debug, Default, Clone)]
pub struct IdGenerator {
    last: Option<Uuid>,
}

impl IdGenerator {
    /// A generator whose ids will all be greater than `last` (the newest id a
    /// store already holds), or a fresh one when `last` is `None`.
    pub fn starting_after(last: Option<Uuid>) -> Self {
        Self { last }
    }

    /// The next id: from `now` when that sorts after the last id, otherwise
    /// the last id plus one.
    pub fn next(&mut self, now: DateTime<Utc>) -> Uuid {
        let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let fresh = compose(u128::from(millis), rand::random::<u128>() & COUNTER_MAX);
        let id = match self.last {
            Some(last) if fresh <= last => successor(last),
            _ => fresh,
        };
        self.last = Some(id);
        id
    }
}

/// The smallest UUIDv7 greater than `id`.
fn successor(id: Uuid) -> Uuid {
    let value = id.as_u128();
    let millis = value >> 80;
    let counter = (((value >> 64) & 0xFFF) << RAND_B_BITS) | (value & RAND_B_MASK);
    if counter == COUNTER_MAX {
        compose(millis + 1, 0)
    } else {
        compose(millis, counter + 1)
    }
}

/// Builds a UUIDv7 from a millisecond timestamp and a 74-bit counter.
fn compose(millis: u128, counter: u128) -> Uuid {
    let rand_a = counter >> RAND_B_BITS;
    let rand_b = counter & RAND_B_MASK;
    Uuid::from_u128(
        (millis << 80) | (VERSION_7 << 76) | (rand_a << 64) | (VARIANT_RFC << 62) | rand_b,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(millis).unwrap()
    }

    #[test]
    fn ids_are_version_7_with_the_clock_time() {
        let id = IdGenerator::default().next(at(1_764_000_000_123));
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
        assert_eq!((secs, nanos / 1_000_000), (1_764_000_000, 123));
    }

    #[test]
    fn ids_strictly_increase_when_the_clock_stands_still() {
        let mut ids = IdGenerator::default();
        let generated: Vec<Uuid> = (0..10_000).map(|_| ids.next(at(1_000))).collect();
        assert!(generated.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(generated.iter().all(|id| id.get_version_num() == 7));
    }

    #[test]
    fn ids_strictly_increase_when_the_clock_steps_back() {
        let mut ids = IdGenerator::default();
        let now = at(1_764_000_000_000);
        let first = ids.next(now);
        let after_step_back = ids.next(now - TimeDelta::hours(1));
        assert!(after_step_back > first);
        assert_eq!(after_step_back.get_version_num(), 7);
    }

    #[test]
    fn a_generator_resumes_after_the_newest_stored_id() {
        let stored = IdGenerator::default().next(at(2_000_000_000_000));
        let mut ids = IdGenerator::starting_after(Some(stored));
        assert!(ids.next(at(1_000)) > stored);
    }

    #[test]
    fn a_full_counter_carries_into_the_timestamp() {
        let last = compose(5, COUNTER_MAX);
        let next = successor(last);
        assert!(next > last);
        assert_eq!(next, compose(6, 0));
        assert_eq!(next.get_version_num(), 7);
    }
}
