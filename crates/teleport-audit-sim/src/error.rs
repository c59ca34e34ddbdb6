//! [`SimError`]: everything that can go wrong starting or feeding the simulated cluster.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Errors from the simulated cluster.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A builder setting is out of range.
    #[error("invalid simulated-cluster setting `{field}`: {reason}")]
    Config {
        /// The setting.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// An event given to [`EventStore::insert`](crate::EventStore::insert) is unusable.
    #[error("event rejected: field `{field}` {reason}")]
    InvalidEvent {
        /// The JSON field at fault (`(object)` for the whole text).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An inserted event reuses the `uid` of an event inserted before.
    #[error("event rejected: an event with uid {uid} is already stored")]
    DuplicateEvent {
        /// The repeated id.
        uid: String,
    },
    /// An event's JSON could not be encoded as a `google.protobuf.Struct`.
    #[error("event {uid} could not be encoded as a protobuf Struct")]
    Encode {
        /// The event's id.
        uid: String,
        /// The encoder's error.
        #[source]
        source: teleport_audit_types::wire::WireError,
    },
    /// The cluster's certificate authority failed.
    #[error("the simulated certificate authority could not {action}")]
    Ca {
        /// What it was doing.
        action: &'static str,
        /// The CA's error.
        #[source]
        source: crate::ca::CaError,
    },
    /// The proxy's self-signed web certificate could not be made.
    #[error("could not make the proxy's self-signed web certificate")]
    WebCertificate {
        /// rcgen's error.
        #[source]
        source: rcgen::Error,
    },
    /// A TLS configuration was refused by rustls.
    #[error("could not build the {what} TLS configuration")]
    Tls {
        /// Which server.
        what: &'static str,
        /// rustls' error.
        #[source]
        source: rustls::Error,
    },
    /// A listener could not be bound.
    #[error("could not listen for the {what} on {addr}")]
    Bind {
        /// Which server.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// A file for a client (identity file, proxy CA) could not be written.
    #[error("could not write the {what} to {}", path.display())]
    Write {
        /// Which file.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The file-system error (kind `IsADirectory` when the path is a directory).
        #[source]
        source: std::io::Error,
    },
    /// Too many live series were started (each restart of the live generator uses one).
    #[error("the live event generator was restarted more than {max} times")]
    TooManySeries {
        /// The limit.
        max: u64,
    },
}

impl SimError {
    /// A stable machine-readable name of the variant.
    pub fn code(&self) -> &'static str {
        match self {
            SimError::Config { .. } => "config",
            SimError::InvalidEvent { .. } => "invalid_event",
            SimError::DuplicateEvent { .. } => "duplicate_event",
            SimError::Encode { .. } => "encode",
            SimError::Ca { .. } => "ca",
            SimError::WebCertificate { .. } => "web_certificate",
            SimError::Tls { .. } => "tls",
            SimError::Bind { .. } => "bind",
            SimError::Write { .. } => "write",
            SimError::TooManySeries { .. } => "too_many_series",
        }
    }

    /// Whether trying again later may succeed (a port still in use after a restart).
    pub fn is_retryable(&self) -> bool {
        matches!(self, SimError::Bind { .. })
    }
}
