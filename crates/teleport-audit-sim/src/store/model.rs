//! The backend's rules: when an event becomes visible, how search orders and compares, and
//! which export chunk an event lands in.

use crate::Backend;
use crate::det::Draw;
use crate::json::{NANOS_PER_SEC, Nanos, day_of};
use crate::uid::Uid;

const PURPOSE_DELAY: u64 = 20;
const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SEC;

/// A position in a backend's search order; cursors encode one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Position {
    /// DynamoDB: whole second, then a hash of the id (not sub-second time).
    Second { sec: i64, digest: u64, uid: Uid },
    /// Athena and the rest: microsecond, then the id.
    Micro { micros: i64, uid: Uid },
}

impl Position {
    /// The whole second this position falls in.
    pub(crate) fn second(&self) -> i64 {
        match self {
            Position::Second { sec, .. } => *sec,
            Position::Micro { micros, .. } => micros.div_euclid(1_000_000),
        }
    }

    /// Words identifying the position (for seeded draws).
    pub(crate) fn words(&self) -> [u64; 3] {
        match self {
            Position::Second { sec, digest, .. } => [1, *sec as u64, *digest],
            Position::Micro { micros, uid } => [2, *micros as u64, uid.digest()],
        }
    }
}

/// An export chunk: an immutable batch of events of one UTC date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ChunkKey {
    /// History that predates the cluster: one chunk per minute of event time.
    History { minute: i64 },
    /// The batch written by flush number `j` (events that arrived in the interval before it).
    Flush { j: i64, day: i32 },
    /// A batch of its own (a late chunk, or events inserted as already visible).
    Own { seq: u64, day: i32 },
}

impl ChunkKey {
    pub(crate) fn day(&self) -> i32 {
        match self {
            ChunkKey::History { minute } => day_of(minute.saturating_mul(NANOS_PER_MINUTE)),
            ChunkKey::Flush { day, .. } | ChunkKey::Own { day, .. } => *day,
        }
    }
}

/// The backend's rules, fixed when the cluster starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub(crate) backend: Backend,
    /// When the cluster started: events older than this are history, already flushed.
    pub(crate) origin: Nanos,
    pub(crate) seed: u64,
}

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl Rules {
    fn flush_interval(&self) -> Option<i64> {
        match self.backend {
            Backend::Athena { flush_interval } => Some(nanos(flush_interval).max(1)),
            _ => None,
        }
    }

    /// The flush that publishes an event arriving at `arrival` (Athena).
    pub(crate) fn flush_index(&self, arrival: Nanos) -> i64 {
        let interval = self.flush_interval().unwrap_or(NANOS_PER_MINUTE);
        arrival.saturating_sub(self.origin).div_euclid(interval) + 1
    }

    /// When flush `j` happens (Athena).
    pub(crate) fn flush_time(&self, j: i64) -> Nanos {
        let interval = self.flush_interval().unwrap_or(NANOS_PER_MINUTE);
        self.origin.saturating_add(j.saturating_mul(interval))
    }

    /// The last flush that has happened at `now`.
    pub(crate) fn last_flush(&self, now: Nanos) -> i64 {
        self.flush_index(now) - 1
    }

    /// When a generated event (arriving at its own time) becomes visible.
    pub(crate) fn generated_visible_at(&self, salt: u64, idx: u64, time: Nanos) -> Nanos {
        match self.backend {
            Backend::Dynamo {
                max_visibility_delay,
            } => {
                let max = nanos(max_visibility_delay).max(0) as u64;
                let delay = Draw::new(&[self.seed, salt, idx, PURPOSE_DELAY]).range(0, max);
                time.saturating_add(delay as i64)
            }
            Backend::Athena { .. } if time >= self.origin => {
                self.flush_time(self.flush_index(time))
            }
            _ => time,
        }
    }

    /// Visibility and chunk of an event inserted at `now` with event time `time`.
    /// `visible_at` overrides the backend's delay (for Athena it picks the flush; a time not
    /// after `now` gives the event a chunk of its own, visible at once, since flushed chunks
    /// never change).
    pub(crate) fn inserted(
        &self,
        time: Nanos,
        now: Nanos,
        visible_at: Option<Nanos>,
        seq: u64,
    ) -> (Nanos, ChunkKey) {
        let day = day_of(time);
        match (self.backend, visible_at) {
            (Backend::Athena { .. }, Some(v)) if v <= now => (v, ChunkKey::Own { seq, day }),
            (Backend::Athena { .. }, requested) => {
                let j = self.flush_index(requested.unwrap_or(now));
                (self.flush_time(j), ChunkKey::Flush { j, day })
            }
            (_, Some(v)) => (v, ChunkKey::Own { seq, day }),
            (
                Backend::Dynamo {
                    max_visibility_delay,
                },
                None,
            ) => {
                let max = nanos(max_visibility_delay).max(0) as u64;
                let delay = Draw::new(&[self.seed, u64::MAX, seq, PURPOSE_DELAY]).range(0, max);
                (now.saturating_add(delay as i64), ChunkKey::Own { seq, day })
            }
            (_, None) => (now, ChunkKey::Own { seq, day }),
        }
    }

    /// The search position of an event.
    pub(crate) fn position(&self, time: Nanos, uid: Uid) -> Position {
        match self.backend {
            Backend::Dynamo { .. } => Position::Second {
                sec: time.div_euclid(NANOS_PER_SEC),
                digest: uid.digest(),
                uid,
            },
            _ => Position::Micro {
                micros: time.div_euclid(1_000),
                uid,
            },
        }
    }

    /// The inclusive nanosecond bounds a search range `[start, end]` covers: whole seconds for
    /// DynamoDB (start floored, end through its last nanosecond), nanoseconds for the file
    /// backend, microseconds otherwise.
    pub(crate) fn range_bounds(&self, start: Nanos, end: Nanos) -> Option<(Nanos, Nanos)> {
        let unit = match self.backend {
            Backend::Dynamo { .. } => NANOS_PER_SEC,
            Backend::File => 1,
            _ => 1_000,
        };
        let lo = start.div_euclid(unit).saturating_mul(unit);
        let hi = end
            .div_euclid(unit)
            .saturating_mul(unit)
            .saturating_add(unit - 1);
        (lo <= hi).then_some((lo, hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rules(backend: Backend) -> Rules {
        Rules {
            backend,
            origin: 1_000 * NANOS_PER_SEC,
            seed: 1,
        }
    }

    #[test]
    fn dynamo_ranges_are_whole_seconds() {
        let r = rules(Backend::Dynamo {
            max_visibility_delay: Duration::from_secs(1),
        });
        assert_eq!(
            r.range_bounds(5 * NANOS_PER_SEC + 700, 7 * NANOS_PER_SEC + 1),
            Some((5 * NANOS_PER_SEC, 8 * NANOS_PER_SEC - 1))
        );
        let a = rules(Backend::Immediate);
        assert_eq!(a.range_bounds(5_700, 7_001), Some((5_000, 7_999)));
        assert_eq!(a.range_bounds(9_000, 5_000), None);
    }

    #[test]
    fn dynamo_delay_is_bounded_and_deterministic() {
        let r = rules(Backend::Dynamo {
            max_visibility_delay: Duration::from_secs(3),
        });
        let mut saw_late = false;
        for idx in 0..1000 {
            let v = r.generated_visible_at(0, idx, 10);
            assert!((10..=10 + 3 * NANOS_PER_SEC).contains(&v));
            assert_eq!(v, r.generated_visible_at(0, idx, 10));
            saw_late |= v > 10 + NANOS_PER_SEC;
        }
        assert!(saw_late);
    }

    #[test]
    fn athena_flushes_batch_arrivals() {
        let r = rules(Backend::Athena {
            flush_interval: Duration::from_millis(200),
        });
        let o = r.origin;
        let ms = 1_000_000;
        assert_eq!(r.generated_visible_at(0, 0, o), o + 200 * ms);
        assert_eq!(r.generated_visible_at(0, 0, o + 199 * ms), o + 200 * ms);
        assert_eq!(r.generated_visible_at(0, 0, o + 200 * ms), o + 400 * ms);
        // History is already flushed.
        assert_eq!(r.generated_visible_at(0, 0, o - 5), o - 5);
        assert_eq!(r.last_flush(o + 450 * ms), 2);
        // An insert visible "now" gets its own chunk; a future one waits for its flush.
        let (v, c) = r.inserted(0, o + 50 * ms, Some(o), 7);
        assert_eq!((v, c), (o, ChunkKey::Own { seq: 7, day: 0 }));
        let (v, c) = r.inserted(0, o + 50 * ms, None, 8);
        assert_eq!((v, c), (o + 200 * ms, ChunkKey::Flush { j: 1, day: 0 }));
    }

    #[test]
    fn positions_order_as_the_backend_does() {
        let d = rules(Backend::Dynamo {
            max_visibility_delay: Duration::ZERO,
        });
        let early = Uid([0; 16]);
        let late = Uid([0xff; 16]);
        // Within a second DynamoDB ignores sub-second time.
        let a = d.position(NANOS_PER_SEC + 1, early);
        let b = d.position(NANOS_PER_SEC + 999, late);
        assert_eq!(a < b, early.digest() < late.digest());
        assert!(d.position(2 * NANOS_PER_SEC, early) > b);
        let x = rules(Backend::Immediate);
        assert!(x.position(1_000, late) < x.position(2_000, early));
        assert!(x.position(1_000, early) < x.position(1_999, late));
    }
}
