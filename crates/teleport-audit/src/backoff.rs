//! Retry delays: the [`Backoff`] trait and the default [`ExponentialBackoff`] (jittered, capped).

use std::fmt::Debug;
use std::time::Duration;

use rand::RngExt as _;

/// Chooses how long to wait before retrying a failed call. Swap it with
/// [`crate::StreamConfig::backoff`].
pub trait Backoff: Debug + Send + Sync {
    /// The delay before the next retry; called once per consecutive failure.
    fn next_delay(&mut self) -> Duration;
    /// Called after a success: the next failure starts from the shortest delay again.
    fn reset(&mut self);
}

/// Exponential backoff with "full jitter": the n-th consecutive failure waits a random time in
/// `[base * 2^n / 2, base * 2^n]`, capped at `max`. Half the window is kept as a floor so a
/// fleet of clients spreads out without ever retrying in a tight loop.
#[derive(Clone, Debug)]
pub struct ExponentialBackoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Default for ExponentialBackoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(250), Duration::from_secs(30))
    }
}

impl ExponentialBackoff {
    /// Starts at `base` and doubles per failure up to `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.max(base),
            attempt: 0,
        }
    }

    /// The upper bound of the window for the current attempt, before jitter.
    fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

impl Backoff for ExponentialBackoff {
    fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let floor = ceiling / 2;
        let span = ceiling.saturating_sub(floor);
        let jitter = rand::rng().random_range(0.0..=1.0);
        floor + span.mul_f64(jitter)
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_doubling_within_jitter_and_caps() {
        let mut backoff =
            ExponentialBackoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let expected_ceilings = [100u64, 200, 400, 800, 1000, 1000, 1000];
        for ceiling in expected_ceilings {
            let delay = backoff.next_delay();
            let ceiling = Duration::from_millis(ceiling);
            assert!(delay <= ceiling, "{delay:?} > {ceiling:?}");
            assert!(delay >= ceiling / 2, "{delay:?} < half of {ceiling:?}");
        }
    }

    #[test]
    fn reset_starts_over() {
        let mut backoff =
            ExponentialBackoff::new(Duration::from_millis(100), Duration::from_secs(10));
        for _ in 0..5 {
            backoff.next_delay();
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_spreads_delays() {
        let delays: std::collections::HashSet<Duration> = (0..50)
            .map(|_| {
                ExponentialBackoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_delay()
            })
            .collect();
        assert!(delays.len() > 10, "only {} distinct delays", delays.len());
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut backoff = ExponentialBackoff::new(Duration::from_secs(1), Duration::from_secs(30));
        backoff.attempt = u32::MAX - 1;
        assert!(backoff.next_delay() <= Duration::from_secs(30));
        assert!(backoff.next_delay() <= Duration::from_secs(30));
    }
}
