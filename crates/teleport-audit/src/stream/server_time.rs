//! The search mode's rules about time. This machine's clock is not trusted with what is
//! delivered: it may run an hour ahead of the server's, or behind it.
//!
//! - **The watermark** moves only as far as the *server's* clock is known to have gone: to the
//!   newest event time the server had returned before the scan began, minus the lateness bound
//!   ([`settle_base`]). An event's time is the server's own clock, so a client clock that runs
//!   ahead can no longer push the watermark past events that are still to come.
//! - **Scans** reach [`MAX_CLOCK_SKEW`] past this machine's "now" ([`scan_end`]), so a client clock
//!   that runs behind does not hold back events the server already has.
//! - **A stale server time** (the newest event returned is more than a window behind this
//!   machine's now and holds the watermark short of a scan's end) is asked again before the next
//!   scan ([`ask_again`]); a scan right after an answer reaches the present when its window would
//!   end past where the watermark can settle ([`scan_window`]). This machine's clock is only the
//!   trigger: a clock ahead costs one request per poll while the cluster is quiet; one behind the
//!   server's by more than a window leaves a quiet stream waiting for events that move it on.
//! - **A cursor** holding a time ahead of the server's clock is refused ([`cursor_bound`]): by
//!   more than [`CURSOR_AHEAD_TOLERANCE`] when the proxy told its time, else by more than
//!   [`MAX_CLOCK_SKEW`] past this machine's clock. It was edited by hand or written by a machine
//!   whose clock ran ahead; trusting it would skip the events up to that time.
//! - **An end time** ([`crate::StreamConfig::end_time`]) is reached when the watermark passes it,
//!   or when a complete scan covering it began `max_lateness` after it by this machine's clock
//!   ([`reached_end`]): the clock decides only *when to stop*; the cursor still covers exactly
//!   what was delivered.

use std::time::Duration;

use time::OffsetDateTime;

use super::time_math::{earlier, later};

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

/// The window of a scan from `from` that begins with the watermark able to move to `settled`:
/// the configured `window`, or unbounded ([`scan_end`] then stops at the skew allowance past now,
/// or the end) when the server's time was just answered (`fresh`) and one window would end past
/// `settled`. One window could not move the watermark to its end then, and the answer showed
/// the server had nothing newer than its newest event up to [`MAX_CLOCK_SKEW`] past this
/// machine's now, so reaching the present reads no more than a window and the lateness of
/// events, plus what appeared since.
pub(crate) fn scan_window(
    from: OffsetDateTime,
    window: Duration,
    settled: OffsetDateTime,
    fresh: bool,
) -> Duration {
    if fresh && later(from, window) > settled {
        Duration::MAX
    } else {
        window
    }
}

/// Whether the server's time must be asked again after a complete scan to `scan_to` that began
/// at this machine's `began`: the scan left the `watermark` short of its end (the server's time,
/// as known from the events it returned, holds it back), the watermark is more than a `window`
/// behind `began`, and the scan did not cover the stream's `end` (from there only the clock
/// decides, [`reached_end`]). Without asking, a window without events would be scanned again
/// and again, and what lies after it never delivered.
pub(crate) fn ask_again(
    watermark: OffsetDateTime,
    window: Duration,
    scan_to: OffsetDateTime,
    began: OffsetDateTime,
    end: Option<OffsetDateTime>,
) -> bool {
    watermark < scan_to && later(watermark, window) < began && end.is_none_or(|end| scan_to < end)
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

/// How far a cursor time may be ahead of the server's clock, when the proxy told its time
/// (`Date` is to the second, and the proxy's clock is not the Auth Service's).
pub const CURSOR_AHEAD_TOLERANCE: Duration = Duration::from_secs(60);

/// The latest time a resumed cursor may hold: the server's now (this machine's clock plus the
/// proxy's measured offset) plus [`CURSOR_AHEAD_TOLERANCE`]; without an offset, this machine's
/// now plus [`MAX_CLOCK_SKEW`] (its clock may be that far behind the server's). Returns the
/// estimate of the server's now and the tolerance.
pub(crate) fn cursor_bound(
    client_now: OffsetDateTime,
    server_offset: Option<time::Duration>,
) -> (OffsetDateTime, Duration) {
    match server_offset.and_then(|offset| client_now.checked_add(offset)) {
        Some(server_now) => (server_now, CURSOR_AHEAD_TOLERANCE),
        None => (client_now, MAX_CLOCK_SKEW),
    }
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
    const NS: Duration = Duration::from_nanos(1);

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
    fn right_after_the_servers_time_a_window_that_cannot_settle_reaches_the_present() {
        let from = datetime!(2025-12-02 07:00 UTC);
        let settled = datetime!(2025-12-02 07:00:05 UTC);
        let second = Duration::from_secs(1);
        // The window ends past `settled`: the present, once the server's time was just answered.
        assert_eq!(scan_window(from, 6 * second, settled, true), Duration::MAX);
        assert_eq!(scan_window(from, 6 * second, settled, false), 6 * second);
        // A window that ends at or before `settled` moves the watermark to its end: one window.
        assert_eq!(scan_window(from, 5 * second, settled, true), 5 * second);
        assert_eq!(scan_window(from, 4 * second, settled, true), 4 * second);
        // Unbounded: the skew allowance past now, or the end.
        let now = datetime!(2025-12-03 12:00 UTC);
        assert_eq!(
            scan_end(from, Duration::MAX, now, None),
            datetime!(2025-12-03 14:00 UTC)
        );
        let end = datetime!(2025-12-03 00:00 UTC);
        assert_eq!(scan_end(from, Duration::MAX, now, Some(end)), end);
    }

    #[test]
    fn the_servers_time_is_asked_again_when_it_holds_the_watermark_a_window_behind_now() {
        let watermark = datetime!(2025-12-02 07:00 UTC);
        let to = datetime!(2025-12-03 07:00 UTC);
        let began = datetime!(2025-12-04 12:00 UTC);
        assert!(ask_again(watermark, DAY, to, began, None));
        // The scan moved the watermark to its end (a backfill window): no.
        assert!(!ask_again(to, DAY, to, began, None));
        // The watermark is within a window of now (the live tail): no.
        assert!(!ask_again(watermark, DAY, to, later(watermark, DAY), None));
        assert!(ask_again(
            watermark,
            DAY,
            to,
            later(watermark, DAY + NS),
            None
        ));
        // The scan covered the end: the clock decides from there.
        assert!(!ask_again(watermark, DAY, to, began, Some(to)));
        assert!(ask_again(
            watermark,
            DAY,
            to,
            began,
            Some(later(to, Duration::from_secs(1)))
        ));
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
    fn a_cursor_is_bounded_by_the_servers_now_when_known_else_by_the_skew_allowance() {
        let now = datetime!(2025-12-02 12:00 UTC);
        // The proxy told its time: an hour behind this machine.
        assert_eq!(
            cursor_bound(now, Some(time::Duration::hours(-1))),
            (datetime!(2025-12-02 11:00 UTC), CURSOR_AHEAD_TOLERANCE)
        );
        assert_eq!(
            cursor_bound(now, Some(time::Duration::hours(1))),
            (datetime!(2025-12-02 13:00 UTC), CURSOR_AHEAD_TOLERANCE)
        );
        // Unknown: this machine's clock, which may be behind by up to the allowance.
        assert_eq!(cursor_bound(now, None), (now, MAX_CLOCK_SKEW));
        // An offset out of range is unknown.
        assert_eq!(
            cursor_bound(
                time::PrimitiveDateTime::MAX.assume_utc(),
                Some(time::Duration::DAY)
            ),
            (time::PrimitiveDateTime::MAX.assume_utc(), MAX_CLOCK_SKEW)
        );
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
