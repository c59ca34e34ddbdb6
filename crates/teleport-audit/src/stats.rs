//! [`StreamStats`]: what a stream has done, readable at any time from any task.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;

use crate::mode::Mode;

/// Counters and timestamps of an [`crate::AuditEventStream`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStats {
    /// Events yielded to the caller.
    pub events_delivered: u64,
    /// Events consumed but not yielded because their type is in
    /// [`crate::StreamConfig::skip_event_types`] (the cursor moves past them).
    pub events_filtered: u64,
    /// Pages received from the Auth Service.
    pub pages: u64,
    /// Events received again (overlapping re-reads of the lateness window) and dropped.
    pub duplicates_dropped: u64,
    /// Failed calls that were retried.
    pub retries: u64,
    /// Stall reports so far ([`crate::Notice::Stalled`]: a sequence of calls failing for longer
    /// than [`crate::StreamConfig::stall_report_after`], reported again after each further
    /// period).
    pub stalls: u64,
    /// While the stream is stalled (a stall was reported and no call of the stalled sequence has
    /// succeeded since): when the oldest stall still going on began, by this machine's clock.
    /// `None` otherwise; cleared by the next successful call ([`crate::Notice::Recovered`]).
    pub stalled_since: Option<OffsetDateTime>,
    /// Events skipped because they exceed the receive limit ([`crate::Notice::EventSkipped`]).
    pub skipped_oversized: u64,
    /// Events that could not be decoded ([`crate::Notice::MalformedEvent`]).
    pub malformed: u64,
    /// Failed calls since the last successful one.
    pub consecutive_failures: u32,
    /// The code of the most recent failure ([`crate::Error::code`]).
    pub last_error: Option<&'static str>,
    /// When the last call succeeded.
    pub last_success: Option<OffsetDateTime>,
    /// The time of the newest event delivered.
    pub newest_event_time: Option<OffsetDateTime>,
    /// Search: every event before this time has been delivered (the cursor's watermark).
    /// Export: every chunk listed before this time has been read (the cursor's `caught_up`).
    pub watermark: Option<OffsetDateTime>,
    /// Search: when (by this machine's clock) the newest complete scan that reached the present
    /// began. Every event the server had made visible by then has been read; in a quiet
    /// cluster this keeps moving while the watermark (tied to event times) does not.
    pub caught_up_at: Option<OffsetDateTime>,
    /// The API the stream reads with, once decided ([`crate::Mode::Search`] or
    /// [`crate::Mode::Export`]; `None` while [`crate::Mode::Auto`] is still asking).
    pub mode: Option<Mode>,
    /// Export: chunks read to the end (and all their events delivered).
    pub chunks_done: u64,
    /// Export: chunks given up ([`crate::Notice::ChunkSkipped`]).
    pub chunks_skipped: u64,
    /// Export: successful chunk listings of a date.
    pub chunk_listings: u64,
    /// Session recordings mode: sessions in progress now (uploaded, recording not yet
    /// delivered to the end; the cursor holds them).
    pub sessions_pending: u64,
    /// Session recordings mode: sessions whose recording was read to the end.
    pub sessions_finished: u64,
    /// Session recordings mode: recording events yielded (not counted in `events_delivered`,
    /// which counts audit events).
    pub recording_events_delivered: u64,
    /// Session recordings mode: recordings given up ([`crate::Notice::RecordingMissing`],
    /// [`crate::Notice::RecordingCorrupt`]).
    pub recordings_given_up: u64,
    /// With an end time ([`crate::StreamConfig::end_time`]): every event up to the end has
    /// been read once, and the stream waits until this time (the end plus the lateness bound,
    /// by this machine's clock) for events that become visible late; then it ends (export mode:
    /// after a listing that starts after it). `None` before.
    pub waiting_for_late_events_until: Option<OffsetDateTime>,
    /// The code ([`crate::Error::code`]) of the fatal error the stream ended with; `None`
    /// while it runs.
    pub fatal: Option<&'static str>,
    /// When the identity the next dial will use expires (its certificate's `not_after`; an
    /// identity file renewed in place shows at once). `None` without an identity. Read when
    /// the stats are read.
    pub identity_expires_at: Option<OffsetDateTime>,
    /// The identity is within its expiry warning margin, or expired
    /// ([`crate::ClientConfig::expiry_warning_margin`]; default a tenth of its lifetime, at
    /// most an hour). The open connection keeps working; the next dial fails if it has expired.
    pub identity_expiring_soon: bool,
}

impl StreamStats {
    /// How far the stream is behind `now`: the age of the newer of the watermark and
    /// [`caught_up_at`](Self::caught_up_at). While backfilling, that is the watermark's age;
    /// once caught up, about a poll interval plus a scan, even when no new event comes (the
    /// watermark alone would keep ageing in a quiet cluster). `None` before the first scan.
    pub fn lag(&self, now: OffsetDateTime) -> Option<Duration> {
        let reached = match (self.watermark, self.caught_up_at) {
            (Some(watermark), Some(caught_up)) => Some(watermark.max(caught_up)),
            (watermark, caught_up) => watermark.or(caught_up),
        };
        reached.map(|reached| (now - reached).try_into().unwrap_or(Duration::ZERO))
    }
}

/// A shared, cloneable view of a stream's [`StreamStats`] (for health checks and metrics from
/// another task).
#[derive(Clone, Default)]
pub struct StatsHandle {
    inner: Arc<Mutex<StreamStats>>,
    /// Where the identity's expiry is read at each [`StatsHandle::get`] (the stream's client).
    identity: Option<IdentityStatus>,
}

/// The identity's expiry and whether it is within the warning margin, read afresh.
type IdentityStatus = Arc<dyn Fn() -> Option<(OffsetDateTime, bool)> + Send + Sync>;

impl fmt::Debug for StatsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatsHandle")
            .field("stats", &*self.lock())
            .finish_non_exhaustive()
    }
}

impl StatsHandle {
    /// Stats whose identity fields `identity` fills in at each read (it reads the identity the
    /// next dial uses, so a renewed file shows at once).
    pub(crate) fn with_identity_status(
        identity: impl Fn() -> Option<(OffsetDateTime, bool)> + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner: Arc::default(),
            identity: Some(Arc::new(identity)),
        }
    }

    /// A snapshot of the stream's stats.
    pub fn get(&self) -> StreamStats {
        let mut stats = self.lock().clone();
        if let Some((expires_at, soon)) = self.identity.as_ref().and_then(|status| status()) {
            stats.identity_expires_at = Some(expires_at);
            stats.identity_expiring_soon = soon;
        }
        stats
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut StreamStats)) {
        change(&mut self.lock());
    }

    fn lock(&self) -> MutexGuard<'_, StreamStats> {
        // A panic while holding this lock cannot leave the counters inconsistent in a way that
        // matters more than losing them; keep serving them.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_the_watermark_age() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(100);
        let mut stats = StreamStats::default();
        assert_eq!(stats.lag(now), None);
        stats.watermark = Some(OffsetDateTime::UNIX_EPOCH + Duration::from_secs(70));
        assert_eq!(stats.lag(now), Some(Duration::from_secs(30)));
        stats.watermark = Some(now + Duration::from_secs(5));
        assert_eq!(stats.lag(now), Some(Duration::ZERO));
        // Caught up in a quiet cluster: the watermark stays at the last event, the lag is the
        // age of the last scan that reached the present.
        stats.watermark = Some(OffsetDateTime::UNIX_EPOCH + Duration::from_secs(10));
        stats.caught_up_at = Some(OffsetDateTime::UNIX_EPOCH + Duration::from_secs(98));
        assert_eq!(stats.lag(now), Some(Duration::from_secs(2)));
        // A newer watermark wins over an older scan.
        stats.watermark = Some(OffsetDateTime::UNIX_EPOCH + Duration::from_secs(99));
        assert_eq!(stats.lag(now), Some(Duration::from_secs(1)));
        stats.watermark = None;
        assert_eq!(stats.lag(now), Some(Duration::from_secs(2)));
    }

    #[test]
    fn handle_is_shared() {
        let handle = StatsHandle::default();
        let other = handle.clone();
        handle.update(|s| s.events_delivered += 3);
        assert_eq!(other.get().events_delivered, 3);
    }
}
