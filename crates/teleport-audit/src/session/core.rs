//! The rules of reading one session's recording, over plain data (no I/O, no clock, no
//! async): which call to make and from which index, which events are delivered, and what each
//! failure leads to. The driver ([`super::stream`]) makes the calls and asks.
//!
//! - **Transport.** The unstructured call (`StreamUnstructuredSessionEvents`) first; its
//!   `Unimplemented` (13.x and 14.x before teleport#37580 register it under a misspelt name)
//!   switches to the legacy `StreamSessionEvents` at once, as Teleport's Go client does; the
//!   client remembers the switch. The legacy call's `Unimplemented` ends the stream.
//! - **Index.** A call asks from [`SessionCore::next_index`] (the server sends `ei >=
//!   start_index`); an event below the call's start is a resend and dropped; every other one
//!   moves the next index past it (to `max(next, ei + 1)`: an event written out of order within
//!   one call is still delivered).
//! - **Missing.** `NotFound` is asked again with backoff until `recording_wait` has passed
//!   since the stream began (the last wait ends at that time, for one last ask), then the stream
//!   ends with [`crate::ServerError::RecordingNotFound`].
//! - **Corrupt.** The server failing to read the recording (`Unknown`, `InvalidArgument`) is
//!   retried once; failing again at the same index ends the stream with
//!   [`crate::ServerError::RecordingCorrupt`]. So does an event that cannot be decoded or is
//!   over the size limit, at once (it would be the same again).
//! - **Anything else** retryable (the connection, a timeout, `Unavailable`, ...) is retried
//!   with backoff for as long as it lasts; anything else ends the stream as it is.

use std::time::Duration;

use crate::rpc_name::Rpc;

/// Which of Teleport's two calls serves the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// `teleport.auditlog.v1.AuditLogService/StreamUnstructuredSessionEvents`: JSON events.
    Unstructured,
    /// `proto.AuthService/StreamSessionEvents`: typed `events.OneOf` events.
    Legacy,
}

impl Transport {
    pub(crate) fn rpc(self) -> Rpc {
        match self {
            Transport::Unstructured => Rpc::StreamUnstructuredSessionEvents,
            Transport::Legacy => Rpc::StreamSessionEvents,
        }
    }

    /// The gRPC path.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Transport::Unstructured => {
                "/teleport.auditlog.v1.AuditLogService/StreamUnstructuredSessionEvents"
            }
            Transport::Legacy => "/proto.AuthService/StreamSessionEvents",
        }
    }
}

/// One call to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CallPlan {
    pub(crate) transport: Transport,
    /// The request's start index (inclusive).
    pub(crate) start_index: i32,
}

/// Whether an event the server sent is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// New: deliver it (unless its type is skipped).
    Deliver,
    /// Below the call's start index: sent again; drop it.
    Resent,
}

/// How a call failed, as the rules need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The server's own status (the call's trailers, or a refusal at once); `retryable` as
    /// [`crate::Error::is_retryable`] says for it.
    Server { code: tonic::Code, retryable: bool },
    /// Anything else: the connection, a timeout, a malformed response.
    Other { retryable: bool },
    /// An event that cannot be decoded.
    Undecodable,
    /// An event over the size limit.
    Oversized,
}

/// What follows a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Call again at once, with the legacy call (remember it for the client).
    UseLegacy,
    /// A transient failure: call again after a backoff delay.
    Retry,
    /// The recording is not there (yet): ask again after a backoff delay of at most `at_most`.
    WaitForRecording { at_most: Duration },
    /// End: [`crate::ServerError::RecordingNotFound`].
    NotFound,
    /// End: [`crate::ServerError::RecordingCorrupt`].
    Corrupt(CorruptReason),
    /// End with the failure's error as it is.
    Fatal,
}

/// Why a recording cannot be read on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CorruptReason {
    /// The server failed reading it twice at the same index.
    ServerFailedTwice,
    /// An event could not be decoded.
    Undecodable,
    /// An event is over the size limit.
    Oversized,
    /// The next index does not fit the call's 32-bit start index.
    IndexOutOfRange,
}

impl CorruptReason {
    /// The reason in our words.
    pub(crate) fn text(self) -> &'static str {
        match self {
            CorruptReason::ServerFailedTwice => {
                "the server failed reading it twice at the same place"
            }
            CorruptReason::Undecodable => "an event could not be decoded",
            CorruptReason::Oversized => "an event is over the size limit",
            CorruptReason::IndexOutOfRange => {
                "the next event index is beyond what the call can ask for"
            }
        }
    }
}

/// The reading of one recording, as plain data.
#[derive(Clone, Debug)]
pub(crate) struct SessionCore {
    transport: Transport,
    next_index: i64,
    call_start: i64,
    recording_wait: Duration,
    /// The next index when the server last failed reading the recording.
    server_failed_at: Option<i64>,
}

impl SessionCore {
    /// A read from `start_index`; `legacy`: the client already knows the unstructured call is
    /// not served.
    pub(crate) fn new(start_index: i64, legacy: bool, recording_wait: Duration) -> Self {
        Self {
            transport: if legacy {
                Transport::Legacy
            } else {
                Transport::Unstructured
            },
            next_index: start_index,
            call_start: start_index,
            recording_wait,
            server_failed_at: None,
        }
    }

    /// The call the next read makes.
    pub(crate) fn transport(&self) -> Transport {
        self.transport
    }

    /// The index right after the last event delivered or skipped: where a new read resumes.
    pub(crate) fn next_index(&self) -> i64 {
        self.next_index
    }

    /// The call to make now.
    pub(crate) fn begin_call(&mut self) -> Result<CallPlan, CorruptReason> {
        let start_index =
            i32::try_from(self.next_index).map_err(|_| CorruptReason::IndexOutOfRange)?;
        self.call_start = self.next_index;
        Ok(CallPlan {
            transport: self.transport,
            start_index,
        })
    }

    /// An event with index `ei` arrived in the current call.
    pub(crate) fn admit(&mut self, ei: i64) -> Admission {
        if ei < self.call_start {
            return Admission::Resent;
        }
        self.next_index = self.next_index.max(ei.saturating_add(1));
        Admission::Deliver
    }

    /// The current call failed with `failure`, `elapsed` after the stream began.
    pub(crate) fn failed(&mut self, failure: Failure, elapsed: Duration) -> Decision {
        match failure {
            Failure::Server {
                code: tonic::Code::Unimplemented,
                ..
            } => match self.transport {
                Transport::Unstructured => {
                    self.transport = Transport::Legacy;
                    Decision::UseLegacy
                }
                Transport::Legacy => Decision::Fatal,
            },
            Failure::Server {
                code: tonic::Code::NotFound,
                ..
            } => match self.recording_wait.checked_sub(elapsed) {
                Some(left) if !left.is_zero() => Decision::WaitForRecording { at_most: left },
                _ => Decision::NotFound,
            },
            Failure::Server {
                code: tonic::Code::Unknown | tonic::Code::InvalidArgument,
                ..
            } => {
                if self.server_failed_at == Some(self.next_index) {
                    Decision::Corrupt(CorruptReason::ServerFailedTwice)
                } else {
                    self.server_failed_at = Some(self.next_index);
                    Decision::Retry
                }
            }
            Failure::Server { retryable, .. } | Failure::Other { retryable } => {
                if retryable {
                    Decision::Retry
                } else {
                    Decision::Fatal
                }
            }
            Failure::Undecodable => Decision::Corrupt(CorruptReason::Undecodable),
            Failure::Oversized => Decision::Corrupt(CorruptReason::Oversized),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(600);

    fn server(code: tonic::Code) -> Failure {
        Failure::Server {
            code,
            retryable: matches!(code, tonic::Code::Unknown | tonic::Code::Unavailable),
        }
    }

    fn plan(core: &mut SessionCore) -> CallPlan {
        core.begin_call().expect("a plan")
    }

    #[test]
    fn the_first_call_is_unstructured_from_the_start_index() {
        let mut core = SessionCore::new(7, false, WAIT);
        assert_eq!(
            plan(&mut core),
            CallPlan {
                transport: Transport::Unstructured,
                start_index: 7
            }
        );
        let mut known = SessionCore::new(0, true, WAIT);
        assert_eq!(plan(&mut known).transport, Transport::Legacy);
    }

    #[test]
    fn unimplemented_switches_to_legacy_once_then_ends() {
        let mut core = SessionCore::new(0, false, WAIT);
        plan(&mut core);
        let unimplemented = server(tonic::Code::Unimplemented);
        assert_eq!(
            core.failed(unimplemented, Duration::ZERO),
            Decision::UseLegacy
        );
        assert_eq!(plan(&mut core).transport, Transport::Legacy);
        assert_eq!(core.failed(unimplemented, Duration::ZERO), Decision::Fatal);
    }

    #[test]
    fn the_next_index_follows_the_largest_index_and_resends_are_dropped() {
        let mut core = SessionCore::new(0, false, WAIT);
        plan(&mut core);
        assert_eq!(core.admit(0), Admission::Deliver);
        assert_eq!(core.admit(1), Admission::Deliver);
        assert_eq!(core.next_index(), 2);
        // Written out of order within one call: delivered, the next index stays past the max.
        assert_eq!(core.admit(3), Admission::Deliver);
        assert_eq!(core.admit(2), Admission::Deliver);
        assert_eq!(core.next_index(), 4);
        // A new call asks from 4; the server resending 3 is dropped, 4 is delivered.
        assert_eq!(plan(&mut core).start_index, 4);
        assert_eq!(core.admit(3), Admission::Resent);
        assert_eq!(core.next_index(), 4);
        assert_eq!(core.admit(4), Admission::Deliver);
        assert_eq!(core.next_index(), 5);
        assert_eq!(core.admit(i64::MAX), Admission::Deliver);
        assert_eq!(core.next_index(), i64::MAX);
    }

    #[test]
    fn an_index_beyond_int32_cannot_be_asked_for() {
        let mut core = SessionCore::new(i64::from(i32::MAX), false, WAIT);
        assert_eq!(plan(&mut core).start_index, i32::MAX);
        core.admit(i64::from(i32::MAX));
        assert_eq!(core.begin_call(), Err(CorruptReason::IndexOutOfRange));
    }

    #[test]
    fn not_found_waits_until_the_recording_wait_has_passed() {
        let mut core = SessionCore::new(0, false, WAIT);
        let not_found = server(tonic::Code::NotFound);
        assert_eq!(
            core.failed(not_found, Duration::ZERO),
            Decision::WaitForRecording { at_most: WAIT }
        );
        assert_eq!(
            core.failed(not_found, Duration::from_secs(590)),
            Decision::WaitForRecording {
                at_most: Duration::from_secs(10)
            }
        );
        assert_eq!(core.failed(not_found, WAIT), Decision::NotFound);
        assert_eq!(
            core.failed(not_found, WAIT + Duration::from_secs(1)),
            Decision::NotFound
        );
        let mut once = SessionCore::new(0, false, Duration::ZERO);
        assert_eq!(once.failed(not_found, Duration::ZERO), Decision::NotFound);
    }

    #[test]
    fn the_server_failing_twice_at_the_same_index_is_corrupt() {
        for code in [tonic::Code::Unknown, tonic::Code::InvalidArgument] {
            let mut core = SessionCore::new(0, false, WAIT);
            plan(&mut core);
            core.admit(0);
            assert_eq!(core.failed(server(code), Duration::ZERO), Decision::Retry);
            plan(&mut core);
            assert_eq!(
                core.failed(server(code), Duration::ZERO),
                Decision::Corrupt(CorruptReason::ServerFailedTwice)
            );
        }
        // Progress between the failures: each is retried once.
        let mut core = SessionCore::new(0, false, WAIT);
        let unknown = server(tonic::Code::Unknown);
        assert_eq!(core.failed(unknown, Duration::ZERO), Decision::Retry);
        plan(&mut core);
        core.admit(0);
        assert_eq!(core.failed(unknown, Duration::ZERO), Decision::Retry);
    }

    #[test]
    fn decoding_failures_end_at_once() {
        let mut core = SessionCore::new(0, false, WAIT);
        assert_eq!(
            core.failed(Failure::Undecodable, Duration::ZERO),
            Decision::Corrupt(CorruptReason::Undecodable)
        );
        assert_eq!(
            core.failed(Failure::Oversized, Duration::ZERO),
            Decision::Corrupt(CorruptReason::Oversized)
        );
    }

    #[test]
    fn other_failures_follow_their_retry_class() {
        let mut core = SessionCore::new(0, false, WAIT);
        assert_eq!(
            core.failed(Failure::Other { retryable: true }, Duration::ZERO),
            Decision::Retry
        );
        assert_eq!(
            core.failed(Failure::Other { retryable: false }, Duration::ZERO),
            Decision::Fatal
        );
        assert_eq!(
            core.failed(server(tonic::Code::Unavailable), Duration::ZERO),
            Decision::Retry
        );
        assert_eq!(
            core.failed(server(tonic::Code::PermissionDenied), Duration::ZERO),
            Decision::Fatal
        );
        // NotFound or Unimplemented never depend on the retry class.
        assert_eq!(
            core.failed(
                Failure::Server {
                    code: tonic::Code::NotFound,
                    retryable: false
                },
                WAIT * 2
            ),
            Decision::NotFound
        );
    }
}
