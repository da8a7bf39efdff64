//! Room patterns of the access-control file: `*` matches any run of
//! characters (the empty run too), everything else matches literally and
//! case-sensitively, and a pattern matches the whole room name.

use std::fmt;

/// A validated room pattern such as `team-*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPattern(String);

/// A pattern with a character that is neither a room-name character nor `*`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("room pattern `{0}` may only contain A-Z, a-z, 0-9, `_`, `-` and `*`")]
pub struct InvalidPattern(pub String);

impl RoomPattern {
    /// Checks the characters of `text`.
    pub fn parse(text: &str) -> Result<Self, InvalidPattern> {
        let valid = text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'*'));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidPattern(text.to_owned()))
        }
    }

    /// True when the whole of `room` matches. `room` is the raw name from
    /// the path, so an invalid name is refused (or not) here before it is
    /// checked for shape.
    pub fn matches(&self, room: &str) -> bool {
        wildcard_match(self.0.as_bytes(), room.as_bytes())
    }
}

impl fmt::Display for RoomPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Glob matching with `*` only, in O(pattern × text) at worst and without
/// recursion: on a mismatch, backtrack to just after the last `*` and let it
/// swallow one more byte.
fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            last_star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star, matched)) = last_star {
            p = star + 1;
            t = matched + 1;
            last_star = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, room: &str) -> bool {
        RoomPattern::parse(pattern).unwrap().matches(room)
    }

    #[test]
    fn a_star_matches_any_run_including_the_empty_one() {
        assert!(matches("*", "general"));
        assert!(matches("*", ""));
        assert!(matches("team-*", "team-"));
        assert!(matches("team-*", "team-blue"));
        assert!(matches("*-ops", "web-ops"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(matches("a*b*c", "abc"));
        assert!(matches("**", "x"));
    }

    #[test]
    fn the_rest_matches_literally_case_sensitively_and_wholly() {
        assert!(matches("general", "general"));
        assert!(!matches("general", "General"));
        assert!(!matches("general", "general2"));
        assert!(!matches("team-*", "my-team-blue"));
        assert!(!matches("team-*", "team"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(!matches("", "x"));
    }

    #[test]
    fn only_room_name_characters_and_stars_are_accepted() {
        for bad in ["team ", "a.b", "é", "room/x", "?", "[a]"] {
            assert!(RoomPattern::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RoomPattern::parse("Team_-9*").is_ok());
    }
}
