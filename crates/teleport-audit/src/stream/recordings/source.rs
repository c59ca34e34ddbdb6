//! [`RecordingSource`]: where the recordings mode reads one session's recording from (the
//! client's session-events stream; a test double in unit tests), and how a recording stream
//! fails ([`Failure`]).

use futures::stream::BoxStream;
use teleport_audit_types::AuditEvent;

use crate::error::Error;

/// How a recording stream failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The server has no recording for the session (yet).
    NotFound,
    /// The recording cannot be read past some point.
    Corrupt,
    /// Anything else the session stream could not get past (a missing permission, an expired
    /// identity): the whole stream ends with it.
    Fatal,
}

/// A recording stream's error: what kind, and the error itself.
#[derive(Debug)]
pub(crate) struct SourceError {
    pub(crate) failure: Failure,
    pub(crate) error: Error,
}

/// One session's recording events from an index on (the events carry `sid` and `ei`); ends
/// after the last, or with one error.
pub(crate) type RecordingStream = BoxStream<'static, Result<AuditEvent, SourceError>>;

/// Opens recording streams.
pub(crate) trait RecordingSource: Send + Sync {
    /// Session `sid`'s recording from index `start_index` (inclusive), without the events of
    /// the types in `skip` (sorted). A recording not found ends the stream at once with
    /// [`Failure::NotFound`]: the recordings mode's core decides when to ask again, so that a
    /// missing recording does not hold a slot.
    fn open(&self, sid: &str, start_index: i64, skip: &[String]) -> RecordingStream;
}
