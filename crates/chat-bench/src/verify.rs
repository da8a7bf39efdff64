//! Checks what a poller received against what was posted: every message
//! exactly once and in order, or the difference counted.

use std::collections::HashMap;
use std::ops::AddAssign;

use serde::Serialize;
use uuid::Uuid;

/// How a received sequence differs from the posted one. Every field but
/// `expected` and `received` counts errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// How many messages were posted.
    pub expected: usize,
    /// How many messages were received, errors included.
    pub received: usize,
    /// Receipts of a message already received.
    pub duplicates: usize,
    /// Posted messages never received (gaps).
    pub missing: usize,
    /// Messages received after one that was posted later.
    pub out_of_order: usize,
    /// Received messages that were never posted (by this run).
    pub unexpected: usize,
}

impl Verification {
    /// Compares `received` with `posted`, both in order: `posted` in the
    /// order the room holds them (for one poster, the order of its posts; for
    /// several, their ids sorted, since ids increase in the room's order).
    pub fn check(posted: &[Uuid], received: &[Uuid]) -> Self {
        let position: HashMap<Uuid, usize> = posted
            .iter()
            .enumerate()
            .map(|(index, id)| (*id, index))
            .collect();
        let mut seen = vec![false; posted.len()];
        let mut report = Self {
            expected: posted.len(),
            received: received.len(),
            ..Self::default()
        };
        // The latest posting position received so far: a message from before
        // it arrives out of order.
        let mut furthest = None;
        for id in received {
            let Some(&index) = position.get(id) else {
                report.unexpected += 1;
                continue;
            };
            if std::mem::replace(&mut seen[index], true) {
                report.duplicates += 1;
                continue;
            }
            if furthest.is_some_and(|furthest| index < furthest) {
                report.out_of_order += 1;
            }
            furthest = furthest.max(Some(index));
        }
        report.missing = seen.iter().filter(|&&seen| !seen).count();
        report
    }

    /// How many errors were found.
    pub fn errors(&self) -> usize {
        self.duplicates + self.missing + self.out_of_order + self.unexpected
    }
}

/// Sums the checks of several pollers.
impl AddAssign for Verification {
    fn add_assign(&mut self, other: Self) {
        self.expected += other.expected;
        self.received += other.received;
        self.duplicates += other.duplicates;
        self.missing += other.missing;
        self.out_of_order += other.out_of_order;
        self.unexpected += other.unexpected;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(count: u128) -> Vec<Uuid> {
        (1..=count).map(Uuid::from_u128).collect()
    }

    #[test]
    fn a_clean_sequence_passes() {
        let posted = ids(5);
        let check = Verification::check(&posted, &posted);
        assert_eq!(check.errors(), 0);
        assert_eq!((check.expected, check.received), (5, 5));
        assert_eq!(Verification::check(&[], &[]).errors(), 0);
    }

    #[test]
    fn a_duplicate_is_detected() {
        let posted = ids(3);
        let received = [posted[0], posted[1], posted[1], posted[2]];
        let check = Verification::check(&posted, &received);
        assert_eq!(check.duplicates, 1);
        assert_eq!(check.errors(), 1);
        assert_eq!(check.received, 4);
    }

    #[test]
    fn a_gap_is_detected() {
        let posted = ids(4);
        let received = [posted[0], posted[2], posted[3]];
        let check = Verification::check(&posted, &received);
        assert_eq!(check.missing, 1);
        assert_eq!(check.errors(), 1);
    }

    #[test]
    fn a_message_arriving_late_is_out_of_order_not_missing() {
        let posted = ids(4);
        let received = [posted[0], posted[2], posted[1], posted[3]];
        let check = Verification::check(&posted, &received);
        assert_eq!(check.out_of_order, 1);
        assert_eq!(check.missing, 0);
        assert_eq!(check.errors(), 1);
    }

    #[test]
    fn a_foreign_message_is_unexpected() {
        let posted = ids(2);
        let received = [posted[0], Uuid::from_u128(99), posted[1]];
        let check = Verification::check(&posted, &received);
        assert_eq!(check.unexpected, 1);
        assert_eq!(check.errors(), 1);
    }

    #[test]
    fn nothing_received_means_everything_missing() {
        let check = Verification::check(&ids(3), &[]);
        assert_eq!(check.missing, 3);
    }

    #[test]
    fn checks_add_up_across_pollers() {
        let posted = ids(2);
        let mut total = Verification::check(&posted, &posted);
        total += Verification::check(&posted, &posted[..1]);
        assert_eq!((total.expected, total.received, total.missing), (4, 3, 1));
    }
}
