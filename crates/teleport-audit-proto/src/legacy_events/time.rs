//! Times as Go writes them: gogo's `stdtime` turns a `google.protobuf.Timestamp` into a
//! `time.Time` in UTC, and `time.Time.MarshalJSON` writes RFC 3339 with the nanoseconds'
//! trailing zeros removed (`2006-01-02T15:04:05.999999999Z07:00`).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{Malformed, OneOfError};

/// Seconds of 0001-01-01T00:00:00Z (Go's zero `time.Time`), the smallest valid timestamp.
pub(crate) const MIN_SECONDS: i64 = -62_135_596_800;
/// Seconds of 9999-12-31T23:59:59Z, the largest valid timestamp.
pub(crate) const MAX_SECONDS: i64 = 253_402_300_799;

/// Go's zero time as JSON: what a non-nullable `stdtime` field that is not on the wire shows.
pub(crate) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Formats seconds and nanoseconds since the Unix epoch as Go's `time.Time` JSON (without the
/// quotes). Out-of-range values are refused, as gogo's `StdTimeUnmarshal` refuses them.
pub(crate) fn format(seconds: i64, nanos: i32) -> Result<String, OneOfError> {
    let bad = OneOfError::Malformed(Malformed::Timestamp);
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) || !(0..1_000_000_000).contains(&nanos) {
        return Err(bad);
    }
    // `time`'s RFC 3339 writes UTC as `Z` and the fraction without trailing zeros, as Go does.
    OffsetDateTime::from_unix_timestamp(seconds)
        .and_then(|t| t.replace_nanosecond(nanos as u32))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .ok_or(bad)
}

/// Parses an RFC 3339 time (any offset) into seconds and nanoseconds since the Unix epoch.
pub(crate) fn parse(text: &str) -> Option<(i64, i32)> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    let nanos = t.unix_timestamp_nanos();
    let seconds = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
    let sub = i32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?;
    (MIN_SECONDS..=MAX_SECONDS)
        .contains(&seconds)
        .then_some((seconds, sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(format(0, 0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(format(MIN_SECONDS, 0).unwrap(), ZERO_TIME);
        assert_eq!(
            format(1_700_000_000, 120_000_000).unwrap(),
            "2023-11-14T22:13:20.12Z"
        );
        assert_eq!(format(1, 1).unwrap(), "1970-01-01T00:00:01.000000001Z");
        assert_eq!(
            format(MAX_SECONDS, 999_999_999).unwrap(),
            "9999-12-31T23:59:59.999999999Z"
        );
        assert!(format(MIN_SECONDS - 1, 0).is_err());
        assert!(format(MAX_SECONDS + 1, 0).is_err());
        assert!(format(0, -1).is_err());
        assert!(format(0, 1_000_000_000).is_err());
    }

    #[test]
    fn parses_what_it_formats() {
        for (s, n) in [
            (0, 0),
            (MIN_SECONDS, 0),
            (1_700_000_000, 123_456_789),
            (-1, 5),
        ] {
            assert_eq!(parse(&format(s, n).unwrap()), Some((s, n)));
        }
        assert_eq!(parse("2023-11-14T23:13:20+01:00"), Some((1_700_000_000, 0)));
        assert_eq!(parse("yesterday"), None);
    }
}
