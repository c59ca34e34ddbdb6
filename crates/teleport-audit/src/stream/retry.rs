//! [`Retrier`]: what one sequence of calls does with a failure: retry after a backoff delay
//! (reporting a stall once it has lasted), or give up on a fatal error. Shared by the search
//! loop, the mode probe, the export listings and each export chunk reader.

use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::config::StreamConfig;
use crate::Error;
use crate::backoff::Backoff;
use crate::stats::StatsHandle;

/// Failure bookkeeping of one sequence of calls.
pub(crate) struct Retrier {
    backoff: Box<dyn Backoff>,
    report_after: Duration,
    failing_since: Option<Instant>,
    attempts: u32,
    last_report: Option<Instant>,
    stats: StatsHandle,
}

/// What to do after a failure.
pub(crate) enum Verdict {
    /// Not retryable: report it and stop.
    Fatal(Error),
    /// Try again after `delay`; `stalled` is a stall report to yield, when one is due.
    Retry {
        delay: Duration,
        stalled: Option<Error>,
    },
}

impl Retrier {
    pub(crate) fn new(config: &StreamConfig, stats: StatsHandle) -> Self {
        Self {
            backoff: (config.backoff)(),
            report_after: config.stall_report_after,
            failing_since: None,
            attempts: 0,
            last_report: None,
            stats,
        }
    }

    /// A call succeeded: the next failure starts from the shortest delay again.
    pub(crate) fn succeeded(&mut self) {
        self.backoff.reset();
        self.failing_since = None;
        self.attempts = 0;
        self.last_report = None;
        let now = OffsetDateTime::now_utc();
        self.stats.update(|s| {
            s.consecutive_failures = 0;
            s.last_success = Some(now);
        });
    }

    /// A call failed with `error` (`what` says which call, for the log).
    pub(crate) fn failed(&mut self, error: Error, what: &str) -> Verdict {
        self.stats.update(|s| {
            s.consecutive_failures = s.consecutive_failures.saturating_add(1);
            s.last_error = Some(error.code());
        });
        if !error.is_retryable() {
            // Debug only: the stream yields the error, and its caller reports it once.
            tracing::debug!(%error, code = error.code(), "{what} failed; the audit stream stops");
            return Verdict::Fatal(error);
        }
        let now = Instant::now();
        let since = *self.failing_since.get_or_insert(now);
        self.attempts = self.attempts.saturating_add(1);
        let delay = self.backoff.next_delay();
        self.stats.update(|s| s.retries += 1);
        tracing::warn!(
            %error,
            code = error.code(),
            attempt = self.attempts,
            retry_in = ?delay,
            "{what} failed; retrying"
        );
        let report_due = now.duration_since(since) >= self.report_after
            && self
                .last_report
                .is_none_or(|last| now.duration_since(last) >= self.report_after);
        let stalled = report_due.then(|| {
            self.last_report = Some(now);
            Error::Stalled {
                since: now.duration_since(since),
                attempts: self.attempts,
                last: Box::new(error),
            }
        });
        Verdict::Retry { delay, stalled }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExponentialBackoff;

    fn retrier(report_after: Duration) -> (Retrier, StatsHandle) {
        let stats = StatsHandle::default();
        let config = StreamConfig::default()
            .stall_report_after(report_after)
            .backoff(ExponentialBackoff::new(
                Duration::from_millis(1),
                Duration::from_millis(4),
            ));
        (Retrier::new(&config, stats.clone()), stats)
    }

    fn unavailable() -> Error {
        Error::Unavailable {
            rpc: "X",
            message: "down".into(),
            source: None,
        }
    }

    #[test]
    fn retryable_failures_are_retried_and_a_long_one_is_reported_once_per_period() {
        let (mut retrier, stats) = retrier(Duration::ZERO);
        let Verdict::Retry { stalled, delay } = retrier.failed(unavailable(), "test") else {
            panic!("retryable");
        };
        assert!(delay <= Duration::from_millis(1));
        match stalled {
            Some(Error::Stalled { attempts: 1, .. }) => {}
            other => panic!("expected a stall report, got {other:?}"),
        }
        let s = stats.get();
        assert_eq!((s.retries, s.consecutive_failures), (1, 1));
        assert_eq!(s.last_error, Some("unavailable"));
        retrier.succeeded();
        assert_eq!(stats.get().consecutive_failures, 0);
        assert!(stats.get().last_success.is_some());
    }

    #[test]
    fn no_stall_report_before_the_period() {
        let (mut retrier, _) = retrier(Duration::from_secs(3600));
        for _ in 0..3 {
            let Verdict::Retry { stalled, .. } = retrier.failed(unavailable(), "test") else {
                panic!("retryable");
            };
            assert!(stalled.is_none());
        }
    }

    #[test]
    fn a_fatal_error_is_not_retried() {
        let (mut retrier, stats) = retrier(Duration::ZERO);
        let denied = Error::PermissionDenied {
            rpc: "X",
            message: "no".into(),
        };
        assert!(matches!(
            retrier.failed(denied, "test"),
            Verdict::Fatal(Error::PermissionDenied { .. })
        ));
        assert_eq!(stats.get().retries, 0);
        assert_eq!(stats.get().last_error, Some("permission_denied"));
    }
}
