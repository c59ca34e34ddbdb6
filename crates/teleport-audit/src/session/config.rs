//! [`SessionEventsConfig`]: how [`crate::Client::session_events`] reads one session's recording.

use std::sync::Arc;
use std::time::Duration;

use crate::backoff::{Backoff, ExponentialBackoff};
use crate::cursor::valid_session_id;
use crate::error::SettingError;
use crate::stream::config::{BackoffFactory, DEFAULT_MAX_RECEIVE_SIZE, DEFAULT_STALL_REPORT_AFTER};
use crate::stream::session_recordings::DEFAULT_RECORDING_WAIT;
use crate::stream::type_set::type_set;

/// Default [`SessionEventsConfig::first_event_timeout`]: Teleport downloads the whole recording
/// from its storage before it sends the first event, so the first answer may take long.
pub const DEFAULT_FIRST_EVENT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Default [`SessionEventsConfig::max_event_size`]: gRPC's usual receive limit, the one
/// Teleport's own Go client reads recordings with (grpc-go's default; its api client sets no
/// other).
pub const DEFAULT_MAX_SESSION_EVENT_SIZE: usize = DEFAULT_MAX_RECEIVE_SIZE;

/// Settings of [`crate::Client::session_events`].
///
/// ```
/// use std::time::Duration;
/// use teleport_audit::SessionEventsConfig;
///
/// // Everything but the raw terminal output (the default), from event index 120 on.
/// let config = SessionEventsConfig::default()
///     .start_index(120)
///     .recording_wait(Duration::from_secs(60));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct SessionEventsConfig {
    pub(crate) start_index: i64,
    pub(crate) skip_types: Arc<[String]>,
    pub(crate) recording_wait: Duration,
    pub(crate) first_event_timeout: Duration,
    pub(crate) event_timeout: Option<Duration>,
    pub(crate) max_event_size: usize,
    pub(crate) stall_report_after: Duration,
    pub(crate) backoff: BackoffFactory,
}

impl std::fmt::Debug for SessionEventsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionEventsConfig")
            .field("start_index", &self.start_index)
            .field("skip_types", &self.skip_types)
            .field("recording_wait", &self.recording_wait)
            .field("first_event_timeout", &self.first_event_timeout)
            .field("event_timeout", &self.event_timeout)
            .field("max_event_size", &self.max_event_size)
            .field("stall_report_after", &self.stall_report_after)
            .finish_non_exhaustive()
    }
}

impl Default for SessionEventsConfig {
    fn default() -> Self {
        Self {
            start_index: 0,
            skip_types: Arc::from(vec!["print".to_owned()]),
            recording_wait: DEFAULT_RECORDING_WAIT,
            first_event_timeout: DEFAULT_FIRST_EVENT_TIMEOUT,
            event_timeout: None,
            max_event_size: DEFAULT_MAX_SESSION_EVENT_SIZE,
            stall_report_after: DEFAULT_STALL_REPORT_AFTER,
            backoff: Arc::new(|| Box::new(ExponentialBackoff::default())),
        }
    }
}

impl SessionEventsConfig {
    /// Read from this event index on (inclusive; default 0, the start): the
    /// [`crate::SessionEventStream::next_index`] of an earlier read resumes right after its last
    /// event. At most `i32::MAX` (the calls carry a 32-bit index).
    #[must_use]
    pub fn start_index(mut self, index: i64) -> Self {
        self.start_index = index;
        self
    }

    /// Event types read but not yielded (the calls have no type filter). Default: `["print"]`,
    /// the raw terminal output of SSH sessions (its `data` is every byte the session printed:
    /// passwords typed at a prompt that echoes, secrets shown on screen); the commands are
    /// still in `session.start`'s `initial_command` and, with enhanced recording, in
    /// `session.command`. An empty list skips nothing. Skipped events still move
    /// [`crate::SessionEventStream::next_index`].
    #[must_use]
    pub fn skip_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.skip_types = Arc::from(type_set(types));
        self
    }

    /// How long a recording the server answers `NotFound` for (not uploaded yet: uploads are
    /// asynchronous) is asked for again, with backoff, counted from the stream's start; then the
    /// stream ends with [`crate::ServerError::RecordingNotFound`]. Default 10 minutes; zero asks
    /// once.
    #[must_use]
    pub fn recording_wait(mut self, wait: Duration) -> Self {
        self.recording_wait = wait;
        self
    }

    /// How long a call may take to send its first event. Teleport downloads the whole
    /// recording from its storage first, so this is longer than the wait between events.
    /// Default 5 minutes.
    #[must_use]
    pub fn first_event_timeout(mut self, timeout: Duration) -> Self {
        self.first_event_timeout = timeout;
        self
    }

    /// How long to wait for each further event (default: the client's request timeout).
    #[must_use]
    pub fn event_timeout(mut self, timeout: Duration) -> Self {
        self.event_timeout = Some(timeout);
        self
    }

    /// The largest event accepted, in bytes (default 4 MiB). A larger one ends the stream with
    /// [`crate::ServerError::RecordingCorrupt`] (after the events before it), without being
    /// held in memory.
    #[must_use]
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.max_event_size = bytes;
        self
    }

    /// How long failures must last before they are reported as a [`crate::Notice::Stalled`]
    /// (as [`crate::StreamConfig::stall_report_after`]).
    #[must_use]
    pub fn stall_report_after(mut self, after: Duration) -> Self {
        self.stall_report_after = after;
        self
    }

    /// The retry delays (default: [`ExponentialBackoff::default`], 250 ms doubling to 30 s).
    /// Every call makes Teleport download the recording again and write a
    /// `session.recording.access` audit event, so retries are never immediate.
    #[must_use]
    pub fn backoff<B>(mut self, backoff: B) -> Self
    where
        B: Backoff + Clone + 'static,
    {
        self.backoff = Arc::new(move || Box::new(backoff.clone()));
        self
    }

    /// Checks the settings (also done when the stream starts).
    ///
    /// # Errors
    ///
    /// [`SettingError::Config`] naming the setting: a start index outside `0..=i32::MAX`, a
    /// zero timeout, a maximum event size under 1 KiB.
    pub fn validate(&self) -> Result<(), SettingError> {
        let bad = |field: &'static str, reason: String| Err(SettingError::config(field, reason));
        if !(0..=i64::from(i32::MAX)).contains(&self.start_index) {
            return bad(
                "start_index",
                format!("{} is outside 0 to {}", self.start_index, i32::MAX),
            );
        }
        if self.first_event_timeout.is_zero() {
            return bad("first_event_timeout", "must be more than zero".to_owned());
        }
        if self.event_timeout.is_some_and(|t| t.is_zero()) {
            return bad("event_timeout", "must be more than zero".to_owned());
        }
        if self.max_event_size < 1024 {
            return bad(
                "max_event_size",
                format!("{} bytes is under 1 KiB", self.max_event_size),
            );
        }
        Ok(())
    }
}

/// Checks that `session_id` has the shape of a Teleport session id (a UUID, `8-4-4-4-12` hex
/// digits, either case), as [`crate::Client::session_events`] does before any call. Teleport
/// itself does not check, and answers `NotFound` for anything else; refusing it early saves
/// waiting [`SessionEventsConfig::recording_wait`] for a mistyped id.
///
/// # Errors
///
/// [`SettingError::Config`] (field `session_id`) for anything else, the empty string included.
pub fn check_session_id(session_id: &str) -> Result<(), SettingError> {
    if valid_session_id(session_id) {
        Ok(())
    } else {
        Err(SettingError::config(
            "session_id",
            format!("{session_id:?} is not a session id (a UUID)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_skip_print_and_wait_ten_minutes() {
        let config = SessionEventsConfig::default();
        assert_eq!(&*config.skip_types, ["print".to_owned()]);
        assert_eq!(config.recording_wait, Duration::from_secs(600));
        assert_eq!(config.start_index, 0);
        assert!(config.first_event_timeout > Duration::from_secs(60));
        assert!(config.validate().is_ok());
        let none = config.skip_types(Vec::<String>::new());
        assert!(none.skip_types.is_empty());
    }

    #[test]
    fn out_of_range_settings_are_refused_by_name() {
        let field = |config: SessionEventsConfig| match config.validate() {
            Err(SettingError::Config { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let base = SessionEventsConfig::default;
        assert_eq!(field(base().start_index(-1)), "start_index");
        assert_eq!(
            field(base().start_index(i64::from(i32::MAX) + 1)),
            "start_index"
        );
        assert!(base().start_index(i64::from(i32::MAX)).validate().is_ok());
        assert_eq!(
            field(base().first_event_timeout(Duration::ZERO)),
            "first_event_timeout"
        );
        assert_eq!(field(base().event_timeout(Duration::ZERO)), "event_timeout");
        assert_eq!(field(base().max_event_size(1023)), "max_event_size");
    }

    #[test]
    fn a_session_id_is_a_uuid() {
        assert!(check_session_id("5b2d8a2e-0b4c-4f7e-9a0d-3c1f2e4d5a6b").is_ok());
        assert!(matches!(
            check_session_id("x"),
            Err(SettingError::Config {
                field: "session_id",
                ..
            })
        ));
        // The shape itself: crate::cursor::sessions's tests.
    }
}
