//! Session recordings: what kinds the simulated cluster serves, and its settings.
//!
//! With [`SimClusterBuilder::sessions`](crate::SimClusterBuilder::sessions), the audit log
//! gets recorded SSH sessions (`session.start`, `session.join`, `session.leave`,
//! `session.end` and a `session.upload`), and each has a recording served by the session
//! stream RPCs. A recording is generated from `(seed, session, index)` event by event, so a
//! recording of 100,000 events costs the sim no memory.

use std::time::Duration;

use time::OffsetDateTime;

/// What the session stream serves for one recorded session.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordingKind {
    /// Tens of events: `session.start`, `resize`, `session.join`, `print`s (and
    /// `session.command`s when enhanced recording is on for it), `session.leave`,
    /// `session.end`.
    Small,
    /// [`RecordingSettings::large_events`] events (100,000 by default), mostly `print`s.
    Large,
    /// Never uploaded: `NotFound` forever, as for a `session.upload` whose upload failed.
    Missing,
    /// Uploaded late: `NotFound` until [`RecordingSettings::late_upload_delay`] after its
    /// `session.upload` (or after the cluster started, for a session uploaded before).
    Late,
    /// A truncated file: the first half of a small recording, then gRPC `Unknown`
    /// (`unexpected EOF`), as Teleport answers a recording cut mid-part.
    Corrupt,
    /// A zero-byte recording: the stream ends at once, OK, with no event.
    Empty,
}

/// How recordings look (see [`SimClusterBuilder::recordings`](crate::SimClusterBuilder::recordings)).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordingSettings {
    /// Events in a [`RecordingKind::Large`] recording (at least 5).
    pub large_events: u64,
    /// How long after its upload a [`RecordingKind::Late`] recording appears.
    pub late_upload_delay: Duration,
}

impl Default for RecordingSettings {
    fn default() -> RecordingSettings {
        RecordingSettings {
            large_events: 100_000,
            late_upload_delay: Duration::from_secs(20),
        }
    }
}

impl RecordingSettings {
    /// Events in a large recording (default 100,000; at least 5 are served).
    #[must_use]
    pub fn large_events(mut self, events: u64) -> Self {
        self.large_events = events;
        self
    }

    /// How long after its upload a late recording stays `NotFound` (default 20 s).
    #[must_use]
    pub fn late_upload_delay(mut self, delay: Duration) -> Self {
        self.late_upload_delay = delay;
        self
    }
}

/// One recorded session of the audit log, as [`EventStore::recorded_sessions`](crate::EventStore::recorded_sessions)
/// reports it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedSession {
    /// The session id (`sid`).
    pub sid: String,
    /// What its recording is.
    pub kind: RecordingKind,
    /// Events its recording holds once available (0 for [`RecordingKind::Missing`] and
    /// [`RecordingKind::Empty`]; a corrupt recording serves [`served`](Self::served) of them).
    pub events: u64,
    /// Events served before the stream fails ([`RecordingKind::Corrupt`]) or ends.
    pub served: u64,
    /// The `time` of its `session.upload` audit event.
    pub uploaded_at: OffsetDateTime,
    /// When the recording can be read (`None`: never).
    pub available_at: Option<OffsetDateTime>,
}
