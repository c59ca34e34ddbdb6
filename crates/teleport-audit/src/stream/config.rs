//! [`StreamConfig`]: what to fetch and how patiently.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::session_recordings::SessionRecordings;
use super::type_set::type_set;
use crate::backoff::{Backoff, ExponentialBackoff};
use crate::cursor::Cursor;
use crate::error::{CursorError, Error, SettingError};
use crate::mode::Mode;

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
pub const DEFAULT_MAX_RECEIVE_SIZE: usize = 4 * 1024 * 1024;
/// Default largest message the stream will raise its limit to for one oversized event.
pub const DEFAULT_MAX_RECEIVE_SIZE_LIMIT: usize = 64 * 1024 * 1024;
/// Default time of continuous failure after which the stream reports a
/// [`crate::Notice::Stalled`].
pub const DEFAULT_STALL_REPORT_AFTER: Duration = Duration::from_secs(60);
/// Default lateness bound in export mode when [`StreamConfig::max_lateness`] is not set: Athena
/// writes its batches about once a minute, so a chunk can appear a minute or more after the
/// events it holds.
pub const DEFAULT_EXPORT_MAX_LATENESS: Duration = Duration::from_secs(120);
/// Default wait between two listings of the export chunks of the active dates (Teleport's event
/// handler polls every 16 s; Athena flushes about once a minute).
pub const DEFAULT_EXPORT_POLL_INTERVAL: Duration = Duration::from_secs(15);
/// Default number of past dates whose export chunks are still listed for late chunks (the Go
/// event handler keeps polling the previous 2 dates).
pub const DEFAULT_EXPORT_LOOKBACK: Duration = Duration::from_secs(2 * 24 * 60 * 60);
/// Default number of export chunks read at the same time.
pub const DEFAULT_EXPORT_CONCURRENCY: usize = 4;
/// Most export chunks read at the same time.
pub const MAX_EXPORT_CONCURRENCY: usize = 64;
/// Longest export lookback: it bounds the cursor (the chunks of every date in the window are
/// remembered).
pub const MAX_EXPORT_LOOKBACK: Duration = Duration::from_secs(31 * 24 * 60 * 60);
/// Longest `export_poll_interval` accepted: a day.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

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

pub(crate) type BackoffFactory = Arc<dyn Fn() -> Box<dyn Backoff> + Send + Sync>;

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
    /// Types consumed but not yielded (sorted, deduplicated); not part of the cursor.
    pub(crate) skip_event_types: Arc<[String]>,
    pub(crate) page_size: u32,
    pub(crate) poll_interval: Duration,
    pub(crate) max_lateness: Duration,
    pub(crate) window: Duration,
    pub(crate) max_receive_size: usize,
    pub(crate) max_receive_size_limit: usize,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) stall_report_after: Duration,
    pub(crate) backoff: BackoffFactory,
    pub(crate) mode: Mode,
    /// Whether `max_lateness` was set by the caller (else export mode uses its own default).
    pub(crate) max_lateness_set: bool,
    pub(crate) export_poll_interval: Duration,
    pub(crate) export_lookback: Duration,
    pub(crate) export_concurrency: usize,
    /// The session recordings mode, when on.
    pub(crate) session_recordings: Option<SessionRecordings>,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            start: Start::Now,
            end: None,
            event_types: Vec::new(),
            skip_event_types: Arc::from(Vec::new()),
            page_size: DEFAULT_PAGE_SIZE,
            poll_interval: DEFAULT_POLL_INTERVAL,
            max_lateness: DEFAULT_MAX_LATENESS,
            window: DEFAULT_WINDOW,
            max_receive_size: DEFAULT_MAX_RECEIVE_SIZE,
            max_receive_size_limit: DEFAULT_MAX_RECEIVE_SIZE_LIMIT,
            request_timeout: None,
            stall_report_after: DEFAULT_STALL_REPORT_AFTER,
            backoff: Arc::new(|| Box::new(ExponentialBackoff::default())),
            mode: Mode::Auto,
            max_lateness_set: false,
            export_poll_interval: DEFAULT_EXPORT_POLL_INTERVAL,
            export_lookback: DEFAULT_EXPORT_LOOKBACK,
            export_concurrency: DEFAULT_EXPORT_CONCURRENCY,
            session_recordings: None,
        }
    }
}

impl fmt::Debug for StreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamConfig")
            .field("start", &self.start)
            .field("end", &self.end)
            .field("event_types", &self.event_types)
            .field("skip_event_types", &self.skip_event_types)
            .field("page_size", &self.page_size)
            .field("poll_interval", &self.poll_interval)
            .field("max_lateness", &self.max_lateness)
            .field("window", &self.window)
            .field("max_receive_size", &self.max_receive_size)
            .field("max_receive_size_limit", &self.max_receive_size_limit)
            .field("request_timeout", &self.request_timeout)
            .field("stall_report_after", &self.stall_report_after)
            .field("mode", &self.mode)
            .field("export_poll_interval", &self.export_poll_interval)
            .field("export_lookback", &self.export_lookback)
            .field("export_concurrency", &self.export_concurrency)
            .field("session_recordings", &self.session_recordings)
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
    /// ignored). The event-type filter must be the one the cursor was taken with; the stream
    /// reads in the cursor's mode (an explicit other [`StreamConfig::mode`] is refused).
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

    /// Only these event types (`user.login`, `role.created`, ...), filtered by the server in
    /// search mode and by the stream in export mode (the export API has no filter). Empty (the
    /// default) means all.
    #[must_use]
    pub fn event_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.event_types = type_set(types);
        self
    }

    /// Never yield events of these types (`cert.create`, `session.data`, ...): a filter applied
    /// by the stream after the events arrive. A skipped event is consumed like any other (the
    /// cursor moves past it, duplicates are dropped as usual) and counted in
    /// [`crate::StreamStats::events_filtered`]; it is not yielded. Empty (the default) skips
    /// nothing.
    ///
    /// Unlike [`StreamConfig::event_types`] (which the server applies in search mode, and which
    /// a cursor records), this set is not part of the cursor: a stream may resume from a cursor
    /// with another skip set, and then yields, after the cursor, exactly the events its own set
    /// lets through. A type in both sets is skipped.
    #[must_use]
    pub fn skip_event_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.skip_event_types = Arc::from(type_set(types));
        self
    }

    /// Search mode: events per page, 1 to 10,000 (default 500). Larger pages mean fewer calls;
    /// Teleport also caps a page at 1 MiB of events.
    #[must_use]
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size;
        self
    }

    /// Search mode: wait between polls once caught up (default 2 s). Export mode polls every
    /// [`StreamConfig::export_poll_interval`].
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How late an event may become visible in search after its own time and still be
    /// delivered (default 10 s). Covers eventually consistent backends (DynamoDB: seconds) and
    /// clock skew between Auth servers. Larger values cost a larger cursor and more re-reading.
    ///
    /// In export mode it bounds how long after an event its chunk appears, and matters only with
    /// [`StreamConfig::end_time`]: the stream ends once a listing started this long after the end
    /// has been read. Unset, export mode uses [`DEFAULT_EXPORT_MAX_LATENESS`] (2 min: Athena
    /// writes a batch about once a minute).
    #[must_use]
    pub fn max_lateness(mut self, lateness: Duration) -> Self {
        self.max_lateness = lateness;
        self.max_lateness_set = true;
        self
    }

    /// Search mode: time range of one search during a long backfill (default 24 h).
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
    /// (default 64 MiB). Beyond it the event is skipped with a [`crate::Notice::EventSkipped`].
    #[must_use]
    pub fn max_receive_size_limit(mut self, bytes: usize) -> Self {
        self.max_receive_size_limit = bytes;
        self
    }

    /// Time allowed for one page (search), one chunk listing, or the next message of a chunk
    /// (export) before the call counts as stalled and is retried (default: the client's request
    /// timeout).
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// After this long without a successful call the stream reports a [`crate::Notice::Stalled`]
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

    /// Which API to read the audit log with (default [`Mode::Auto`]: export when the cluster
    /// serves it, else search).
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Export mode: wait between two listings of the chunks of the active dates (default 15 s,
    /// at most a day).
    /// New chunks appear as Athena writes its batches, about once a minute.
    #[must_use]
    pub fn export_poll_interval(mut self, interval: Duration) -> Self {
        self.export_poll_interval = interval;
        self
    }

    /// Export mode: how far back chunks that appear late for past dates are still looked for
    /// (default 2 days, rounded up to whole UTC dates: today and the 2 dates before it are
    /// listed at every poll). Chunks of older dates that appear after the stream has read those
    /// dates are not delivered. At most 31 days.
    #[must_use]
    pub fn export_lookback(mut self, lookback: Duration) -> Self {
        self.export_lookback = lookback;
        self
    }

    /// Export mode: how many chunks are read at the same time (default 4, at most 64). Each
    /// open chunk is one server stream; events read ahead wait in a bounded queue.
    #[must_use]
    pub fn export_concurrency(mut self, chunks: usize) -> Self {
        self.export_concurrency = chunks;
        self
    }

    /// Session recordings mode (off by default): after each `session.upload` audit event (a
    /// session's recording was uploaded), the stream also yields that session's recording
    /// events (the commands, Kubernetes exec, database queries, ... of the session), read with
    /// [`crate::Client::session_events`], up to [`SessionRecordings::concurrency`] sessions at a
    /// time, interleaved with the audit events that follow.
    ///
    /// Items stay [`teleport_audit_types::AuditEvent`]s; every recording event carries its
    /// session's `sid`. A recording's `session.start` and `session.end` have the same `uid` as
    /// their audit-log copies, so tell them apart with
    /// [`crate::AuditEventStream::last_recording`] (the session id of the item just yielded when
    /// it is a recording event, `None` for an audit event).
    ///
    /// The cursor covers the sessions in progress: a resumed stream continues each recording
    /// after its last delivered event, and the audit events after the last delivered one. A
    /// duplicate `session.upload` (Teleport may emit two) is delivered, its recording not
    /// again. While [`SessionRecordings::max_pending`] sessions are in progress the audit log is
    /// not read (backpressure). A recording that is missing (after
    /// [`SessionRecordings::recording_wait`]) or corrupt is reported with a
    /// [`crate::Notice::RecordingMissing`] or [`crate::Notice::RecordingCorrupt`] naming the
    /// session, and the stream goes on.
    #[must_use]
    pub fn session_recordings(mut self, recordings: SessionRecordings) -> Self {
        self.session_recordings = Some(recordings);
        self
    }

    /// The lateness bound export mode works with.
    pub(crate) fn export_lateness(&self) -> Duration {
        if self.max_lateness_set {
            self.max_lateness
        } else {
            DEFAULT_EXPORT_MAX_LATENESS
        }
    }

    /// Export mode: the number of past UTC dates listed again at every poll.
    pub(crate) fn lookback_days(&self) -> i64 {
        const DAY: u64 = 24 * 60 * 60;
        let secs =
            self.export_lookback.as_secs() + u64::from(self.export_lookback.subsec_nanos() > 0);
        i64::try_from(secs.div_ceil(DAY)).unwrap_or(i64::MAX)
    }

    /// Checks the settings against Teleport's limits (and our own: durations that time
    /// arithmetic can hold). [`crate::Client::audit_events`] checks them too (a stream with bad
    /// settings yields this error and ends); call it first to refuse bad settings before
    /// connecting.
    ///
    /// # Errors
    ///
    /// [`SettingError::Config`] naming the first setting out of range (`page_size` outside
    /// 1..=10000, an end time before the backfill start, ...).
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |field: &'static str, reason: String| {
            Err(Error::Setting(SettingError::config(field, reason)))
        };
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
        if self.export_poll_interval.is_zero() || self.export_poll_interval > MAX_POLL_INTERVAL {
            return invalid(
                "export_poll_interval",
                "must be above zero and at most a day".to_owned(),
            );
        }
        if self.export_concurrency == 0 || self.export_concurrency > MAX_EXPORT_CONCURRENCY {
            return invalid(
                "export_concurrency",
                format!(
                    "{} is outside 1..={MAX_EXPORT_CONCURRENCY}",
                    self.export_concurrency
                ),
            );
        }
        if self.export_lookback > MAX_EXPORT_LOOKBACK {
            return invalid(
                "export_lookback",
                format!(
                    "{:?} is over the limit of 31 days (the cursor remembers every chunk of every date in it)",
                    self.export_lookback
                ),
            );
        }
        if let Some(recordings) = &self.session_recordings {
            recordings.validate()?;
        }
        if let Start::Resume(cursor) = &self.start {
            if self.session_recordings.is_none() && !cursor.sessions.pending.is_empty() {
                return Err(Error::Cursor(CursorError::Invalid {
                    reason: format!(
                        "the cursor holds {} session recordings in progress but the stream does not \
                         read session recordings; resume it with session recordings on, or their \
                         remaining events would be lost",
                        cursor.sessions.pending.len()
                    ),
                    source: None,
                }));
            }
            if cursor.event_types != self.event_types {
                return Err(Error::Cursor(CursorError::Invalid {
                    reason: format!(
                        "the cursor was taken with event types {:?} but the stream asks for {:?}",
                        cursor.event_types, self.event_types
                    ),
                    source: None,
                }));
            }
            let taken_in = cursor.mode();
            if self.mode != Mode::Auto && self.mode != taken_in {
                return Err(Error::Cursor(CursorError::Invalid {
                    reason: format!(
                        "the cursor was taken in {taken_in} mode but the stream is set to {} mode; \
                         resume it in {taken_in} (or auto) mode, or start a new stream from a backfill time",
                        self.mode
                    ),
                    source: None,
                }));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::type_set::skips;
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_cursor_with_sessions_in_progress_needs_session_recordings() {
        let cursor = Cursor::from_json(
            r#"{"v":1,"watermark":"2025-01-01T00:00:00Z","sessions":[{"sid":"0f6f4d61-1b7e-4a52-8c3d-91e2f0a7b6c5","next":3,"uploaded":"2025-01-01T00:00:00Z"}]}"#,
        )
        .unwrap();
        let config = StreamConfig::default().resume_from(cursor);
        match config.validate() {
            Err(Error::Cursor(CursorError::Invalid { reason, .. })) => {
                assert!(
                    reason.contains("1 session recordings in progress"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            config
                .session_recordings(SessionRecordings::default())
                .validate()
                .is_ok()
        );
        // Only finished sessions: nothing would be lost.
        let cursor =
            Cursor::from_json(r#"{"v":1,"watermark":"2025-01-01T00:00:00Z","finished":["0f6f4d61-1b7e-4a52-8c3d-91e2f0a7b6c5"]}"#)
                .unwrap();
        assert!(
            StreamConfig::default()
                .resume_from(cursor)
                .validate()
                .is_ok()
        );
        // Bad recordings settings are the stream's settings errors.
        assert!(
            StreamConfig::default()
                .session_recordings(SessionRecordings::default().concurrency(0))
                .validate()
                .is_err()
        );
    }

    #[test]
    fn limits_are_checked() {
        assert!(StreamConfig::default().validate().is_ok());
        let e = StreamConfig::default().page_size(0).validate().unwrap_err();
        assert!(
            matches!(
                e,
                Error::Setting(SettingError::Config {
                    field: "page_size",
                    ..
                })
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
            Error::Setting(SettingError::Config {
                field: "max_receive_size_limit",
                ..
            })
        ));
        let e = StreamConfig::default()
            .backfill_start(datetime!(2025-02-01 0:00 UTC))
            .end_time(datetime!(2025-01-01 0:00 UTC))
            .validate()
            .unwrap_err();
        assert!(matches!(
            e,
            Error::Setting(SettingError::Config {
                field: "end_time",
                ..
            })
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
        assert!(
            matches!(e, Error::Cursor(CursorError::Invalid { .. })),
            "{e:?}"
        );
        let ok = StreamConfig::default()
            .event_types(["user.login"])
            .resume_from(cursor)
            .validate();
        assert!(ok.is_ok());
    }

    #[test]
    fn export_settings_are_checked() {
        let field = |config: StreamConfig| match config.validate() {
            Err(Error::Setting(SettingError::Config { field, .. })) => field,
            other => panic!("expected a config error, got {other:?}"),
        };
        assert_eq!(
            field(StreamConfig::default().export_concurrency(0)),
            "export_concurrency"
        );
        assert_eq!(
            field(StreamConfig::default().export_concurrency(65)),
            "export_concurrency"
        );
        assert_eq!(
            field(StreamConfig::default().export_poll_interval(Duration::ZERO)),
            "export_poll_interval"
        );
        assert_eq!(
            field(StreamConfig::default().export_poll_interval(Duration::MAX)),
            "export_poll_interval"
        );
        assert!(
            StreamConfig::default()
                .export_poll_interval(MAX_POLL_INTERVAL)
                .validate()
                .is_ok()
        );
        assert_eq!(
            field(StreamConfig::default().export_lookback(Duration::from_secs(32 * 86_400))),
            "export_lookback"
        );
        assert!(
            StreamConfig::default()
                .export_concurrency(64)
                .export_lookback(MAX_EXPORT_LOOKBACK)
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn the_lookback_is_counted_in_whole_dates() {
        let days = |secs: u64| {
            StreamConfig::default()
                .export_lookback(Duration::from_secs(secs))
                .lookback_days()
        };
        assert_eq!(StreamConfig::default().lookback_days(), 2);
        assert_eq!(days(0), 0);
        assert_eq!(days(1), 1);
        assert_eq!(days(86_400), 1);
        assert_eq!(days(86_401), 2);
        assert_eq!(
            StreamConfig::default()
                .export_lookback(Duration::from_millis(1))
                .lookback_days(),
            1
        );
    }

    #[test]
    fn export_lateness_has_its_own_default_unless_set() {
        assert_eq!(
            StreamConfig::default().export_lateness(),
            DEFAULT_EXPORT_MAX_LATENESS
        );
        let set = StreamConfig::default().max_lateness(Duration::from_secs(5));
        assert_eq!(set.export_lateness(), Duration::from_secs(5));
        assert_eq!(set.max_lateness, Duration::from_secs(5));
    }

    #[test]
    fn an_explicit_mode_must_match_the_cursor() {
        let search = Cursor::starting_at(datetime!(2025-01-01 0:00 UTC));
        let e = StreamConfig::default()
            .mode(Mode::Export)
            .resume_from(search.clone())
            .validate()
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("taken in search mode but the stream is set to export mode"),
            "{e}"
        );
        for mode in [Mode::Auto, Mode::Search] {
            assert!(
                StreamConfig::default()
                    .mode(mode)
                    .resume_from(search.clone())
                    .validate()
                    .is_ok()
            );
        }
        assert_eq!(Mode::default(), Mode::Auto);
        assert_eq!(Mode::Export.to_string(), "export");
    }

    #[test]
    fn the_skip_set_is_normalised_and_not_checked_against_the_cursor() {
        let config = StreamConfig::default().skip_event_types(["b", "a", "b"]);
        assert_eq!(&*config.skip_event_types, ["a".to_owned(), "b".to_owned()]);
        let set = &config.skip_event_types;
        assert!(skips(set, "a") && skips(set, "b"));
        assert!(!skips(set, "") && !skips(set, "c") && !skips(set, "a.b"));
        assert!(!skips(&StreamConfig::default().skip_event_types, "a"));
        // A cursor taken without a skip set resumes with one (and the other way round).
        let cursor = Cursor::starting_at(datetime!(2025-01-01 0:00 UTC));
        assert!(config.clone().resume_from(cursor).validate().is_ok());
    }

    #[test]
    fn event_types_are_normalised() {
        let config = StreamConfig::default().event_types(["b", "a", "b"]);
        assert_eq!(config.event_types, vec!["a".to_owned(), "b".to_owned()]);
    }
}
