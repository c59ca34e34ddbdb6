//! [`ConnectError`]: the way to the Auth Service failed (name resolution, TCP, the HTTP proxy,
//! the connection upgrade, TLS, or the connection below gRPC).

use std::sync::Arc;
use std::time::Duration;

use crate::rpc_name::Rpc;

/// A shared error used as the `#[source]` of transport failures (shared so that
/// [`crate::Error`] is `Clone`).
pub type SharedError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The way to the Auth Service failed ([`crate::ErrorKind::Connect`]). Most of these are
/// retried by the stream ([`ConnectError::is_retryable`]).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The host name did not resolve.
    #[error("could not resolve {host}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// Nothing listens at the address, or a firewall rejects the connection.
    #[error("nothing accepts connections at {addr}")]
    Refused {
        /// The address dialed.
        addr: String,
        /// The socket error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// TCP connect, TLS handshake or connection upgrade did not finish in time.
    #[error("timed out after {after:?} while {step} {addr}")]
    Timeout {
        /// The address dialed.
        addr: String,
        /// Which step timed out ("connecting to", "TLS handshake with", ...).
        step: &'static str,
        /// The configured timeout.
        after: Duration,
    },

    /// Another socket-level failure while connecting or talking.
    #[error("network error talking to {addr}")]
    Network {
        /// The address.
        addr: String,
        /// The socket error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// The connection under a call failed below gRPC (reset, closed, refused on reconnect):
    /// the transport's error is the source.
    #[error("{rpc}: the connection to the Auth Service failed")]
    Transport {
        /// The call (or [`Rpc::Connect`]).
        rpc: Rpc,
        /// The transport's error.
        #[source]
        source: SharedError,
    },

    /// The HTTP proxy (`HTTPS_PROXY`) did not open a tunnel.
    #[error("HTTP proxy {proxy} did not open a tunnel to {target}: {reason}")]
    HttpProxy {
        /// The HTTP proxy, without credentials.
        proxy: String,
        /// Where the tunnel was to go.
        target: String,
        /// The HTTP status the proxy answered with, if it answered.
        status: Option<u16>,
        /// The proxy's answer.
        reason: String,
    },

    /// The proxy answered with its own web certificate instead of routing to the Auth Service.
    #[error(
        "the proxy at {addr} answered itself ({presented}) instead of routing to the Auth Service"
    )]
    AlpnNotRouted {
        /// The address dialed.
        addr: String,
        /// Names and issuer of the certificate the proxy presented.
        presented: String,
    },

    /// The Auth Service did not negotiate HTTP/2, so gRPC cannot run.
    #[error("the server at {addr} did not negotiate HTTP/2 (negotiated: {negotiated})")]
    NoHttp2 {
        /// The address dialed.
        addr: String,
        /// The ALPN protocol the server chose, or "none".
        negotiated: String,
    },

    /// The proxy closed the connection during the TLS handshake, which is what a Teleport proxy
    /// does when it does not know the cluster named in the routing request.
    #[error(
        "the proxy at {addr} closed the connection during the TLS handshake for cluster {cluster:?}"
    )]
    UnknownCluster {
        /// The address dialed.
        addr: String,
        /// The cluster the identity belongs to.
        cluster: String,
    },

    /// Another TLS failure.
    #[error("TLS handshake with {addr} failed")]
    Tls {
        /// The address dialed.
        addr: String,
        /// The TLS error.
        #[source]
        source: rustls::Error,
    },

    /// The connection upgrade (WebSocket, or the legacy `alpn-ping` of Teleport 13 and 14; for
    /// proxies behind an L7 load balancer) failed.
    #[error("connection upgrade at {addr} failed: {reason}")]
    Upgrade {
        /// The proxy address.
        addr: String,
        /// The HTTP status the proxy answered with, if it answered.
        status: Option<u16>,
        /// What went wrong.
        reason: String,
        /// The cause, when a layer below failed (the TLS handshake with the proxy's public
        /// certificate).
        #[source]
        source: Option<SharedError>,
    },
}

impl ConnectError {
    /// Whether trying again later may succeed ([`crate::Error::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        match self {
            ConnectError::Resolve { .. }
            | ConnectError::Refused { .. }
            | ConnectError::Timeout { .. }
            | ConnectError::Network { .. }
            | ConnectError::Transport { .. }
            | ConnectError::UnknownCluster { .. } => true,
            // An HTTP answer below 500 (404: proxy too old, 407: proxy credentials) will not change.
            ConnectError::HttpProxy { status, .. } | ConnectError::Upgrade { status, .. } => {
                status.is_none_or(|status| status >= 500)
            }
            ConnectError::AlpnNotRouted { .. }
            | ConnectError::NoHttp2 { .. }
            | ConnectError::Tls { .. } => false,
        }
    }

    /// The stable code ([`crate::Error::code`]).
    pub fn code(&self) -> &'static str {
        match self {
            ConnectError::Resolve { .. } => "dns_failure",
            ConnectError::Refused { .. } => "connection_refused",
            ConnectError::Timeout { .. } => "connect_timeout",
            ConnectError::Network { .. } => "network_error",
            ConnectError::Transport { .. } => "unavailable",
            ConnectError::HttpProxy { .. } => "http_proxy_failed",
            ConnectError::AlpnNotRouted { .. } => "alpn_not_routed",
            ConnectError::NoHttp2 { .. } => "no_http2",
            ConnectError::UnknownCluster { .. } => "unknown_cluster",
            ConnectError::Tls { .. } => "tls_failure",
            ConnectError::Upgrade { .. } => "connection_upgrade_failed",
        }
    }

    /// What to do about it ([`crate::Error::advice`]).
    pub fn advice(&self) -> &'static str {
        match self {
            ConnectError::Resolve { .. } => "Check the proxy host name and this machine's DNS.",
            ConnectError::Refused { .. } => {
                "Check the port: a Teleport proxy usually listens on 443 (or 3080 without TLS routing)."
            }
            ConnectError::Timeout { .. } | ConnectError::Network { .. } => {
                "Check that this machine can reach the address (firewall, VPN, HTTPS_PROXY) and that a Teleport proxy or Auth Service answers there."
            }
            ConnectError::Transport { .. } => super::server::TRANSIENT,
            ConnectError::HttpProxy { .. } => {
                "Check HTTPS_PROXY / NO_PROXY and that the HTTP proxy allows CONNECT to the Teleport proxy."
            }
            ConnectError::AlpnNotRouted { .. } => {
                "The proxy does not route TLS by ALPN here: enable TLS routing (proxy_listener_mode: multiplex), use the connection upgrade (behind an L7 load balancer), or give the Auth Service address directly."
            }
            ConnectError::NoHttp2 { .. } => {
                "Something between this machine and the Auth Service terminates TLS; connect through the proxy's TLS routing port."
            }
            ConnectError::UnknownCluster { .. } => {
                "The proxy does not know the identity's cluster: check that the address and the identity belong together."
            }
            ConnectError::Tls { .. } => "Check the proxy address and that it is a Teleport proxy.",
            ConnectError::Upgrade { .. } => {
                "The proxy or the load balancer in front of it refused the connection upgrade; check that it forwards /webapi/connectionupgrade and its Upgrade headers, or disable the upgrade."
            }
        }
    }
}
