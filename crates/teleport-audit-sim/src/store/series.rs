//! [`Series`]: a lazily generated, evenly paced run of events (the backlog, or the live
//! generator between two rate changes). Event `i`'s time, id and content are pure functions of
//! the seed, the series' salt and `i`; finding the events of a time range is arithmetic.

use std::ops::Range;

use crate::det::Draw;
use crate::json::Nanos;

/// Jitter bits inside an event's time slot.
const JITTER_BITS: u32 = 16;
const PURPOSE_TIME: u64 = 10;
pub(crate) const MILLI: i64 = 1_000_000;

/// The largest backlog the arithmetic supports without overflow.
pub(crate) const MAX_COUNT: u64 = 1 << 40;

#[derive(Debug, Clone)]
pub(crate) struct Series {
    /// Distinguishes series: part of every id and session id derived in it.
    pub(crate) salt: u64,
    /// Time of slot 0.
    origin: Nanos,
    /// `per` events every `span` nanoseconds.
    span: i128,
    per: i128,
    /// A fixed number of events (the backlog).
    count: Option<u64>,
    /// No events at or after this time (a live series that was stopped).
    pub(crate) until: Option<Nanos>,
    /// Events exist only once their time has come (the live generator).
    pub(crate) live: bool,
}

impl Series {
    /// `count` events spread evenly over `[start, end)`.
    pub(crate) fn backlog(salt: u64, count: u64, start: Nanos, end: Nanos) -> Series {
        Series {
            salt,
            origin: start,
            span: i128::from(end.saturating_sub(start).max(1)),
            per: i128::from(count.max(1)),
            count: Some(count),
            until: None,
            live: false,
        }
    }

    /// `rate` events per second from `start` on, each existing once its time has come.
    pub(crate) fn live(salt: u64, rate: f64, start: Nanos) -> Series {
        const PER: i128 = 1_000_000;
        // Nanoseconds for PER events; at least one.
        let span = ((1e9 * PER as f64) / rate).round().clamp(1.0, 1e30) as i128;
        Series {
            salt,
            origin: start,
            span,
            per: PER,
            count: None,
            until: None,
            live: true,
        }
    }

    /// Time of event `i`: whole milliseconds, as Teleport stamps events.
    pub(crate) fn time(&self, seed: u64, i: u64) -> Nanos {
        let raw = self.raw_time(seed, i);
        raw - raw.rem_euclid(MILLI)
    }

    /// The unrounded time of event `i` (strictly increasing in `i` within a slot).
    fn raw_time(&self, seed: u64, i: u64) -> Nanos {
        let jitter = i128::from(
            Draw::new(&[seed, self.salt, i, PURPOSE_TIME]).next_u64() >> (64 - JITTER_BITS),
        );
        let scaled = ((i128::from(i) << JITTER_BITS) + jitter).saturating_mul(self.span)
            / (self.per << JITTER_BITS);
        self.origin
            .saturating_add(scaled.clamp(0, i128::from(i64::MAX)) as i64)
    }

    /// The slot holding time `t` (may be negative or past the end).
    fn slot(&self, t: Nanos) -> i128 {
        ((i128::from(t) - i128::from(self.origin)).saturating_mul(self.per)).div_euclid(self.span)
    }

    /// First index whose time is `>= t` (may be past the end).
    fn first_at_or_after(&self, seed: u64, t: Nanos) -> u64 {
        // time(i) >= t  <=>  raw_time(i) >= t rounded up to a whole millisecond.
        let t = t.saturating_add((MILLI - t.rem_euclid(MILLI)) % MILLI);
        let s = self.slot(t);
        if s < 0 {
            return 0;
        }
        let s = u64::try_from(s).unwrap_or(u64::MAX);
        if s < u64::MAX && self.raw_time(seed, s) < t {
            s + 1
        } else {
            s
        }
    }

    /// One past the last index whose time is `<= t`.
    fn end_at(&self, seed: u64, t: Nanos) -> u64 {
        // time(i) <= t  <=>  raw_time(i) <= the last nanosecond of t's millisecond.
        let t = (t - t.rem_euclid(MILLI)).saturating_add(MILLI - 1);
        let s = self.slot(t);
        if s < 0 {
            return 0;
        }
        let s = u64::try_from(s).unwrap_or(u64::MAX - 1);
        if self.raw_time(seed, s) <= t {
            s + 1
        } else {
            s
        }
    }

    /// One past the last index that exists at `now`.
    pub(crate) fn end(&self, seed: u64, now: Nanos) -> u64 {
        let mut end = self.count.unwrap_or(u64::MAX);
        if let Some(until) = self.until {
            end = end.min(self.end_at(seed, until.saturating_sub(1)));
        }
        if self.live {
            end = end.min(self.end_at(seed, now));
        }
        end
    }

    /// Indices of existing events with time in `[a, b]`.
    pub(crate) fn indices(&self, seed: u64, a: Nanos, b: Nanos, now: Nanos) -> Range<u64> {
        if b < a {
            return 0..0;
        }
        let end = self.end(seed, now);
        let lo = self.first_at_or_after(seed, a).min(end);
        let hi = self.end_at(seed, b).min(end);
        lo..hi.max(lo)
    }

    /// Time of the first existing event after `t`.
    pub(crate) fn next_after(&self, seed: u64, t: Nanos, now: Nanos) -> Option<Nanos> {
        let i = self.first_at_or_after(seed, t.checked_add(1)?);
        (i < self.end(seed, now)).then(|| self.time(seed, i))
    }

    /// Time of the last existing event before `t`.
    pub(crate) fn prev_before(&self, seed: u64, t: Nanos, now: Nanos) -> Option<Nanos> {
        let end = self
            .end_at(seed, t.checked_sub(1)?)
            .min(self.end(seed, now));
        end.checked_sub(1).map(|i| self.time(seed, i))
    }

    /// Index of the first event of the group holding `i`.
    pub(crate) fn group_start(&self, seed: u64, i: u64) -> Nanos {
        self.time(seed, i - i % crate::generate::GROUP_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: u64 = 3;

    fn brute(series: &Series, a: Nanos, b: Nanos, now: Nanos, upto: u64) -> Vec<u64> {
        (0..upto)
            .filter(|&i| i < series.end(SEED, now))
            .filter(|&i| (a..=b).contains(&series.time(SEED, i)))
            .collect()
    }

    #[test]
    fn times_are_increasing_and_inside_the_span() {
        let s = Series::backlog(0, 1000, 1_000_000, 5_000_000_000);
        let mut last = i64::MIN;
        for i in 0..1000 {
            let t = s.time(SEED, i);
            assert!(t >= last, "{i}");
            assert_eq!(t % 1_000_000, 0, "whole milliseconds");
            assert!((1_000_000..5_000_000_000).contains(&t));
            last = t;
        }
    }

    #[test]
    fn index_ranges_match_brute_force() {
        let dense = Series::backlog(0, 500, -5_000, 100); // more events than nanoseconds
        let sparse = Series::backlog(1, 50, 0, 1_000_000_000);
        for s in [&dense, &sparse] {
            for (a, b) in [
                (-6_000, 200),
                (-4_000, -3_000),
                (0, 0),
                (10, 9),
                (333_333, 777_777),
                (-1, 1_000_000_000),
            ] {
                let got: Vec<u64> = s.indices(SEED, a, b, i64::MAX).collect();
                assert_eq!(got, brute(s, a, b, i64::MAX, 600), "{a}..={b}");
            }
        }
    }

    #[test]
    fn live_series_exists_up_to_now_and_until() {
        let mut s = Series::live(2, 10.0, 1_000_000_000); // every 100 ms
        let now = 1_000_000_000 + 1_050_000_000;
        let end = s.end(SEED, now);
        assert!((10..=11).contains(&end), "{end}");
        assert!(s.time(SEED, end - 1) <= now);
        assert!(s.time(SEED, end) > now);
        s.until = Some(1_500_000_000);
        assert!(s.time(SEED, s.end(SEED, now) - 1) < 1_500_000_000);
        assert!(s.end(SEED, now) <= 5);
    }

    #[test]
    fn neighbours_are_found() {
        let s = Series::backlog(0, 100, 0, 100_000_000_000);
        let t5 = s.time(SEED, 5);
        assert_eq!(s.next_after(SEED, t5, i64::MAX), Some(s.time(SEED, 6)));
        assert_eq!(s.prev_before(SEED, t5, i64::MAX), Some(s.time(SEED, 4)));
        assert_eq!(s.prev_before(SEED, s.time(SEED, 0), i64::MAX), None);
        assert_eq!(s.next_after(SEED, s.time(SEED, 99), i64::MAX), None);
    }
}
