//! Nchan's message ids, as the bench carries them.
//!
//! Nchan names a message `SECONDS:TAG`: the second it was published (Unix
//! time) and its place among the messages of that second. A long-poll answer
//! gives the same pair as `Last-Modified` (an HTTP date) and `Etag` (the
//! tag), and the next poll sends them back as `If-Modified-Since` and
//! `If-None-Match`; an event stream gives `id: SECONDS:TAG`. The bench keeps
//! a message id as a [`Uuid`] for every protocol, so the verification and
//! the scenarios stay the same: here the seconds are its high 64 bits and
//! the tag its low 64, which keeps Nchan's order as the order of the ids.
//!
//! The tag is a signed 16-bit number: past 32,767 messages in one second it
//! goes on at -32,768 (as a publish run at tens of thousands of POSTs per
//! second shows). It is kept as the unsigned 16-bit number with the same
//! bits, which keeps the order of up to 65,536 messages a second, and
//! written back as Nchan wrote it.

use uuid::Uuid;

/// The id Nchan calls `seconds:tag`.
pub fn message_id(seconds: u64, tag: i16) -> Uuid {
    Uuid::from_u64_pair(seconds, u64::from(tag as u16))
}

/// Parses `SECONDS:TAG` (a publish answer's `last_message_id`, an event's
/// `id:`). Nchan writes `SECONDS:[TAG]` for multiplexed channels, which the
/// bench does not use, so that form is refused.
pub fn parse_message_id(text: &str) -> Option<Uuid> {
    let (seconds, tag) = text.trim().split_once(':')?;
    Some(message_id(number(seconds)?, parse_tag(tag)?))
}

/// The id a long-poll answer carries in `Last-Modified` and `Etag`.
pub fn id_from_headers(last_modified: &str, etag: &str) -> Option<Uuid> {
    let tag = etag.trim().trim_start_matches("W/").trim_matches('"');
    Some(message_id(parse_http_date(last_modified)?, parse_tag(tag)?))
}

/// A tag as Nchan writes it: a signed 16-bit number.
fn parse_tag(text: &str) -> Option<i16> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    number(digits)?;
    text.parse().ok()
}

/// `If-Modified-Since` and `If-None-Match` for a poll that wants the message
/// after `cursor`, or `None` for the nil id (no message yet: no headers).
pub fn cursor_headers(cursor: Uuid) -> Option<(String, String)> {
    if cursor.is_nil() {
        return None;
    }
    let (seconds, tag) = cursor.as_u64_pair();
    // Back to the signed tag Nchan wrote (the low 16 bits are all there is).
    Some((http_date(seconds), (tag as u16 as i16).to_string()))
}

fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

const SECONDS_PER_DAY: u64 = 86_400;
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Unix time as an HTTP date (`Wed, 02 Dec 2026 17:15:56 GMT`, RFC 9110's
/// IMF-fixdate), as nginx writes `Last-Modified`.
fn http_date(seconds: u64) -> String {
    let days = seconds / SECONDS_PER_DAY;
    let of_day = seconds % SECONDS_PER_DAY;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// Parses an IMF-fixdate back to Unix time.
fn parse_http_date(text: &str) -> Option<u64> {
    let mut fields = text.trim().split(' ');
    let _weekday = fields.next()?;
    let day = number(fields.next()?)?;
    let month_name = fields.next()?;
    let month = MONTHS.iter().position(|name| *name == month_name)? as u64 + 1;
    let year = number(fields.next()?)?;
    let mut time = fields.next()?.split(':').map(number);
    let (hours, minutes, seconds) = (time.next()??, time.next()??, time.next()??);
    if fields.next() != Some("GMT") || fields.next().is_some() || time.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || hours > 23 || minutes > 59 || seconds > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * SECONDS_PER_DAY + hours * 3600 + minutes * 60 + seconds)
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's
/// `civil_from_days` (dates from 1970 on only).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = year - u64::from(month <= 2);
    let era = year / 400;
    let year_of_era = year % 400;
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_written_and_read_as_nginx_does() {
        assert_eq!(http_date(1_796_231_756), "Wed, 02 Dec 2026 17:15:56 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        for seconds in [0, 951_782_400, 1_796_231_756, 4_102_444_799] {
            assert_eq!(parse_http_date(&http_date(seconds)), Some(seconds));
        }
        for bad in [
            "",
            "Wed, 02 Dec 2026 17:15:56",
            "Wed, 02 Foo 2026 17:15:56 GMT",
            "Wed, 02 Dec 2026 25:15:56 GMT",
            "Wed, 02 Dec 2026 17:15 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_answer_s_headers_and_its_event_id_name_the_same_message() {
        let from_headers = id_from_headers("Wed, 02 Dec 2026 17:15:56 GMT", "3").unwrap();
        assert_eq!(parse_message_id("1796231756:3"), Some(from_headers));
        assert_eq!(
            id_from_headers("Wed, 02 Dec 2026 17:15:56 GMT", "\"3\""),
            Some(from_headers)
        );
        assert_eq!(
            cursor_headers(from_headers),
            Some(("Wed, 02 Dec 2026 17:15:56 GMT".to_owned(), "3".to_owned()))
        );
        assert_eq!(cursor_headers(Uuid::nil()), None);
    }

    #[test]
    fn ids_keep_nchan_s_order() {
        let ids = [
            "1796231756:0",
            "1796231756:1",
            "1796231756:10",
            "1796231757:0",
        ]
        .map(|text| parse_message_id(text).unwrap());
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "1796231756",
            "1796231756:[0,1]",
            "x:0",
            "1:--1",
            "1:40000",
            "-1:0",
            ":",
        ] {
            assert_eq!(parse_message_id(bad), None, "{bad:?}");
        }
        assert_eq!(id_from_headers("not a date", "0"), None);
        assert_eq!(id_from_headers("Wed, 02 Dec 2026 17:15:56 GMT", "x"), None);
    }
}
