//! [`SessionRecordings`]: the settings of the session recordings mode of an
//! [`crate::AuditEventStream`] ([`crate::StreamConfig::session_recordings`]).

use std::sync::Arc;
use std::time::Duration;

use super::type_set::{skips, type_set};
use crate::cursor::MAX_SESSIONS_IN_PROGRESS;
use crate::error::{Error, SettingError};

/// Default number of recordings read at the same time.
pub const DEFAULT_SESSION_CONCURRENCY: usize = 4;
/// Most recordings read at the same time.
pub const MAX_SESSION_CONCURRENCY: usize = 64;
/// Default number of sessions in progress (uploaded, recording not yet delivered to the end)
/// before the stream stops reading the audit log until one finishes.
pub const DEFAULT_MAX_PENDING_SESSIONS: usize = 32;
/// Default time a recording that is not there yet (uploads are asynchronous) is asked for
/// again: [`SessionRecordings::recording_wait`], counted from its `session.upload` event, and
/// [`crate::SessionEventsConfig::recording_wait`], counted from the first ask.
pub const DEFAULT_RECORDING_WAIT: Duration = Duration::from_secs(10 * 60);
/// The recording event types skipped by default: `print`, which carries the raw terminal
/// output of the session (what was typed and shown, passwords included), base64 in `data`.
pub const DEFAULT_SKIP_SESSION_TYPES: &[&str] = &["print"];
/// The recording event types [`SessionRecordings::metadata_only`] keeps: who joined and left
/// which session, when it started and ended (with its `initial_command`), for SSH, Kubernetes,
/// database, application and desktop sessions.
pub const SESSION_METADATA_TYPES: &[&str] = &[
    "app.session.end",
    "app.session.start",
    "db.session.end",
    "db.session.start",
    "session.end",
    "session.join",
    "session.leave",
    "session.start",
    "windows.desktop.session.end",
    "windows.desktop.session.start",
];

/// Settings of the session recordings mode: after each `session.upload` audit event, the
/// stream also yields that session's recording events (see
/// [`crate::StreamConfig::session_recordings`]).
///
/// ```
/// use std::time::Duration;
/// use teleport_audit::{SessionRecordings, StreamConfig};
///
/// let config = StreamConfig::default().session_recordings(
///     SessionRecordings::default()
///         .concurrency(8)
///         .skip_types(["print", "desktop.recording"])
///         .recording_wait(Duration::from_secs(30 * 60)),
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionRecordings {
    pub(crate) concurrency: usize,
    pub(crate) max_pending: usize,
    /// Sorted, deduplicated.
    pub(crate) skip_types: Arc<[String]>,
    pub(crate) metadata_only: bool,
    pub(crate) recording_wait: Duration,
}

impl Default for SessionRecordings {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_SESSION_CONCURRENCY,
            max_pending: DEFAULT_MAX_PENDING_SESSIONS,
            skip_types: Arc::from(type_set(DEFAULT_SKIP_SESSION_TYPES.iter().copied())),
            metadata_only: false,
            recording_wait: DEFAULT_RECORDING_WAIT,
        }
    }
}

impl SessionRecordings {
    /// How many recordings are read at the same time (default 4, 1 to 64). Each is one server
    /// stream; the stream holds at most one event of each in memory.
    #[must_use]
    pub fn concurrency(mut self, sessions: usize) -> Self {
        self.concurrency = sessions;
        self
    }

    /// How many sessions may be in progress (uploaded, recording not delivered to the end)
    /// before the stream stops reading the audit log until one finishes (default 32, at least
    /// [`SessionRecordings::concurrency`], at most 1,024). This is the backpressure: memory does
    /// not grow with the number of sessions waiting; the cursor holds each (about 100 bytes).
    #[must_use]
    pub fn max_pending(mut self, sessions: usize) -> Self {
        self.max_pending = sessions;
        self
    }

    /// Recording event types not yielded (default `["print"]`: the raw terminal output, which
    /// holds whatever was typed or shown, secrets included; large). Empty: skip nothing. A
    /// skipped event is consumed (the cursor moves past it), never yielded nor logged.
    #[must_use]
    pub fn skip_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.skip_types = Arc::from(type_set(types));
        self
    }

    /// Only the session metadata events of a recording: the types in
    /// [`SESSION_METADATA_TYPES`] (start, end, join, leave), none of its contents (`print`,
    /// `resize`, `session.command`, `desktop.recording`, database queries, ...). The skip types
    /// still apply on top (default off).
    #[must_use]
    pub fn metadata_only(mut self, on: bool) -> Self {
        self.metadata_only = on;
        self
    }

    /// How long a recording that is not there yet is waited for, counted from the time of its
    /// `session.upload` event (default 10 minutes). Uploads are asynchronous, and Teleport may
    /// emit `session.upload` for a recording whose upload failed. Past it, the session is given
    /// up with a [`crate::Notice::RecordingMissing`] and the stream goes on.
    #[must_use]
    pub fn recording_wait(mut self, wait: Duration) -> Self {
        self.recording_wait = wait;
        self
    }

    /// Whether a recording event of type `event_type` is yielded.
    pub(crate) fn yields(&self, event_type: &str) -> bool {
        !skips(&self.skip_types, event_type)
            && (!self.metadata_only || SESSION_METADATA_TYPES.contains(&event_type))
    }

    /// # Errors
    ///
    /// [`SettingError::Config`] naming the setting out of range.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let invalid = |field: &'static str, reason: String| {
            Err(Error::Setting(SettingError::config(field, reason)))
        };
        if self.concurrency == 0 || self.concurrency > MAX_SESSION_CONCURRENCY {
            return invalid(
                "session_recordings.concurrency",
                format!(
                    "{} is outside 1..={MAX_SESSION_CONCURRENCY}",
                    self.concurrency
                ),
            );
        }
        if self.max_pending < self.concurrency || self.max_pending > MAX_SESSIONS_IN_PROGRESS {
            return invalid(
                "session_recordings.max_pending",
                format!(
                    "{} is outside {}..={MAX_SESSIONS_IN_PROGRESS} (at least the concurrency)",
                    self.max_pending, self.concurrency
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_skip_print_only() {
        let config = SessionRecordings::default();
        assert!(!config.yields("print"));
        assert!(config.yields("session.start"));
        assert!(config.yields("resize"));
        assert!(config.validate().is_ok());
        let all = config.clone().skip_types(Vec::<String>::new());
        assert!(all.yields("print"));
    }

    #[test]
    fn metadata_only_keeps_the_listed_types_and_still_skips() {
        let config = SessionRecordings::default().metadata_only(true);
        assert!(config.yields("session.start"));
        assert!(config.yields("db.session.end"));
        assert!(!config.yields("resize"));
        assert!(!config.yields("session.command"));
        assert!(!config.yields("print"));
        let config = config.skip_types(["session.join"]);
        assert!(!config.yields("session.join"));
        assert!(config.yields("session.leave"));
        let mut listed = SESSION_METADATA_TYPES.to_vec();
        listed.sort_unstable();
        assert_eq!(listed, SESSION_METADATA_TYPES, "kept sorted");
    }

    #[test]
    fn out_of_range_settings_name_their_field() {
        let field = |config: SessionRecordings| match config.validate() {
            Err(Error::Setting(SettingError::Config { field, .. })) => field,
            other => panic!("{other:?}"),
        };
        let base = SessionRecordings::default();
        assert_eq!(
            field(base.clone().concurrency(0)),
            "session_recordings.concurrency"
        );
        assert_eq!(
            field(base.clone().concurrency(65)),
            "session_recordings.concurrency"
        );
        assert_eq!(
            field(base.clone().concurrency(8).max_pending(4)),
            "session_recordings.max_pending"
        );
        assert_eq!(
            field(base.clone().max_pending(1025)),
            "session_recordings.max_pending"
        );
        assert!(base.concurrency(64).max_pending(64).validate().is_ok());
    }
}
