//! [`Retrier`]: what one sequence of calls does with a failure: retry after a backoff delay
//! (reporting a stall as a [`Notice`] once it has lasted, and its end), or give up on a fatal
//! error. Shared by the search loop, the mode probe, the export listings and each export chunk
//! reader.

use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::config::StreamConfig;
use super::notify::Notifier;
use crate::backoff::Backoff;
use crate::error::Error;
use crate::notice::Notice;

/// Failure bookkeeping of one sequence of calls.
pub(crate) struct Retrier {
    backoff: Box<dyn Backoff>,
    report_after: Duration,
    failing_since: Option<Instant>,
    attempts: u32,
    last_report: Option<Instant>,
    notifier: Notifier,
    /// This sequence's number in the notifier's stall book.
    part: u64,
}

/// What to do after a failure.
pub(crate) enum Verdict {
    /// Not retryable: report it and stop.
    Fatal(Error),
    /// Try again after `delay` (a stall notice has been sent, when one was due).
    Retry { delay: Duration },
}

impl Retrier {
    pub(crate) fn new(config: &StreamConfig, notifier: Notifier) -> Self {
        Self {
            backoff: (config.backoff)(),
            report_after: config.stall_report_after,
            failing_since: None,
            attempts: 0,
            last_report: None,
            part: notifier.register(),
            notifier,
        }
    }

    /// A call succeeded: the next failure starts from the shortest delay again; a reported
    /// stall is over ([`Notice::Recovered`]).
    pub(crate) fn succeeded(&mut self) {
        self.backoff.reset();
        if self.last_report.take().is_some()
            && let Some(since) = self.failing_since
        {
            self.notifier.notice(
                self.part,
                Notice::Recovered {
                    stalled_for: since.elapsed(),
                    attempts: self.attempts,
                },
            );
        }
        self.failing_since = None;
        self.attempts = 0;
        let now = OffsetDateTime::now_utc();
        self.notifier.stats().update(|s| {
            s.consecutive_failures = 0;
            s.last_success = Some(now);
        });
    }

    /// A call failed with `error` (`what` says which call, for the log). `waiting_since`: since
    /// when the stream has waited on this call without an answer (when it was sent, or its last
    /// message for a streaming call): a stall is dated from there, so a call that hangs until
    /// its timeout counts as stalled for all that time, not from the moment it gave up.
    pub(crate) fn failed(&mut self, error: Error, what: &str, waiting_since: Instant) -> Verdict {
        self.notifier.stats().update(|s| {
            s.consecutive_failures = s.consecutive_failures.saturating_add(1);
            s.last_error = Some(error.code());
        });
        if !error.is_retryable() {
            // Debug only: the stream yields the error, and its caller reports it once.
            tracing::debug!(%error, code = error.code(), "{what} failed; the audit stream stops");
            return Verdict::Fatal(error);
        }
        let now = Instant::now();
        let since = *self.failing_since.get_or_insert(waiting_since.min(now));
        self.attempts = self.attempts.saturating_add(1);
        let delay = self.backoff.next_delay();
        self.notifier.stats().update(|s| s.retries += 1);
        tracing::warn!(
            %error,
            code = error.code(),
            attempt = self.attempts,
            retry_in = ?delay,
            "{what} failed; retrying"
        );
        let stalled_for = now.duration_since(since);
        if stall_report_due(
            stalled_for,
            self.last_report.map(|last| now.duration_since(last)),
            self.report_after,
        ) {
            self.last_report = Some(now);
            let since = OffsetDateTime::now_utc() - stalled_for;
            self.notifier.notice(
                self.part,
                Notice::Stalled {
                    since,
                    stalled_for,
                    attempts: self.attempts,
                    last_error: Arc::new(error),
                },
            );
        }
        Verdict::Retry { delay }
    }
}

/// Whether a stall is reported now: the calls have been failing for `stalled_for`, the last
/// report of this stall was `since_report` ago (`None`: not reported yet); a report is due once
/// they have failed for `report_after`, and again after each further `report_after`.
fn stall_report_due(
    stalled_for: Duration,
    since_report: Option<Duration>,
    report_after: Duration,
) -> bool {
    stalled_for >= report_after && since_report.is_none_or(|ago| ago >= report_after)
}

impl Drop for Retrier {
    /// A sequence that ends while stalled (its chunk or stream is gone) is stalled no longer.
    fn drop(&mut self) {
        if self.last_report.is_some() {
            self.notifier.part_ended(self.part);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::ExponentialBackoff;
    use crate::error::PermissionError;
    use crate::error::ServerError;
    use crate::notice::Notices;
    use crate::rpc_name::Rpc;
    use crate::stats::StatsHandle;
    use futures::FutureExt as _;
    use futures::StreamExt as _;

    fn retrier(report_after: Duration) -> (Retrier, StatsHandle, Notices) {
        let stats = StatsHandle::default();
        let notifier = Notifier::new(stats.clone());
        let notices = notifier.subscribe();
        let config = StreamConfig::default()
            .stall_report_after(report_after)
            .backoff(ExponentialBackoff::new(
                Duration::from_millis(1),
                Duration::from_millis(4),
            ));
        (Retrier::new(&config, notifier), stats, notices)
    }

    fn unavailable() -> Error {
        Error::Server(ServerError::Unavailable {
            rpc: Rpc::GetUnstructuredEvents,
            message: "down".into(),
        })
    }

    /// The notices sent so far.
    fn sent(notices: &mut Notices) -> Vec<Notice> {
        std::iter::from_fn(|| notices.next().now_or_never().flatten()).collect()
    }

    #[test]
    fn a_long_failure_is_reported_as_a_stall_notice_and_its_end_as_recovered() {
        let (mut retrier, stats, mut notices) = retrier(Duration::ZERO);
        let Verdict::Retry { delay } = retrier.failed(unavailable(), "test", Instant::now()) else {
            panic!("retryable");
        };
        assert!(delay <= Duration::from_millis(1));
        let got = sent(&mut notices);
        match &got[..] {
            [
                Notice::Stalled {
                    attempts: 1,
                    last_error,
                    ..
                },
            ] => assert_eq!(last_error.code(), "unavailable"),
            other => panic!("expected one stall notice, got {other:?}"),
        }
        let s = stats.get();
        assert_eq!((s.retries, s.consecutive_failures, s.stalls), (1, 1, 1));
        assert!(s.stalled_since.is_some());
        assert_eq!(s.last_error, Some("unavailable"));
        retrier.succeeded();
        let s = stats.get();
        assert_eq!(s.consecutive_failures, 0);
        assert!(s.last_success.is_some());
        assert_eq!(s.stalled_since, None);
        assert!(matches!(
            &sent(&mut notices)[..],
            [Notice::Recovered { attempts: 1, .. }]
        ));
        // A success without a reported stall is no recovery.
        retrier.succeeded();
        assert!(sent(&mut notices).is_empty());
    }

    #[test]
    fn a_call_that_hung_past_the_period_is_a_stall_on_its_first_failure() {
        let (mut hung, stats, mut notices) = retrier(Duration::from_secs(30));
        // Sent 31 s ago, and only now given up (its timeout): stalled all that time.
        let sent_at = Instant::now()
            .checked_sub(Duration::from_secs(31))
            .expect("the clock has run for 31 s");
        let _ = hung.failed(unavailable(), "test", sent_at);
        match &sent(&mut notices)[..] {
            [
                Notice::Stalled {
                    stalled_for,
                    attempts: 1,
                    ..
                },
            ] => {
                assert!(*stalled_for >= Duration::from_secs(31), "{stalled_for:?}");
            }
            other => panic!("expected one stall notice, got {other:?}"),
        }
        assert_eq!(stats.get().stalls, 1);
        // The next failure of the same stall is dated from the first call, not its own.
        let _ = hung.failed(unavailable(), "test", Instant::now());
        assert!(sent(&mut notices).is_empty(), "reported once per period");
        // A call that failed at once is no stall.
        let (mut quick, _, mut quiet) = retrier(Duration::from_secs(30));
        let _ = quick.failed(unavailable(), "test", Instant::now());
        assert!(sent(&mut quiet).is_empty());
    }

    #[test]
    fn no_stall_report_before_the_period() {
        let (mut retrier, stats, mut notices) = retrier(Duration::from_secs(3600));
        for _ in 0..3 {
            assert!(matches!(
                retrier.failed(unavailable(), "test", Instant::now()),
                Verdict::Retry { .. }
            ));
        }
        assert!(sent(&mut notices).is_empty());
        assert_eq!((stats.get().stalls, stats.get().stalled_since), (0, None));
        retrier.succeeded();
        assert!(sent(&mut notices).is_empty(), "no recovery without a stall");
    }

    #[test]
    fn a_stall_is_reported_once_per_period() {
        let period = Duration::from_secs(60);
        let due = |failing: u64, ago: Option<u64>| {
            stall_report_due(
                Duration::from_secs(failing),
                ago.map(Duration::from_secs),
                period,
            )
        };
        assert!(!due(59, None));
        assert!(due(60, None));
        assert!(!due(100, Some(40)));
        assert!(due(120, Some(60)));
        assert!(stall_report_due(Duration::ZERO, None, Duration::ZERO));
    }

    #[test]
    fn a_retrier_dropped_while_stalled_clears_its_stall() {
        let (mut retrier, stats, _notices) = retrier(Duration::ZERO);
        let _ = retrier.failed(unavailable(), "test", Instant::now());
        assert!(stats.get().stalled_since.is_some());
        drop(retrier);
        assert_eq!(stats.get().stalled_since, None);
    }

    #[test]
    fn a_fatal_error_is_not_retried() {
        let (mut retrier, stats, mut notices) = retrier(Duration::ZERO);
        let denied = Error::Permission(PermissionError {
            rpc: Rpc::GetUnstructuredEvents,
            message: "no".into(),
        });
        assert!(matches!(
            retrier.failed(denied, "test", Instant::now()),
            Verdict::Fatal(Error::Permission(PermissionError { .. }))
        ));
        assert_eq!(stats.get().retries, 0);
        assert_eq!(stats.get().last_error, Some("permission_denied"));
        assert!(sent(&mut notices).is_empty());
    }
}
