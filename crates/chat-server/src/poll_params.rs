//! The query string of a GET: `after`, `before`, `limit` and `timeout`,
//! checked strictly (an empty, repeated or out-of-range value is a 400, never
//! clamped); unknown parameters are ignored.

use std::time::Duration;

use chat_core::ReadQuery;
use uuid::Uuid;

use crate::config::PollLimits;
use crate::ApiError;

/// Messages per response when the GET gives no `limit`.
const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` accepted.
const MAX_LIMIT: usize = 1000;

/// What a GET asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PollParams {
    /// Which messages to return.
    pub query: ReadQuery,
    /// How long to wait when there are none (zero for `before`, which never
    /// waits).
    pub wait: Duration,
}

impl PollParams {
    /// Parses and validates a raw query string.
    pub fn parse(query_string: &str, limits: &PollLimits) -> Result<Self, ApiError> {
        let mut after = None;
        let mut before = None;
        let mut limit = None;
        let mut timeout = None;
        for (name, value) in form_urlencoded::parse(query_string.as_bytes()) {
            let slot = match name.as_ref() {
                "after" => &mut after,
                "before" => &mut before,
                "limit" => &mut limit,
                "timeout" => &mut timeout,
                _ => continue,
            };
            if slot.is_some() {
                return Err(invalid(format!("`{name}` is given more than once")));
            }
            if value.is_empty() {
                return Err(invalid(format!("`{name}` must not be empty")));
            }
            *slot = Some(value.into_owned());
        }

        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(text) => parse_integer(&text)
                .filter(|n| (1..=MAX_LIMIT as u64).contains(n))
                .ok_or_else(|| {
                    invalid(format!("`limit` must be an integer from 1 to {MAX_LIMIT}"))
                })? as usize,
        };
        let wait = match timeout {
            None => limits.default_timeout,
            Some(text) => parse_integer(&text)
                .filter(|&n| n <= limits.max_timeout_secs)
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    invalid(format!(
                        "`timeout` must be a whole number of seconds from 0 to {}",
                        limits.max_timeout_secs
                    ))
                })?,
        };
        let after = after.map(|text| parse_cursor("after", &text)).transpose()?;
        let before = before
            .map(|text| parse_cursor("before", &text))
            .transpose()?;
        match (after, before) {
            (Some(_), Some(_)) => Err(invalid(
                "`after` and `before` cannot be used together".into(),
            )),
            (Some(cursor), None) => Ok(Self {
                query: ReadQuery::After { cursor, limit },
                wait,
            }),
            (None, Some(cursor)) => Ok(Self {
                query: ReadQuery::Before { cursor, limit },
                wait: Duration::ZERO,
            }),
            (None, None) => Ok(Self {
                query: ReadQuery::Latest { limit },
                wait,
            }),
        }
    }
}

fn invalid(message: String) -> ApiError {
    ApiError::InvalidParameter(message)
}

/// Only ASCII digits: no sign, no fraction, no exponent, no white space.
fn parse_integer(text: &str) -> Option<u64> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

/// A UUID in the hyphenated 8-4-4-4-12 form, in any letter case.
pub(crate) fn parse_cursor(name: &str, text: &str) -> Result<Uuid, ApiError> {
    let hyphenated = text.len() == 36
        && text
            .bytes()
            .enumerate()
            .all(|(i, b)| matches!(i, 8 | 13 | 18 | 23) == (b == b'-'));
    hyphenated
        .then(|| Uuid::try_parse(text).ok())
        .flatten()
        .ok_or_else(|| {
            invalid(format!(
                "`{name}` must be a UUID like 01936f0e-8a3c-7c1e-9d2b-3f4a5b6c7d8e"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: PollLimits = PollLimits {
        default_timeout: Duration::from_secs(10),
        max_timeout_secs: 60,
        ping_interval: Duration::from_secs(15),
    };
    const ID: &str = "01936f0e-8a3c-7c1e-9d2b-3f4a5b6c7d8e";

    fn parse(query: &str) -> Result<PollParams, ApiError> {
        PollParams::parse(query, &LIMITS)
    }

    #[test]
    fn no_parameters_mean_the_latest_hundred_with_the_default_wait() {
        let params = parse("").unwrap();
        assert_eq!(params.query, ReadQuery::Latest { limit: 100 });
        assert_eq!(params.wait, Duration::from_secs(10));
    }

    #[test]
    fn after_takes_any_letter_case_and_before_never_waits() {
        let upper = parse(&format!("after={}&limit=5&timeout=0", ID.to_uppercase())).unwrap();
        assert_eq!(
            upper.query,
            ReadQuery::After {
                cursor: ID.parse().unwrap(),
                limit: 5
            }
        );
        assert_eq!(upper.wait, Duration::ZERO);
        let before = parse(&format!("before={ID}&timeout=30")).unwrap();
        assert_eq!(before.wait, Duration::ZERO);
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        assert!(parse("foo=bar&foo=baz&limit=1").is_ok());
    }

    #[test]
    fn bad_values_are_rejected_not_clamped() {
        let simple = ID.replace('-', "");
        for query in [
            "limit=0".to_owned(),
            "limit=1001".to_owned(),
            "limit=+5".to_owned(),
            "limit=5.0".to_owned(),
            "limit=".to_owned(),
            "limit=1&limit=2".to_owned(),
            "timeout=61".to_owned(),
            "timeout=1.5".to_owned(),
            "timeout=-1".to_owned(),
            "timeout= 1".to_owned(),
            "after=not-a-uuid".to_owned(),
            format!("after={simple}"),
            format!("after={{{ID}}}"),
            format!("after=urn:uuid:{ID}"),
            format!("after={ID}&before={ID}"),
            format!("after={ID}&after={ID}"),
            "before=".to_owned(),
        ] {
            assert!(
                matches!(parse(&query), Err(ApiError::InvalidParameter(_))),
                "{query:?} should be rejected"
            );
        }
    }
}
