//! Parsing durations (`30s`, `24h`, `7d`) and times (RFC 3339, or an age like `24h`).

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `500ms`, `30s`, `15m`, `24h`, `7d`, `2w`; a bare number is seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 15m, 24h or 7d"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" | "sec" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        "w" => value * 604_800.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use ms, s, m, h, d or w)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?} is out of range"))
}

/// A duration with an optional sign, as a clock offset: `-1h`, `+30m`, `90s`.
pub(crate) fn parse_signed_duration(text: &str) -> Result<time::Duration, String> {
    let trimmed = text.trim();
    let (negative, magnitude) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let magnitude = parse_duration(magnitude)
        .map_err(|_| format!("{trimmed:?} is not a duration like -1h, +30m or 90s"))?;
    let magnitude =
        time::Duration::try_from(magnitude).map_err(|_| format!("{trimmed:?} is out of range"))?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// An RFC 3339 time, or an age (`24h` = 24 hours before now).
pub(crate) fn parse_time_or_ago(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(time) = OffsetDateTime::parse(text.trim(), &Rfc3339) {
        return Ok(time);
    }
    let age = parse_duration(text).map_err(|_| {
        format!("{text:?} is neither an RFC 3339 time (2025-12-01T00:00:00Z) nor an age (24h, 7d)")
    })?;
    OffsetDateTime::now_utc()
        .checked_sub(time::Duration::try_from(age).map_err(|_| "age out of range".to_owned())?)
        .ok_or_else(|| format!("{text:?} reaches before year -9999"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("h").is_err());
        assert!(
            parse_duration("3 fortnights")
                .unwrap_err()
                .contains("unknown unit")
        );
    }

    #[test]
    fn signed_durations() {
        assert_eq!(parse_signed_duration("-1h"), Ok(time::Duration::hours(-1)));
        assert_eq!(
            parse_signed_duration("+30m"),
            Ok(time::Duration::minutes(30))
        );
        assert_eq!(
            parse_signed_duration("90s"),
            Ok(time::Duration::seconds(90))
        );
        assert_eq!(parse_signed_duration("-0s"), Ok(time::Duration::ZERO));
        assert_eq!(
            parse_signed_duration("-1.5h"),
            Ok(time::Duration::minutes(-90))
        );
        for bad in ["", "-", "+", "--1h", "+-1h", "-1x", "1h ago"] {
            let err = parse_signed_duration(bad).unwrap_err();
            assert!(err.contains("-1h, +30m or 90s"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn times() {
        let t = parse_time_or_ago("2025-12-01T00:00:00Z").unwrap();
        assert_eq!(t.unix_timestamp(), 1_764_547_200);
        let ago = parse_time_or_ago("24h").unwrap();
        let expected = OffsetDateTime::now_utc() - time::Duration::hours(24);
        assert!((ago - expected).abs() < time::Duration::seconds(5));
        assert!(
            parse_time_or_ago("yesterday")
                .unwrap_err()
                .contains("RFC 3339")
        );
    }
}
