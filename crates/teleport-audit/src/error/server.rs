//! [`ServerError`]: the Auth Service answered a call with a failure (a gRPC status other than
//! a denial or a rejected identity), or did not answer in time.

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
            ServerError::Unimplemented { .. } | ServerError::InvalidArgument { .. } => false,
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
            | ServerError::Status { rpc, .. } => *rpc,
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
        }
    }

    /// What to do about it ([`crate::Error::advice`]).
    pub fn advice(&self) -> &'static str {
        match self {
            ServerError::Unimplemented { rpc, .. } if rpc.is_export() => {
                "This cluster does not serve the export API (it needs Teleport 16.4+ with the Athena audit backend, or Teleport Cloud): use Mode::Auto or Mode::Search (`--mode auto` / `--mode search`)."
            }
            ServerError::Unimplemented { .. } => {
                "This Teleport version or audit backend lacks the call: upgrade Teleport (v13+ for search, v16.4+ for export)."
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
