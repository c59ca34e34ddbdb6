//! [`Clock`]: the sim's notion of "now" (visibility, live events, flushes), which tests can move.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;

use crate::json::{Nanos, from_nanos, to_nanos};

/// The clock the store reads "now" from.
///
/// [`Clock::system`] follows the wall clock; [`Clock::manual`] stands still until
/// [`Clock::advance`] moves it. Either way [`Clock::advance`] shifts "now" forward at once, so a
/// test can make delayed events visible or flush a chunk without sleeping. Clones share one
/// clock. Timers that pace connections (WebSocket pings, stalls) use real time regardless.
#[derive(Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None`: the wall clock; `Some`: a fixed base.
    base: Option<Nanos>,
    /// Added to the base by [`Clock::advance`].
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

    /// Whether this clock follows the wall clock.
    pub fn is_system(&self) -> bool {
        self.inner.base.is_none()
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
    }
}
