//! [`Clock`]: the sim's notion of "now" (the server's time: event times, visibility, flushes,
//! export dates), which tests can move or run ahead of or behind the real clock.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;

use crate::json::{Nanos, from_nanos, to_nanos};

/// The clock the store reads "now" from.
///
/// [`Clock::system`] follows the wall clock; [`Clock::system_offset`] follows it at a fixed
/// distance, ahead or behind (a server whose clock is skewed); [`Clock::manual`] stands still
/// until [`Clock::advance`] moves it. Either way [`Clock::advance`] shifts "now" forward at once,
/// so a test can make delayed events visible or flush a chunk without sleeping. Clones share one
/// clock. Timers that pace connections (WebSocket pings, stalls, handshake timeouts) use real
/// time regardless, and so do certificates (see [`SimClusterBuilder::clock_offset`]).
///
/// [`SimClusterBuilder::clock_offset`]: crate::SimClusterBuilder::clock_offset
#[derive(Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None`: the wall clock; `Some`: a fixed base.
    base: Option<Nanos>,
    /// Added to the base: the initial offset of [`Clock::system_offset`] plus every
    /// [`Clock::advance`].
    offset: AtomicI64,
}

impl Clock {
    /// The wall clock.
    pub fn system() -> Clock {
        Clock {
            inner: Arc::new(Inner {
                base: None,
                offset: AtomicI64::new(0),
            }),
        }
    }

    /// The wall clock shifted by `offset`: positive runs ahead of the real time, negative
    /// behind (`time::Duration::hours(-1)`: the server's clock an hour slow). It ticks in real
    /// time; [`Clock::advance`] adds to the offset. Offsets are clamped to about ±292 years.
    pub fn system_offset(offset: time::Duration) -> Clock {
        let nanos = i64::try_from(offset.whole_nanoseconds()).unwrap_or(if offset.is_negative() {
            i64::MIN
        } else {
            i64::MAX
        });
        Clock {
            inner: Arc::new(Inner {
                base: None,
                offset: AtomicI64::new(nanos),
            }),
        }
    }

    /// A clock frozen at `start` (clamped to 1677..2262, the range the sim stores), moved only by
    /// [`Clock::advance`].
    pub fn manual(start: OffsetDateTime) -> Clock {
        let base = to_nanos(start).unwrap_or(if start < OffsetDateTime::UNIX_EPOCH {
            i64::MIN
        } else {
            i64::MAX
        });
        Clock {
            inner: Arc::new(Inner {
                base: Some(base),
                offset: AtomicI64::new(0),
            }),
        }
    }

    /// Moves "now" forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        let _ = self
            .inner
            .offset
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| {
                Some(o.saturating_add(nanos))
            });
    }

    /// The current time.
    pub fn now(&self) -> OffsetDateTime {
        from_nanos(self.now_nanos())
    }

    /// Whether this clock follows the wall clock (possibly offset).
    pub fn is_system(&self) -> bool {
        self.inner.base.is_none()
    }

    /// How far this clock runs ahead of the wall clock (negative: behind): the offset it was
    /// made with plus every [`Clock::advance`]. `None` for a manual clock.
    pub fn offset(&self) -> Option<time::Duration> {
        self.is_system()
            .then(|| time::Duration::nanoseconds(self.inner.offset.load(Ordering::SeqCst)))
    }

    pub(crate) fn now_nanos(&self) -> Nanos {
        let base = match self.inner.base {
            Some(base) => base,
            None => to_nanos(OffsetDateTime::now_utc()).unwrap_or(i64::MAX),
        };
        base.saturating_add(self.inner.offset.load(Ordering::SeqCst))
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clock")
            .field("kind", &if self.is_system() { "system" } else { "manual" })
            .field("offset", &self.offset())
            .field("now", &self.now())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn manual_clock_moves_only_when_advanced_and_clones_share_it() {
        let clock = Clock::manual(datetime!(2024-05-01 12:00 UTC));
        let other = clock.clone();
        assert_eq!(clock.now(), datetime!(2024-05-01 12:00 UTC));
        other.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), datetime!(2024-05-01 12:00:01.5 UTC));
        assert!(!clock.is_system());
    }

    #[test]
    fn system_clock_follows_wall_time_plus_advances() {
        let clock = Clock::system();
        let before = OffsetDateTime::now_utc();
        clock.advance(Duration::from_secs(3600));
        let now = clock.now();
        assert!(now - before >= time::Duration::hours(1));
        assert!(now - before < time::Duration::hours(1) + time::Duration::minutes(1));
        assert_eq!(clock.offset(), Some(time::Duration::hours(1)));
        assert_eq!(Clock::manual(before).offset(), None);
    }

    /// `now` minus the wall clock, bracketed by two wall-clock readings.
    fn skew(clock: &Clock) -> (time::Duration, time::Duration) {
        let before = OffsetDateTime::now_utc();
        let now = clock.now();
        let after = OffsetDateTime::now_utc();
        (now - after, now - before)
    }

    #[test]
    fn offset_clocks_run_ahead_or_behind_the_wall_clock_in_real_time() {
        for offset in [time::Duration::hours(1), time::Duration::hours(-1)] {
            let clock = Clock::system_offset(offset);
            assert!(clock.is_system());
            assert_eq!(clock.offset(), Some(offset));
            let (low, high) = skew(&clock);
            assert!(low <= offset && offset <= high, "{low} {offset} {high}");
            // It ticks with the wall clock.
            let first = clock.now();
            std::thread::sleep(Duration::from_millis(20));
            assert!(clock.now() - first >= time::Duration::milliseconds(20));
            // Advancing adds to the offset.
            clock.advance(Duration::from_secs(30));
            assert_eq!(clock.offset(), Some(offset + time::Duration::seconds(30)));
            let (low, high) = skew(&clock);
            let moved = offset + time::Duration::seconds(30);
            assert!(low <= moved && moved <= high, "{low} {moved} {high}");
        }
    }

    #[test]
    fn huge_offsets_saturate_instead_of_overflowing() {
        let ahead = Clock::system_offset(time::Duration::MAX);
        assert_eq!(ahead.now_nanos(), i64::MAX);
        let behind = Clock::system_offset(time::Duration::MIN);
        assert!(behind.now_nanos() < 0);
        assert_eq!(
            Clock::system_offset(time::Duration::ZERO).offset(),
            Some(time::Duration::ZERO)
        );
    }
}
