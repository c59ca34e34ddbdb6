//! An event's `time`: RFC 3339 text, read as the `time` crate reads it, with a quick path for
//! the form Teleport writes (`2025-12-02T07:14:36.123456789Z`: UTC, up to nine fraction digits).
//! The `time` crate's general parser cost about 1% of a client's CPU; the quick path reads the
//! digits in place and takes anything else (an offset, a lowercase `t` or `z`, a leap second,
//! more fraction digits, a bad date) to the general parser, which gives the same answer.

use std::ops::Range;

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// Parses RFC 3339 text as `OffsetDateTime::parse(text, &Rfc3339)` does.
///
/// # Errors
///
/// The `time` crate's, for text that is not an RFC 3339 time.
pub(crate) fn parse_rfc3339(text: &str) -> Result<OffsetDateTime, time::error::Parse> {
    match quick_utc(text.as_bytes()) {
        Some(time) => Ok(time),
        None => OffsetDateTime::parse(text, &Rfc3339),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.F{1,9}]Z` with a valid date and time, else `None`.
fn quick_utc(text: &[u8]) -> Option<OffsetDateTime> {
    let number = |range: Range<usize>| {
        text.get(range)?.iter().try_fold(0u32, |value, &digit| {
            digit
                .is_ascii_digit()
                .then(|| value * 10 + u32::from(digit - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators
        .iter()
        .any(|&(at, byte)| text.get(at) != Some(&byte))
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let (nanos, end) = match text.get(19) {
        Some(b'.') => {
            let digits = text
                .get(20..)?
                .iter()
                .take_while(|byte| byte.is_ascii_digit())
                .count();
            if !(1..=9).contains(&digits) {
                return None;
            }
            let scale = 10u32.pow(9 - u32::try_from(digits).ok()?);
            (number(20..20 + digits)? * scale, 20 + digits)
        }
        _ => (0, 19),
    };
    if text.get(end..) != Some(b"Z".as_slice()) {
        return None;
    }
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let time = Time::from_hms_nano(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
        nanos,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Outcome = Result<(OffsetDateTime, time::UtcOffset), String>;

    /// A parse's result with the offset (`OffsetDateTime`'s equality compares instants only).
    fn outcome(parsed: Result<OffsetDateTime, time::error::Parse>) -> Outcome {
        parsed
            .map(|time| (time, time.offset()))
            .map_err(|error| error.to_string())
    }

    fn general(text: &str) -> Outcome {
        outcome(OffsetDateTime::parse(text, &Rfc3339))
    }

    fn ours(text: &str) -> Outcome {
        outcome(parse_rfc3339(text))
    }

    #[test]
    fn teleports_form_takes_the_quick_path() {
        let quick = [
            "2025-12-02T07:14:36Z",
            "2025-12-02T07:14:36.5Z",
            "2025-12-02T07:14:36.123456789Z",
            "0000-01-01T00:00:00Z",
            "2024-02-29T23:59:59.000000001Z",
        ];
        let general_only = [
            "2025-12-02T07:14:36+01:00",
            "2025-12-02t07:14:36Z",
            "2025-12-02T07:14:36z",
            "2025-12-02T07:14:36.Z",
            "2025-12-02T07:14:36.1234567890Z",
            "2025-02-29T07:14:36Z",
            "2016-12-31T23:59:60Z",
            "2025-12-02T07:14:36Z ",
            "2025-12-02T07:14",
            "",
        ];
        let cases = quick.map(|text| (text, true));
        for (text, is_quick) in cases
            .into_iter()
            .chain(general_only.map(|text| (text, false)))
        {
            assert_eq!(quick_utc(text.as_bytes()).is_some(), is_quick, "{text}");
            assert_eq!(ours(text), general(text), "{text}");
        }
    }

    proptest! {
        /// Text near Teleport's form (and some far from it) is read as the `time` crate reads
        /// it: the same instant and offset, or an error.
        #[test]
        fn reads_what_the_time_crate_reads(
            text in prop_oneof![
                8 => "[0-9]{4}-[01][0-9]-[0-3][0-9][Tt][0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{0,11})?([Zz]|[+-][01][0-9]:[0-5][0-9])?",
                1 => "[0-9T:.Z+-]{0,32}",
                1 => ".{0,32}",
            ],
        ) {
            prop_assert_eq!(ours(&text), general(&text), "{}", text);
        }
    }
}
