//! The search mode's rules about time. This machine's clock is not trusted with what is
//! delivered: it may run an hour ahead of the server's, or behind it.
//!
//! - **The watermark** moves only as far as the *server's* clock is known to have gone: to the
//!   newest event time the server had returned before the scan began, minus the lateness bound
//!   ([`settle_base`]). An event's time is the server's own clock, so a client clock that runs
//!   ahead can no longer push the watermark past events that are still to come.
//! - **Scans** reach [`MAX_CLOCK_SKEW`] past this machine's "now" ([`scan_end`]), so a client clock
//!   that runs behind does not hold back events the server already has.
//! - **A cursor** whose watermark is ahead of this machine's clock by more than
//!   [`MAX_CLOCK_SKEW`], with no event at or after it on the server, is refused
//!   ([`watermark_ahead`]): it was edited by hand or written by a machine whose clock ran far
//!   ahead, and trusting it would deliver nothing until the server's clock caught up.
//! - **An end time** ([`crate::StreamConfig::end_time`]) is reached when the watermark passes it,
//!   or when a complete scan covering it began `max_lateness` after it by this machine's clock
//!   ([`reached_end`]): the clock decides only *when to stop*; the cursor still covers exactly
//!   what was delivered.

use std::time::Duration;

use time::OffsetDateTime;

use super::paging::{earlier, later};

/// How far this machine's clock may run behind the server's without delaying live events, and
/// how far ahead of it a cursor's watermark may be before the cursor is refused.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(2 * 60 * 60);

/// Where a scan from `from` that starts at this machine's `client_now` ends: one window, at most
/// [`MAX_CLOCK_SKEW`] past `client_now`, never past the stream's end, never before `from`.
pub(crate) fn scan_end(
    from: OffsetDateTime,
    window: Duration,
    client_now: OffsetDateTime,
    end: Option<OffsetDateTime>,
) -> OffsetDateTime {
    let mut to = later(from, window).min(later(client_now, MAX_CLOCK_SKEW));
    if let Some(end) = end {
        to = to.min(end);
    }
    to.max(from)
}

/// The time the server's clock had certainly reached when a scan from `from` began: the newest
/// event time it had returned before. Nothing returned yet: `from` itself (the scan then moves
/// the watermark no further than where it began).
pub(crate) fn settle_base(
    newest_seen: Option<OffsetDateTime>,
    from: OffsetDateTime,
) -> OffsetDateTime {
    newest_seen.unwrap_or(from)
}

/// How far the watermark may move during a scan whose [`settle_base`] is `base`: every event
/// before it was visible when the scan began (the lateness bound, in the server's time).
pub(crate) fn settled(base: OffsetDateTime, max_lateness: Duration) -> OffsetDateTime {
    earlier(base, max_lateness)
}

/// Whether a resumed watermark is ahead of the server's clock as far as the client can tell:
/// no event at or after it (`newest_from_watermark`), and ahead of this machine's clock by more
/// than [`MAX_CLOCK_SKEW`].
pub(crate) fn watermark_ahead(
    watermark: OffsetDateTime,
    client_now: OffsetDateTime,
    newest_from_watermark: Option<OffsetDateTime>,
) -> bool {
    newest_from_watermark.is_none() && watermark > later(client_now, MAX_CLOCK_SKEW)
}

/// Whether a stream with `end` is done: the watermark passed it, or the last complete scan
/// (`to`, and when it began by this machine's clock) covered it and began `max_lateness` after it.
pub(crate) fn reached_end(
    watermark: OffsetDateTime,
    end: OffsetDateTime,
    last_complete_scan: Option<(OffsetDateTime, OffsetDateTime)>,
    max_lateness: Duration,
) -> bool {
    watermark >= end
        || last_complete_scan
            .is_some_and(|(to, began)| to >= end && began >= later(end, max_lateness))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const HOUR: Duration = Duration::from_secs(3600);
    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn a_scan_ends_one_window_on_or_the_skew_allowance_past_now() {
        let now = datetime!(2025-12-02 12:00 UTC);
        // A backfill: one window.
        let from = datetime!(2025-11-01 00:00 UTC);
        assert_eq!(
            scan_end(from, DAY, now, None),
            datetime!(2025-11-02 00:00 UTC)
        );
        // The live tail: past "now" by the allowance, so a client clock behind the server's
        // still asks for the server's newest events.
        let from = datetime!(2025-12-02 11:59 UTC);
        assert_eq!(
            scan_end(from, DAY, now, None),
            datetime!(2025-12-02 14:00 UTC)
        );
        // Never past the stream's end.
        let end = datetime!(2025-12-02 12:30 UTC);
        assert_eq!(scan_end(from, DAY, now, Some(end)), end);
        // Never before its start (a watermark ahead of every clock).
        let ahead = datetime!(2026-01-01 00:00 UTC);
        assert_eq!(scan_end(ahead, DAY, now, None), ahead);
    }

    #[test]
    fn the_watermark_settles_on_the_servers_own_times_not_the_clients() {
        let from = datetime!(2025-12-02 11:00 UTC);
        // Nothing seen: no further than the scan's start, minus lateness.
        assert_eq!(settle_base(None, from), from);
        assert_eq!(
            settled(settle_base(None, from), Duration::from_secs(10)),
            datetime!(2025-12-02 10:59:50 UTC)
        );
        // The newest event the server returned, whatever this machine's clock says.
        let newest = datetime!(2025-12-02 11:30:07.5 UTC);
        assert_eq!(settle_base(Some(newest), from), newest);
        assert_eq!(
            settled(newest, Duration::from_secs(10)),
            datetime!(2025-12-02 11:29:57.5 UTC)
        );
        // A lateness of exactly the distance: the base's own start.
        assert_eq!(settled(newest, Duration::ZERO), newest);
        // A huge lateness saturates.
        assert_eq!(
            settled(newest, Duration::MAX),
            time::PrimitiveDateTime::MIN.assume_utc()
        );
    }

    #[test]
    fn a_watermark_is_ahead_only_past_the_allowance_and_with_nothing_after_it() {
        let now = datetime!(2025-12-02 12:00 UTC);
        let far = datetime!(2025-12-03 12:00 UTC);
        assert!(watermark_ahead(far, now, None));
        // An event at or after it proves the server's clock got there.
        assert!(!watermark_ahead(far, now, Some(far)));
        // Within the allowance (this machine's clock may be behind the server's).
        assert!(!watermark_ahead(now + HOUR, now, None));
        assert!(!watermark_ahead(now + 2 * HOUR, now, None));
        assert!(watermark_ahead(
            now + 2 * HOUR + Duration::from_nanos(1),
            now,
            None
        ));
        assert!(!watermark_ahead(now - HOUR, now, None));
    }

    #[test]
    fn the_end_is_reached_by_the_watermark_or_by_a_late_enough_complete_scan() {
        let end = datetime!(2025-12-02 12:00 UTC);
        let lateness = Duration::from_secs(10);
        assert!(reached_end(end, end, None, lateness));
        assert!(!reached_end(end - HOUR, end, None, lateness));
        // A complete scan over the end that began lateness after it.
        let began = datetime!(2025-12-02 12:00:10 UTC);
        assert!(reached_end(end - HOUR, end, Some((end, began)), lateness));
        // Began a moment too early, or did not cover the end.
        let early = datetime!(2025-12-02 12:00:09.999 UTC);
        assert!(!reached_end(end - HOUR, end, Some((end, early)), lateness));
        assert!(!reached_end(
            end - HOUR,
            end,
            Some((end - Duration::from_secs(1), began)),
            lateness
        ));
    }
}
