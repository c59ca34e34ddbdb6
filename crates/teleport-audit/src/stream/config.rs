//! [`StreamConfig`]: what to fetch and how patiently.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::backoff::{Backoff, ExponentialBackoff};
use crate::client::DEFAULT_MAX_RECEIVE;
use crate::cursor::Cursor;

/// Teleport refuses pages over this many events.
pub const MAX_PAGE_SIZE: u32 = 10_000;
/// Default events per page (Teleport's own default).
pub const DEFAULT_PAGE_SIZE: u32 = 500;
/// Default wait between polls once caught up.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Default bound on how late an event may become visible in search and still be delivered.
pub const DEFAULT_MAX_LATENESS: Duration = Duration::from_secs(10);
/// Default time range of one search during a long backfill.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// Default largest message the stream accepts before shrinking pages (Teleport's clients: 4 MiB).
pub const DEFAULT_MAX_RECEIVE_SIZE: usize = DEFAULT_MAX_RECEIVE;
/// Default largest message the stream will raise its limit to for one oversized event.
pub const DEFAULT_MAX_RECEIVE_SIZE_LIMIT: usize = 64 * 1024 * 1024;
/// Default time of continuous failure after which the stream yields [`crate::Error::Stalled`].
pub const DEFAULT_STALL_REPORT_AFTER: Duration = Duration::from_secs(60);

/// Where a stream begins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// From the moment the stream is first polled: no past records.
    Now,
    /// From a backfill start time.
    At(OffsetDateTime),
    /// Right after the events a stored cursor covers.
    Resume(Box<Cursor>),
}

type BackoffFactory = Arc<dyn Fn() -> Box<dyn Backoff> + Send + Sync>;

/// Settings of an [`crate::AuditEventStream`].
///
/// ```
/// use std::time::Duration;
/// use teleport_audit::StreamConfig;
/// use time::macros::datetime;
///
/// let config = StreamConfig::default()
///     .backfill_start(datetime!(2025-12-01 00:00 UTC))
///     .event_types(["user.login", "access_request.create"])
///     .page_size(1000)
///     .max_lateness(Duration::from_secs(30));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct StreamConfig {
    pub(crate) start: Start,
    pub(crate) end: Option<OffsetDateTime>,
    pub(crate) event_types: Vec<String>,
    pub(crate) page_size: u32,
    pub(crate) poll_interval: Duration,
    pub(crate) max_lateness: Duration,
    pub(crate) window: Duration,
    pub(crate) max_receive_size: usize,
    pub(crate) max_receive_size_limit: usize,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) stall_report_after: Duration,
    pub(crate) backoff: BackoffFactory,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            start: Start::Now,
            end: None,
            event_types: Vec::new(),
            page_size: DEFAULT_PAGE_SIZE,
            poll_interval: DEFAULT_POLL_INTERVAL,
            max_lateness: DEFAULT_MAX_LATENESS,
            window: DEFAULT_WINDOW,
            max_receive_size: DEFAULT_MAX_RECEIVE_SIZE,
            max_receive_size_limit: DEFAULT_MAX_RECEIVE_SIZE_LIMIT,
            request_timeout: None,
            stall_report_after: DEFAULT_STALL_REPORT_AFTER,
            backoff: Arc::new(|| Box::new(ExponentialBackoff::default())),
        }
    }
}

impl fmt::Debug for StreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamConfig")
            .field("start", &self.start)
            .field("end", &self.end)
            .field("event_types", &self.event_types)
            .field("page_size", &self.page_size)
            .field("poll_interval", &self.poll_interval)
            .field("max_lateness", &self.max_lateness)
            .field("window", &self.window)
            .field("max_receive_size", &self.max_receive_size)
            .field("max_receive_size_limit", &self.max_receive_size_limit)
            .field("request_timeout", &self.request_timeout)
            .field("stall_report_after", &self.stall_report_after)
            .finish_non_exhaustive()
    }
}

impl StreamConfig {
    /// Start from now: no past records (the default, and the spec's behaviour when no backfill
    /// start time is set).
    #[must_use]
    pub fn start_now(mut self) -> Self {
        self.start = Start::Now;
        self
    }

    /// Start at a backfill time: every event at or after it is delivered.
    #[must_use]
    pub fn backfill_start(mut self, time: OffsetDateTime) -> Self {
        self.start = Start::At(time);
        self
    }

    /// Resume right after the events covered by a stored cursor (the backfill start is then
    /// ignored). The event-type filter must be the one the cursor was taken with.
    #[must_use]
    pub fn resume_from(mut self, cursor: Cursor) -> Self {
        self.start = Start::Resume(Box::new(cursor));
        self
    }

    /// Stop once every event up to this time has been delivered (after waiting out the
    /// lateness bound). Without it, the stream follows the log forever.
    #[must_use]
    pub fn end_time(mut self, time: OffsetDateTime) -> Self {
        self.end = Some(time);
        self
    }

    /// Only these event types (`user.login`, `role.created`, ...), filtered by the server.
    /// Empty (the default) means all.
    #[must_use]
    pub fn event_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut types: Vec<String> = types.into_iter().map(Into::into).collect();
        types.sort();
        types.dedup();
        self.event_types = types;
        self
    }

    /// Events per page, 1 to 10,000 (default 500). Larger pages mean fewer calls; Teleport also
    /// caps a page at 1 MiB of events.
    #[must_use]
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size;
        self
    }

    /// Wait between polls once caught up (default 2 s).
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How late an event may become visible in search after its own time and still be
    /// delivered (default 10 s). Covers eventually consistent backends (DynamoDB: seconds) and
    /// clock skew between Auth servers. Larger values cost a larger cursor and more re-reading.
    #[must_use]
    pub fn max_lateness(mut self, lateness: Duration) -> Self {
        self.max_lateness = lateness;
        self
    }

    /// Time range of one search during a long backfill (default 24 h).
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The largest message accepted before pages are shrunk (default 4 MiB).
    #[must_use]
    pub fn max_receive_size(mut self, bytes: usize) -> Self {
        self.max_receive_size = bytes;
        self
    }

    /// The largest message the stream raises its limit to, to get one oversized event through
    /// (default 64 MiB). Beyond it the event is skipped with [`crate::Error::EventSkipped`].
    #[must_use]
    pub fn max_receive_size_limit(mut self, bytes: usize) -> Self {
        self.max_receive_size_limit = bytes;
        self
    }

    /// Time allowed for one page before the call counts as stalled and is retried (default: the
    /// client's request timeout).
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// After this long without a successful call the stream yields [`crate::Error::Stalled`]
    /// (and again after each further period), while it keeps retrying (default 60 s).
    #[must_use]
    pub fn stall_report_after(mut self, after: Duration) -> Self {
        self.stall_report_after = after;
        self
    }

    /// The retry delay policy (default [`ExponentialBackoff`]: 250 ms doubling to 30 s, jittered).
    #[must_use]
    pub fn backoff<B>(mut self, backoff: B) -> Self
    where
        B: Backoff + Clone + 'static,
    {
        self.backoff = Arc::new(move || Box::new(backoff.clone()));
        self
    }

    /// Checks the settings against Teleport's limits.
    pub(crate) fn validate(&self) -> Result<(), crate::Error> {
        let invalid =
            |field: &'static str, reason: String| Err(crate::Error::Config { field, reason });
        if self.page_size == 0 || self.page_size > MAX_PAGE_SIZE {
            return invalid(
                "page_size",
                format!(
                    "{} is outside 1..={MAX_PAGE_SIZE} (Teleport's limit)",
                    self.page_size
                ),
            );
        }
        if self.window < Duration::from_secs(1) {
            return invalid("window", "must be at least one second".to_owned());
        }
        if self.max_receive_size < 1024 {
            return invalid("max_receive_size", "must be at least 1 KiB".to_owned());
        }
        if self.max_receive_size_limit < self.max_receive_size {
            return invalid(
                "max_receive_size_limit",
                "must not be below max_receive_size".to_owned(),
            );
        }
        if let (Some(end), Start::At(start)) = (self.end, &self.start)
            && end < *start
        {
            return invalid(
                "end_time",
                format!("{end} is before the backfill start {start}"),
            );
        }
        if let Start::Resume(cursor) = &self.start
            && cursor.event_types != self.event_types
        {
            return Err(crate::Error::InvalidCursor {
                reason: format!(
                    "the cursor was taken with event types {:?} but the stream asks for {:?}",
                    cursor.event_types, self.event_types
                ),
                source: None,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn limits_are_checked() {
        assert!(StreamConfig::default().validate().is_ok());
        let e = StreamConfig::default().page_size(0).validate().unwrap_err();
        assert!(
            matches!(
                e,
                crate::Error::Config {
                    field: "page_size",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = StreamConfig::default()
            .page_size(10_001)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("10000"), "{e}");
        assert!(StreamConfig::default().page_size(10_000).validate().is_ok());
        let e = StreamConfig::default()
            .max_receive_size(8 << 20)
            .max_receive_size_limit(4 << 20)
            .validate()
            .unwrap_err();
        assert!(matches!(
            e,
            crate::Error::Config {
                field: "max_receive_size_limit",
                ..
            }
        ));
        let e = StreamConfig::default()
            .backfill_start(datetime!(2025-02-01 0:00 UTC))
            .end_time(datetime!(2025-01-01 0:00 UTC))
            .validate()
            .unwrap_err();
        assert!(matches!(
            e,
            crate::Error::Config {
                field: "end_time",
                ..
            }
        ));
    }

    #[test]
    fn a_cursor_must_match_the_filter() {
        let mut cursor = Cursor::starting_at(datetime!(2025-01-01 0:00 UTC));
        cursor.event_types = vec!["user.login".into()];
        let e = StreamConfig::default()
            .resume_from(cursor.clone())
            .validate()
            .unwrap_err();
        assert!(matches!(e, crate::Error::InvalidCursor { .. }), "{e:?}");
        let ok = StreamConfig::default()
            .event_types(["user.login"])
            .resume_from(cursor)
            .validate();
        assert!(ok.is_ok());
    }

    #[test]
    fn event_types_are_normalised() {
        let config = StreamConfig::default().event_types(["b", "a", "b"]);
        assert_eq!(config.event_types, vec!["a".to_owned(), "b".to_owned()]);
    }
}
