//! [`ServerError`]: the Auth Service answered a call with a failure (a gRPC status other than
//! a denial or a rejected identity), or did not answer in time.

use std::sync::Arc;
use std::time::Duration;

use crate::rpc_name::Rpc;

/// The advice for every failure the stream retries by itself.
pub(super) const TRANSIENT: &str = "Transient: the stream retries by itself; if it persists, check the Auth Service's health and logs.";

/// The Auth Service failed a call ([`crate::ErrorKind::Server`]): a gRPC status, or no answer
/// within the request timeout. Classified by the status code, never by its message.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The Auth Service does not implement the call (older Teleport, or a backend without it).
    #[error("{rpc}: not implemented by this Auth Service: {message}")]
    Unimplemented {
        /// The RPC.
        rpc: Rpc,
        /// The server's message.
        message: String,
    },

    /// The Auth Service refused the request's arguments.
    #[error("{rpc}: invalid argument: {message}")]
    InvalidArgument {
        /// The RPC.
        rpc: Rpc,
        /// The server's message.
        message: String,
    },

    /// The Auth Service is temporarily unavailable (the status `Unavailable`; a failure of the
    /// connection below gRPC is [`crate::ConnectError::Transport`]).
    #[error("{rpc}: unavailable: {message}")]
    Unavailable {
        /// The RPC.
        rpc: Rpc,
        /// The server's message.
        message: String,
    },

    /// The Auth Service is rate limiting or out of a resource.
    #[error("{rpc}: resource exhausted: {message}")]
    ResourceExhausted {
        /// The RPC.
        rpc: Rpc,
        /// The server's message.
        message: String,
    },

    /// A call got no answer within the request timeout (a stalled server or network).
    #[error("{rpc}: no answer within {after:?}")]
    Timeout {
        /// The RPC.
        rpc: Rpc,
        /// The configured request timeout.
        after: Duration,
    },

    /// Any other gRPC status.
    #[error("{rpc}: {code:?}: {message}")]
    Status {
        /// The RPC.
        rpc: Rpc,
        /// The gRPC status code.
        code: tonic::Code,
        /// The server's message.
        message: String,
    },

    /// A session's recording is not in the cluster's storage (the server answered `NotFound`)
    /// and did not appear within the wait ([`crate::SessionEventsConfig::recording_wait`]):
    /// not uploaded yet (uploads are asynchronous), or never. The last `NotFound` is the
    /// source. [`ServerError::recording_failure`] is [`RecordingFailure::NotFound`].
    #[error(
        "session {session_id}: no recording after waiting {}",
        humantime::format_duration(Duration::from_secs(waited.as_secs()))
    )]
    RecordingNotFound {
        /// The RPC.
        rpc: Rpc,
        /// The session.
        session_id: String,
        /// How long the stream waited for it.
        waited: Duration,
        /// The server's last answer.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },

    /// A session's recording cannot be read past `next_index`: the server failed reading it
    /// (`Unknown` or `InvalidArgument`: a damaged or truncated file, an event it cannot
    /// encode), twice, or it sent an event this client cannot decode or larger than it
    /// accepts. The events before `next_index` were delivered. The server's error or the
    /// decoding error is the source, if any. [`ServerError::recording_failure`] is
    /// [`RecordingFailure::Corrupt`].
    #[error(
        "session {session_id}: the recording cannot be read from event index {next_index} ({reason})"
    )]
    RecordingCorrupt {
        /// The RPC.
        rpc: Rpc,
        /// The session.
        session_id: String,
        /// The index after the last event delivered (where a new read would start).
        next_index: i64,
        /// What went wrong, in our words.
        reason: String,
        /// The server's error or the decoding error.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
}

/// Why a session's recording could not be read to its end ([`ServerError::recording_failure`],
/// [`crate::Error::recording_failure`]): what a caller branches on without reading messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordingFailure {
    /// [`ServerError::RecordingNotFound`]: not uploaded (yet).
    NotFound,
    /// [`ServerError::RecordingCorrupt`]: damaged, truncated, or not decodable.
    Corrupt,
}

impl ServerError {
    /// Whether trying again later may succeed ([`crate::Error::is_retryable`]): by the status
    /// code.
    pub fn is_retryable(&self) -> bool {
        match self {
            ServerError::Unavailable { .. }
            | ServerError::ResourceExhausted { .. }
            | ServerError::Timeout { .. } => true,
            ServerError::Status { code, .. } => matches!(
                code,
                tonic::Code::Internal
                    | tonic::Code::Unknown
                    | tonic::Code::Aborted
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Cancelled
                    | tonic::Code::DataLoss
            ),
            ServerError::Unimplemented { .. }
            | ServerError::InvalidArgument { .. }
            | ServerError::RecordingNotFound { .. }
            | ServerError::RecordingCorrupt { .. } => false,
        }
    }

    /// Whether this is a session recording that could not be read, and how.
    pub fn recording_failure(&self) -> Option<RecordingFailure> {
        match self {
            ServerError::RecordingNotFound { .. } => Some(RecordingFailure::NotFound),
            ServerError::RecordingCorrupt { .. } => Some(RecordingFailure::Corrupt),
            _ => None,
        }
    }

    /// The RPC that failed.
    pub fn rpc(&self) -> Rpc {
        match self {
            ServerError::Unimplemented { rpc, .. }
            | ServerError::InvalidArgument { rpc, .. }
            | ServerError::Unavailable { rpc, .. }
            | ServerError::ResourceExhausted { rpc, .. }
            | ServerError::Timeout { rpc, .. }
            | ServerError::Status { rpc, .. }
            | ServerError::RecordingNotFound { rpc, .. }
            | ServerError::RecordingCorrupt { rpc, .. } => *rpc,
        }
    }

    /// The stable code ([`crate::Error::code`]).
    pub fn code(&self) -> &'static str {
        match self {
            ServerError::Unimplemented { .. } => "unimplemented",
            ServerError::InvalidArgument { .. } => "invalid_argument",
            ServerError::Unavailable { .. } => "unavailable",
            ServerError::ResourceExhausted { .. } => "resource_exhausted",
            ServerError::Timeout { .. } => "timeout",
            ServerError::Status { .. } => "rpc_failed",
            ServerError::RecordingNotFound { .. } => "recording_not_found",
            ServerError::RecordingCorrupt { .. } => "recording_corrupt",
        }
    }

    /// What to do about it ([`crate::Error::advice`]).
    pub fn advice(&self) -> &'static str {
        match self {
            ServerError::Unimplemented { rpc, .. } if rpc.is_export() => {
                "This cluster does not serve the export API (it needs Teleport 16.4+ with the Athena audit backend, or Teleport Cloud): use Mode::Auto or Mode::Search (`--mode auto` / `--mode search`)."
            }
            ServerError::Unimplemented { rpc, .. } if rpc.is_session() => {
                "This Auth Service serves neither session-recording call (StreamUnstructuredSessionEvents, nor the legacy StreamSessionEvents every Teleport from 13 on serves): check that the address is a Teleport Auth Service or proxy of v13 or later."
            }
            ServerError::Unimplemented { .. } => {
                "This Teleport version or audit backend lacks the call: upgrade Teleport (v13+ for search, v16.4+ for export)."
            }
            ServerError::RecordingNotFound { .. } => {
                "The recording is not in the cluster's storage: not uploaded yet (uploads are asynchronous) or never uploaded. Try again later or wait longer (SessionEventsConfig::recording_wait, `--recording-wait`); if it never appears, check the uploads of the node or proxy that recorded the session."
            }
            ServerError::RecordingCorrupt { .. } => {
                "The recording is damaged or truncated in the cluster's storage, or holds an event this client cannot read; the events before the index were delivered. Check it with `tsh play`, and report it with the session id if Teleport plays it."
            }
            ServerError::InvalidArgument { .. } => {
                "Check the stream settings (page size, time range, event types)."
            }
            ServerError::Status { .. } if !self.is_retryable() => {
                "The Auth Service refused the call with a status this client does not retry; check the Auth Service's logs around this time."
            }
            ServerError::Unavailable { .. }
            | ServerError::ResourceExhausted { .. }
            | ServerError::Timeout { .. }
            | ServerError::Status { .. } => TRANSIENT,
        }
    }
}
