//! Arithmetic on event times shared by the stream's rules: UTC, whole seconds, and sums that
//! saturate (a window or a lateness has no upper bound, so `time + setting` may not exist).

use std::time::Duration;

use time::OffsetDateTime;

/// The same instant in UTC.
pub(crate) fn utc(time: OffsetDateTime) -> OffsetDateTime {
    time.to_offset(time::UtcOffset::UTC)
}

/// The start of the second `time` is in.
pub(crate) fn floor_second(time: OffsetDateTime) -> OffsetDateTime {
    time.replace_nanosecond(0).unwrap_or(time)
}

/// `time + by`, or the last representable time.
pub(crate) fn later(time: OffsetDateTime, by: Duration) -> OffsetDateTime {
    time::Duration::try_from(by)
        .ok()
        .and_then(|by| time.checked_add(by))
        .unwrap_or_else(|| time::PrimitiveDateTime::MAX.assume_utc())
}

/// `time - by`, or the first representable time.
pub(crate) fn earlier(time: OffsetDateTime, by: Duration) -> OffsetDateTime {
    time::Duration::try_from(by)
        .ok()
        .and_then(|by| time.checked_sub(by))
        .unwrap_or_else(|| time::PrimitiveDateTime::MIN.assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn sums_with_unbounded_settings_saturate() {
        let t = datetime!(2025-12-02 07:14:36 UTC);
        assert_eq!(
            later(t, Duration::from_secs(60)),
            datetime!(2025-12-02 07:15:36 UTC)
        );
        assert_eq!(
            earlier(t, Duration::from_secs(60)),
            datetime!(2025-12-02 07:13:36 UTC)
        );
        let max = time::PrimitiveDateTime::MAX.assume_utc();
        let min = time::PrimitiveDateTime::MIN.assume_utc();
        assert_eq!(later(t, Duration::from_secs(400 * 365 * 86_400 * 100)), max);
        assert_eq!(later(t, Duration::MAX), max);
        assert_eq!(
            earlier(t, Duration::from_secs(400 * 365 * 86_400 * 100)),
            min
        );
        assert_eq!(earlier(t, Duration::MAX), min);
    }

    #[test]
    fn floor_second_drops_the_fraction() {
        assert_eq!(
            floor_second(datetime!(2025-12-02 07:14:36.999 UTC)),
            datetime!(2025-12-02 07:14:36 UTC)
        );
        let whole = datetime!(2025-12-02 07:14:36 UTC);
        assert_eq!(floor_second(whole), whole);
    }

    #[test]
    fn utc_keeps_the_instant() {
        let t = datetime!(2025-12-02 09:14:36 +02:00);
        assert_eq!(utc(t), datetime!(2025-12-02 07:14:36 UTC));
        assert_eq!(utc(t).offset(), time::UtcOffset::UTC);
    }
}
