//! [`AuthError`]: the Auth Service and the identity do not accept each other; and
//! [`PermissionError`]: the identity's roles lack a permission.

use crate::rpc_name::Rpc;

/// The Auth Service and the identity do not accept each other: the server is not the
/// identity's cluster's, or it refused the identity ([`crate::ErrorKind::Auth`]). Renew the
/// identity, or use the one of this cluster.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The server's certificate is not signed by the cluster's host CA from the identity file.
    #[error(
        "the server at {addr} presented a certificate ({presented}) not signed by the identity's cluster CAs"
    )]
    UntrustedServer {
        /// The address dialed.
        addr: String,
        /// Names and issuer of the certificate the server presented.
        presented: String,
        /// The verifier's error.
        #[source]
        source: rustls::Error,
    },

    /// The Auth Service refused the identity's certificate during or right after the handshake.
    #[error("the Auth Service at {addr} rejected the identity's certificate (TLS alert: {alert})")]
    CertificateRejected {
        /// The address dialed.
        addr: String,
        /// The TLS alert received.
        alert: String,
    },

    /// The Auth Service belongs to another cluster than the identity.
    #[error(
        "cluster mismatch: the identity is for {identity:?} but the Auth Service serves {server:?}"
    )]
    ClusterMismatch {
        /// The identity's cluster.
        identity: String,
        /// The cluster the server reports.
        server: String,
    },

    /// The Auth Service rejected the identity (expired, revoked, locked).
    #[error("{rpc}: not authenticated: {message}")]
    Unauthenticated {
        /// The RPC.
        rpc: Rpc,
        /// The server's message.
        message: String,
    },
}

impl AuthError {
    /// The stable code ([`crate::Error::code`]).
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::UntrustedServer { .. } => "untrusted_server",
            AuthError::CertificateRejected { .. } => "certificate_rejected",
            AuthError::ClusterMismatch { .. } => "cluster_mismatch",
            AuthError::Unauthenticated { .. } => "unauthenticated",
        }
    }

    /// What to do about it ([`crate::Error::advice`]).
    pub fn advice(&self) -> &'static str {
        match self {
            AuthError::UntrustedServer { .. } => {
                "The identity belongs to another cluster, or the cluster rotated its host CA: issue a fresh identity."
            }
            AuthError::CertificateRejected { .. } => {
                "The Auth Service refused the certificate: it is expired, revoked, from another cluster, or restricted to another use. Issue a new identity with `tctl auth sign --format=file`."
            }
            AuthError::ClusterMismatch { .. } => {
                "Use an identity issued by the cluster at this address."
            }
            AuthError::Unauthenticated { .. } => {
                "Issue a new identity with `tctl auth sign --format=file`."
            }
        }
    }
}

/// The Auth Service denied a call: the identity's roles lack a permission
/// ([`crate::ErrorKind::Permission`], code `permission_denied`).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{rpc}: permission denied: {message}")]
#[non_exhaustive]
pub struct PermissionError {
    /// The RPC.
    pub rpc: Rpc,
    /// The server's message.
    pub message: String,
}

impl PermissionError {
    /// The denial of `rpc`, with the server's `message`.
    pub fn new(rpc: Rpc, message: impl Into<String>) -> Self {
        Self {
            rpc,
            message: message.into(),
        }
    }

    /// The stable code ([`crate::Error::code`]).
    pub fn code(&self) -> &'static str {
        "permission_denied"
    }

    /// What to do about it ([`crate::Error::advice`]).
    pub fn advice(&self) -> &'static str {
        "Grant the identity's role `event` and `session` with verbs `list` and `read` (see the README), then issue a new identity."
    }
}
