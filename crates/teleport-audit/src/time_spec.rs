//! Times and durations as people write them in settings: a backfill start, an end time, a
//! timeout.
//!
//! - [`parse_time`]: an RFC 3339 time (`2025-12-01T00:00:00Z`, `2025-12-01T01:00:00+01:00`), a
//!   bare date (`2025-12-01`, midnight UTC), a unix time in seconds (10 digits, `1764547200`) or
//!   milliseconds (13 digits, `1764547200000`), or an age (`90m`, `24h`, `7d`, `1h30m`: that long
//!   before now). The [`ParsedTime`] says how the text was read ([`TimeForm`]), so a program can
//!   tell its user ("backfill from 2025-12-01T00:00:00Z (read as unix seconds)").
//! - [`parse_backfill_start`]: the same, refusing a time in the future.
//! - [`parse_duration`] (`30s`, `90m`, `24h`, `7d`, `1h30m`, `250ms`, read by the `humantime`
//!   crate) and [`parse_signed_duration`] (`-1h`, `+30m`: a clock offset).
//!
//! Anything ambiguous is refused with a [`TimeSpecError`] that says how it would be read: a
//! number without a unit that is too short to be a unix time (`90`: an age needs a unit, `90s`
//! or `90m`), a number of digits that fits neither unix form, a date and time without a UTC
//! offset.
//!
//! ```
//! use teleport_audit::time_spec::{TimeForm, parse_time};
//! use time::macros::datetime;
//!
//! let now = datetime!(2026-01-01 12:00 UTC);
//! let read = parse_time("1764547200", now)?;
//! assert_eq!(read.time(), datetime!(2025-12-01 0:00 UTC));
//! assert_eq!(read.form(), TimeForm::UnixSeconds);
//! assert_eq!(read.to_string(), "2025-12-01T00:00:00Z (read as unix seconds)");
//!
//! assert_eq!(parse_time("24h", now)?.time(), datetime!(2025-12-31 12:00 UTC));
//! assert!(parse_time("90", now).is_err()); // 90 seconds? 90 minutes? 1970?
//! # Ok::<(), teleport_audit::time_spec::TimeSpecError>(())
//! ```

use std::fmt;
use std::time::Duration;

use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// How many characters of the text an error quotes at most.
const QUOTE_LIMIT: usize = 64;

/// Numbers without a unit up to this many digits are refused as ambiguous (an age without its
/// unit); longer ones must have the digits of a unix time.
const MAX_UNITLESS_DIGITS: usize = 6;

/// Digits of a unix time in seconds (2001-09-09 to 2286-11-20).
const UNIX_SECONDS_DIGITS: usize = 10;

/// Digits of a unix time in milliseconds (2001-09-09 to 2286-11-20).
const UNIX_MILLIS_DIGITS: usize = 13;

/// A date and time without an offset, as people write them (to say that the offset is missing).
const LOCAL_DATE_TIME: &[BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day][first [T][t][ ]][hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
);

/// A bare date.
const DATE: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// A time read by [`parse_time`], and how it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParsedTime {
    time: OffsetDateTime,
    form: TimeForm,
}

impl ParsedTime {
    /// The instant (with the offset it was written with, UTC for the other forms).
    pub fn time(&self) -> OffsetDateTime {
        self.time
    }

    /// How the text was read.
    pub fn form(&self) -> TimeForm {
        self.form
    }
}

/// `2025-12-01T00:00:00Z (read as unix seconds)`: the instant in UTC, and how it was read.
impl fmt::Display for ParsedTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (read as {})", rfc3339(self.time), self.form)
    }
}

/// How [`parse_time`] read a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeForm {
    /// An RFC 3339 time with `Z` or an offset: `2025-12-01T00:00:00Z`.
    Rfc3339,
    /// A bare date, at midnight UTC: `2025-12-01`.
    Date,
    /// Seconds since 1970-01-01T00:00:00Z, 10 digits: `1764547200`.
    UnixSeconds,
    /// Milliseconds since 1970-01-01T00:00:00Z, 13 digits: `1764547200000`.
    UnixMilliseconds,
    /// An age: this long before now (`24h`).
    Age(Duration),
}

impl fmt::Display for TimeForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rfc3339 => f.write_str("an RFC 3339 time"),
            Self::Date => f.write_str("a date, at midnight UTC"),
            Self::UnixSeconds => f.write_str("unix seconds"),
            Self::UnixMilliseconds => f.write_str("unix milliseconds"),
            Self::Age(age) => write!(f, "an age: {} before now", humantime::format_duration(*age)),
        }
    }
}

/// Why a text is not a time or a duration. Each variant quotes the text (its first 64
/// characters) and says what would be accepted; the parser's own error, where there is one, is
/// only the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TimeSpecError {
    /// Nothing was given (or only spaces).
    #[error("no time or duration given")]
    Empty,
    /// A number without a unit, too short to be a unix time: an age is missing its unit.
    #[error(
        "{input:?} is a number without a unit: write {input}s or {input}m for an age; a unix \
         time has 10 digits (seconds) or 13 (milliseconds)"
    )]
    UnitlessNumber {
        /// The number as given.
        input: String,
    },
    /// A number of digits that fits neither unix form.
    #[error(
        "{input:?} has {digits} digits: a unix time has 10 (seconds) or 13 (milliseconds), and \
         an age needs a unit (90m, 24h, 7d)"
    )]
    UnixDigits {
        /// The number as given (its first 64 characters).
        input: String,
        /// How many digits it has.
        digits: usize,
    },
    /// A date and time without `Z` or an offset: UTC or local time?
    #[error(
        "{input:?} has no UTC offset: add Z for UTC ({suggestion}) or an offset such as +01:00"
    )]
    MissingOffset {
        /// The text as given (its first 64 characters).
        input: String,
        /// The same time in UTC, as it should be written.
        suggestion: String,
    },
    /// It starts like a date but is not a valid date or RFC 3339 time.
    #[error("{input:?} is not a valid date (2025-12-01) or RFC 3339 time (2025-12-01T00:00:00Z)")]
    InvalidDate {
        /// The text as given (its first 64 characters).
        input: String,
        /// The date parser's error.
        #[source]
        source: time::error::Parse,
    },
    /// Not a form of time at all.
    #[error(
        "{input:?} is not a time: give an RFC 3339 time (2025-12-01T00:00:00Z), a date \
         (2025-12-01), a unix time (1764547200 or 1764547200000) or an age (90m, 24h, 7d)"
    )]
    NotATime {
        /// The text as given (its first 64 characters).
        input: String,
        /// Why it is not an age either.
        #[source]
        source: humantime::DurationError,
    },
    /// Not a duration.
    #[error("{input:?} is not a duration: {}", duration_hint(source))]
    InvalidDuration {
        /// The text as given (its first 64 characters).
        input: String,
        /// The duration parser's error.
        #[source]
        source: humantime::DurationError,
    },
    /// Not a duration with an optional sign ([`parse_signed_duration`]).
    #[error(
        "{input:?} is not a duration with an optional sign such as -1h, +30m or 90s: {}",
        duration_hint(source)
    )]
    InvalidSignedDuration {
        /// The text as given (its first 64 characters).
        input: String,
        /// The duration parser's error (for the part after the sign).
        #[source]
        source: humantime::DurationError,
    },
    /// A duration or time outside what can be represented (before year -9999, after 9999, or
    /// a duration past 292 billion years).
    #[error("{input:?} is out of range")]
    OutOfRange {
        /// The text as given (its first 64 characters).
        input: String,
    },
    /// A backfill start in the future ([`parse_backfill_start`]).
    #[error(
        "the backfill start {} is in the future (now is {}): give a past time or an age, or \
         leave it out to start from now",
        rfc3339(*time),
        rfc3339(*now)
    )]
    InFuture {
        /// The time given.
        time: OffsetDateTime,
        /// The time it was compared with.
        now: OffsetDateTime,
    },
}

/// Reads a time: RFC 3339 with `Z` or an offset, a bare date (midnight UTC), unix seconds (10
/// digits) or milliseconds (13 digits), or an age (`90m`, `24h`, `7d`, `1h30m`) before `now`.
/// Leading and trailing spaces are ignored.
///
/// # Errors
///
/// A [`TimeSpecError`] for text that is none of these or could be read more than one way: a
/// number without a unit of up to 6 digits ([`UnitlessNumber`](TimeSpecError::UnitlessNumber)),
/// a number of another length than 10 or 13 digits
/// ([`UnixDigits`](TimeSpecError::UnixDigits)), a date and time without an offset
/// ([`MissingOffset`](TimeSpecError::MissingOffset)), an invalid date, an age reaching before
/// year -9999.
pub fn parse_time(text: &str, now: OffsetDateTime) -> Result<ParsedTime, TimeSpecError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(TimeSpecError::Empty);
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return parse_unix(text);
    }
    if looks_like_date(text) {
        return parse_date_or_rfc3339(text);
    }
    let age = humantime::parse_duration(text).map_err(|source| TimeSpecError::NotATime {
        input: quote(text),
        source,
    })?;
    let time = time::Duration::try_from(age)
        .ok()
        .and_then(|age| now.checked_sub(age))
        .ok_or_else(|| TimeSpecError::OutOfRange { input: quote(text) })?;
    Ok(ParsedTime {
        time,
        form: TimeForm::Age(age),
    })
}

/// [`parse_time`] for a backfill start: a time after `now` is refused (a stream from the future
/// would deliver nothing until then, which is never what was meant).
///
/// # Errors
///
/// Those of [`parse_time`], and [`InFuture`](TimeSpecError::InFuture).
pub fn parse_backfill_start(text: &str, now: OffsetDateTime) -> Result<ParsedTime, TimeSpecError> {
    let parsed = parse_time(text, now)?;
    if parsed.time > now {
        return Err(TimeSpecError::InFuture {
            time: parsed.time,
            now,
        });
    }
    Ok(parsed)
}

/// Reads a duration: a number and a unit, repeated (`30s`, `90m`, `24h`, `7d`, `1h30m`,
/// `250ms`, `1.5h`; spaces allowed between the parts); `0` alone is zero. Units: `ns`, `us`,
/// `ms`, `s`/`sec`, `m`/`min`, `h`, `d`, `w`, `M` (months of 30.44 days), `y`.
///
/// # Errors
///
/// [`InvalidDuration`](TimeSpecError::InvalidDuration) (a number without a unit, an unknown
/// unit, a sign, anything else), or [`Empty`](TimeSpecError::Empty).
pub fn parse_duration(text: &str) -> Result<Duration, TimeSpecError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(TimeSpecError::Empty);
    }
    humantime::parse_duration(text).map_err(|source| TimeSpecError::InvalidDuration {
        input: quote(text),
        source,
    })
}

/// Reads a duration with an optional sign, such as a clock offset: `-1h` (an hour behind),
/// `+30m`, `90s`.
///
/// # Errors
///
/// [`InvalidSignedDuration`](TimeSpecError::InvalidSignedDuration),
/// [`OutOfRange`](TimeSpecError::OutOfRange) or [`Empty`](TimeSpecError::Empty).
pub fn parse_signed_duration(text: &str) -> Result<time::Duration, TimeSpecError> {
    let text = text.trim();
    let (negative, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = match parse_duration(magnitude) {
        Ok(magnitude) => magnitude,
        // The whole text in the error, sign included.
        Err(TimeSpecError::InvalidDuration { source, .. }) => {
            return Err(TimeSpecError::InvalidSignedDuration {
                input: quote(text),
                source,
            });
        }
        Err(error) => return Err(error),
    };
    let magnitude = time::Duration::try_from(magnitude)
        .map_err(|_| TimeSpecError::OutOfRange { input: quote(text) })?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// All digits: a unix time of 10 or 13 digits, else an error saying why not.
fn parse_unix(digits: &str) -> Result<ParsedTime, TimeSpecError> {
    let out_of_range = || TimeSpecError::OutOfRange {
        input: quote(digits),
    };
    let (time, form) = match digits.len() {
        UNIX_SECONDS_DIGITS => {
            let seconds: i64 = digits.parse().map_err(|_| out_of_range())?;
            let time = OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| out_of_range())?;
            (time, TimeForm::UnixSeconds)
        }
        UNIX_MILLIS_DIGITS => {
            let millis: i128 = digits.parse().map_err(|_| out_of_range())?;
            let time = OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000)
                .map_err(|_| out_of_range())?;
            (time, TimeForm::UnixMilliseconds)
        }
        n if n <= MAX_UNITLESS_DIGITS => {
            return Err(TimeSpecError::UnitlessNumber {
                input: digits.to_owned(),
            });
        }
        n => {
            return Err(TimeSpecError::UnixDigits {
                input: quote(digits),
                digits: n,
            });
        }
    };
    Ok(ParsedTime { time, form })
}

/// Four digits and a dash: a date, maybe with a time.
fn looks_like_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 5 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-'
}

fn parse_date_or_rfc3339(text: &str) -> Result<ParsedTime, TimeSpecError> {
    let invalid = |source| TimeSpecError::InvalidDate {
        input: quote(text),
        source,
    };
    if text.len() == "2025-12-01".len() {
        let date = Date::parse(text, DATE).map_err(invalid)?;
        return Ok(ParsedTime {
            time: date.midnight().assume_utc(),
            form: TimeForm::Date,
        });
    }
    match OffsetDateTime::parse(text, &Rfc3339) {
        Ok(time) => Ok(ParsedTime {
            time,
            form: TimeForm::Rfc3339,
        }),
        Err(error) => match PrimitiveDateTime::parse(text, LOCAL_DATE_TIME) {
            Ok(local) => Err(TimeSpecError::MissingOffset {
                input: quote(text),
                suggestion: rfc3339(local.assume_utc()),
            }),
            Err(_) => Err(invalid(error)),
        },
    }
}

/// `time` in UTC as RFC 3339 (`2025-12-01T00:00:00Z`); the `time` crate's own form for a year
/// RFC 3339 cannot hold.
fn rfc3339(time: OffsetDateTime) -> String {
    let utc = time.to_offset(UtcOffset::UTC);
    utc.format(&Rfc3339).unwrap_or_else(|_| utc.to_string())
}

/// The text to quote in an error: its first [`QUOTE_LIMIT`] characters.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// What to write instead, for a duration the parser refused.
fn duration_hint(error: &humantime::DurationError) -> &'static str {
    match error {
        humantime::DurationError::UnknownUnit { unit, .. } if unit.is_empty() => {
            "a number needs a unit, e.g. 30s, 15m, 24h or 7d"
        }
        humantime::DurationError::UnknownUnit { .. } => {
            "unknown unit (use ms, s, m, h, d or w, e.g. 30s, 15m, 1h30m, 7d)"
        }
        humantime::DurationError::NumberOverflow => "too large",
        _ => "write a number and a unit, e.g. 30s, 15m, 24h, 7d or 1h30m",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-01-15 12:34:56.789 UTC);

    fn read(text: &str) -> (OffsetDateTime, TimeForm) {
        let parsed = parse_time(text, NOW).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        (parsed.time(), parsed.form())
    }

    fn refused(text: &str) -> TimeSpecError {
        match parse_time(text, NOW) {
            Ok(parsed) => panic!("{text:?} was read as {parsed}"),
            Err(error) => error,
        }
    }

    #[test]
    fn rfc3339_with_z_or_an_offset() {
        assert_eq!(
            read("2025-12-01T00:00:00Z"),
            (datetime!(2025-12-01 0:00 UTC), TimeForm::Rfc3339)
        );
        let (time, form) = read("2025-12-01T01:00:00+01:00");
        assert_eq!(
            (time, form),
            (datetime!(2025-12-01 0:00 UTC), TimeForm::Rfc3339)
        );
        assert_eq!(time.offset(), time::macros::offset!(+1));
        assert_eq!(
            read(" 2025-12-01T00:00:00.250-05:30 ").0,
            datetime!(2025-12-01 5:30:00.25 UTC)
        );
        assert_eq!(
            parse_time("2025-12-01T01:00:00+01:00", NOW)
                .unwrap()
                .to_string(),
            "2025-12-01T00:00:00Z (read as an RFC 3339 time)"
        );
    }

    #[test]
    fn a_bare_date_is_midnight_utc() {
        assert_eq!(
            read("2025-12-01"),
            (datetime!(2025-12-01 0:00 UTC), TimeForm::Date)
        );
        assert_eq!(
            parse_time("2025-12-01", NOW).unwrap().to_string(),
            "2025-12-01T00:00:00Z (read as a date, at midnight UTC)"
        );
        for bad in [
            "2025-13-01",
            "2025-02-30",
            "2025-12-1x",
            "2025-12-01T",
            "2025-12",
        ] {
            assert!(
                matches!(refused(bad), TimeSpecError::InvalidDate { .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_date_time_without_an_offset_is_refused_with_the_utc_form() {
        for (text, suggestion) in [
            ("2025-12-01T00:00:00", "2025-12-01T00:00:00Z"),
            ("2025-12-01 08:30", "2025-12-01T08:30:00Z"),
            ("2025-12-01t08:30:15.5", "2025-12-01T08:30:15.5Z"),
        ] {
            let error = refused(text);
            assert!(
                matches!(&error, TimeSpecError::MissingOffset { suggestion: s, .. } if s == suggestion),
                "{text}: {error:?}"
            );
            let message = error.to_string();
            assert!(
                message.contains("has no UTC offset: add Z for UTC"),
                "{message}"
            );
            assert!(message.contains(suggestion), "{message}");
        }
    }

    #[test]
    fn unix_seconds_and_milliseconds_by_their_digits() {
        // The CLI used to read `--backfill-start 1764547200` as an age of 1764547200 s (1970).
        assert_eq!(
            read("1764547200"),
            (datetime!(2025-12-01 0:00 UTC), TimeForm::UnixSeconds)
        );
        assert_eq!(
            read("1764547200123"),
            (
                datetime!(2025-12-01 0:00:00.123 UTC),
                TimeForm::UnixMilliseconds
            )
        );
        assert_eq!(read("0000000000").0, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(read("9999999999").0, datetime!(2286-11-20 17:46:39 UTC));
        assert_eq!(
            parse_time("1764547200", NOW).unwrap().to_string(),
            "2025-12-01T00:00:00Z (read as unix seconds)"
        );
        assert_eq!(
            parse_time("1764547200000", NOW).unwrap().to_string(),
            "2025-12-01T00:00:00Z (read as unix milliseconds)"
        );
    }

    #[test]
    fn a_short_number_without_a_unit_is_ambiguous() {
        for text in ["0", "90", "3600", "604800"] {
            let error = refused(text);
            assert!(
                matches!(&error, TimeSpecError::UnitlessNumber { input } if input == text),
                "{error:?}"
            );
            let message = error.to_string();
            assert!(
                message.contains(&format!("write {text}s or {text}m for an age")),
                "{message}"
            );
            assert!(
                message.contains("a unix time has 10 digits (seconds) or 13 (milliseconds)"),
                "{message}"
            );
        }
    }

    #[test]
    fn a_number_of_neither_unix_length_is_refused() {
        for text in [
            "1234567",
            "176454720",
            "17645472000",
            "176454720000",
            "17645472000000",
        ] {
            let error = refused(text);
            assert!(
                matches!(error, TimeSpecError::UnixDigits { digits, .. } if digits == text.len()),
                "{error:?}"
            );
            let message = error.to_string();
            assert!(
                message.contains(&format!("has {} digits", text.len())),
                "{message}"
            );
        }
        // A very long number is quoted in part.
        let long = "1".repeat(200);
        let message = refused(&long).to_string();
        assert!(message.contains("has 200 digits"), "{message}");
        assert!(message.len() < 250, "{message}");
    }

    #[test]
    fn ages_are_before_now() {
        assert_eq!(
            read("90m"),
            (
                NOW - time::Duration::minutes(90),
                TimeForm::Age(Duration::from_secs(5400))
            )
        );
        assert_eq!(read("24h").0, NOW - time::Duration::hours(24));
        assert_eq!(read("7d").0, NOW - time::Duration::days(7));
        assert_eq!(read("1h30m").0, NOW - time::Duration::minutes(90));
        assert_eq!(read("0s").0, NOW);
        assert_eq!(
            parse_time("1h30m", NOW).unwrap().to_string(),
            "2026-01-15T11:04:56.789Z (read as an age: 1h 30m before now)"
        );
        assert!(matches!(
            refused("10000000000d"),
            TimeSpecError::OutOfRange { .. }
        ));
    }

    #[test]
    fn other_text_is_not_a_time() {
        for text in [
            "yesterday",
            "-1h",
            "+1h",
            "24 hours ago",
            "1764547200.5",
            "now",
        ] {
            let error = refused(text);
            assert!(
                matches!(error, TimeSpecError::NotATime { .. }),
                "{text}: {error:?}"
            );
            assert!(
                error
                    .to_string()
                    .contains("is not a time: give an RFC 3339 time")
            );
            assert!(std::error::Error::source(&error).is_some());
        }
        assert!(matches!(refused(""), TimeSpecError::Empty));
        assert!(matches!(refused("   "), TimeSpecError::Empty));
    }

    #[test]
    fn a_backfill_start_in_the_future_is_refused() {
        assert_eq!(
            parse_backfill_start("24h", NOW).unwrap().time(),
            NOW - time::Duration::DAY
        );
        assert_eq!(parse_backfill_start("0s", NOW).unwrap().time(), NOW);
        let error = parse_backfill_start("2026-01-16", NOW).unwrap_err();
        assert!(
            matches!(error, TimeSpecError::InFuture { time, now } if time == datetime!(2026-01-16 0:00 UTC) && now == NOW),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "the backfill start 2026-01-16T00:00:00Z is in the future (now is \
             2026-01-15T12:34:56.789Z): give a past time or an age, or leave it out to start \
             from now"
        );
        // Errors of the text itself come first.
        assert!(matches!(
            parse_backfill_start("90", NOW),
            Err(TimeSpecError::UnitlessNumber { .. })
        ));
    }

    #[test]
    fn durations() {
        for (text, expected) in [
            ("30s", Duration::from_secs(30)),
            ("90m", Duration::from_secs(5400)),
            ("24h", Duration::from_secs(86_400)),
            ("7d", Duration::from_secs(604_800)),
            ("1h30m", Duration::from_secs(5400)),
            ("1h 30m", Duration::from_secs(5400)),
            ("250ms", Duration::from_millis(250)),
            ("1.5h", Duration::from_secs(5400)),
            ("2w", Duration::from_secs(1_209_600)),
            (" 15m ", Duration::from_secs(900)),
            ("0", Duration::ZERO),
        ] {
            assert_eq!(parse_duration(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn bad_durations_say_what_to_write() {
        for (text, hint) in [
            ("30", "a number needs a unit, e.g. 30s, 15m, 24h or 7d"),
            ("3 fortnights", "unknown unit (use ms, s, m, h, d or w"),
            ("h", "write a number and a unit"),
            ("-1h", "write a number and a unit"),
            ("99999999999999999999h", "too large"),
        ] {
            let error = parse_duration(text).unwrap_err();
            assert!(
                matches!(error, TimeSpecError::InvalidDuration { .. }),
                "{text}: {error:?}"
            );
            let message = error.to_string();
            assert!(message.contains("is not a duration: "), "{message}");
            assert!(message.contains(hint), "{text}: {message}");
            assert!(std::error::Error::source(&error).is_some());
        }
        assert!(matches!(parse_duration(" "), Err(TimeSpecError::Empty)));
    }

    #[test]
    fn signed_durations() {
        assert_eq!(
            parse_signed_duration("-1h").unwrap(),
            time::Duration::hours(-1)
        );
        assert_eq!(
            parse_signed_duration("+30m").unwrap(),
            time::Duration::minutes(30)
        );
        assert_eq!(
            parse_signed_duration("90s").unwrap(),
            time::Duration::seconds(90)
        );
        assert_eq!(parse_signed_duration("-0s").unwrap(), time::Duration::ZERO);
        assert_eq!(
            parse_signed_duration("-1.5h").unwrap(),
            time::Duration::minutes(-90)
        );
        for bad in ["", "-", "+", "--1h", "+-1h", "-1x", "1h ago", "-30"] {
            let error = parse_signed_duration(bad).unwrap_err();
            assert!(
                matches!(
                    error,
                    TimeSpecError::InvalidSignedDuration { .. } | TimeSpecError::Empty
                ),
                "{bad:?}: {error:?}"
            );
        }
        let message = parse_signed_duration("-1x").unwrap_err().to_string();
        assert_eq!(
            message,
            "\"-1x\" is not a duration with an optional sign such as -1h, +30m or 90s: unknown \
             unit (use ms, s, m, h, d or w, e.g. 30s, 15m, 1h30m, 7d)"
        );
        assert!(matches!(
            parse_signed_duration("-18446744073709551615s"),
            Err(TimeSpecError::OutOfRange { .. })
        ));
    }
}
