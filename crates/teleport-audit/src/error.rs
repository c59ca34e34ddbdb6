//! The client's error type: one variant per failed step, classified for retry and alerting.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use teleport_identity::IdentityError;
use time::OffsetDateTime;

use crate::rpc_name::Rpc;

/// A shared error used as the `#[source]` of transport failures (shared so that [`Error`] is
/// `Clone`).
pub type SharedError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong between the user's settings and a delivered event.
///
/// `Display` is a one-line statement in our words with the context (address, RPC, event id);
/// the underlying cause, if any, is in [`std::error::Error::source`]. Print the whole chain
/// (for example with `{:#}` in `anyhow`, or by walking `source()`) to see everything.
///
/// Classification: [`Error::is_retryable`] (the stream retries these by itself),
/// [`Error::is_auth`] (fix the identity or the role), [`Error::is_fatal`] (the stream ends after
/// yielding it), [`Error::code`] (a stable identifier for logs and alerts) and
/// [`Error::advice`] (what to do about it).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address setting could not be parsed.
    #[error("invalid address {input:?}: {reason}")]
    InvalidAddress {
        /// What the user gave; user information (`user:password@`) hidden, and only the
        /// length of text that cannot be an address (over 255 bytes or several lines), which
        /// may be a secret given in the wrong setting.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A required setting is missing or a setting is out of range.
    #[error("invalid configuration: {field}: {reason}")]
    Config {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The identity could not be parsed, is expired or not yet valid, or cannot build a TLS
    /// configuration. The source says which.
    #[error("the identity cannot be used")]
    Identity(#[source] IdentityError),

    /// The extra CA given for the proxy's public certificate could not be used.
    #[error("the extra CA certificate for the proxy's public TLS is unusable: {reason}")]
    ProxyCa {
        /// What is wrong with it.
        reason: String,
    },

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
    #[error("connection to {addr} refused")]
    Refused {
        /// The address dialed.
        addr: String,
        /// The socket error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// TCP connect, TLS handshake or connection upgrade did not finish in time.
    #[error("timed out after {after:?} while {step} {addr}")]
    ConnectTimeout {
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

    /// The Auth Service refused the identity's certificate during or right after the handshake.
    #[error("the Auth Service at {addr} rejected the identity's certificate (TLS alert: {alert})")]
    CertificateRejected {
        /// The address dialed.
        addr: String,
        /// The TLS alert received.
        alert: String,
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

    /// The Auth Service denied the call (the identity's roles lack a permission).
    #[error("{rpc}: permission denied: {message}")]
    PermissionDenied {
        /// The RPC.
        rpc: Rpc,
        /// The server's message.
        message: String,
    },

    /// The Auth Service rejected the identity (expired, revoked, locked).
    #[error("{rpc}: not authenticated: {message}")]
    Unauthenticated {
        /// The RPC.
        rpc: Rpc,
        /// The server's message.
        message: String,
    },

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

    /// The Auth Service (or the path to it) is temporarily unavailable.
    #[error("{rpc}: unavailable: {message}")]
    Unavailable {
        /// The RPC.
        rpc: Rpc,
        /// The server's or transport's message.
        message: String,
        /// The transport error, if the failure happened below gRPC.
        #[source]
        source: Option<SharedError>,
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
    Rpc {
        /// The RPC.
        rpc: Rpc,
        /// The gRPC status code.
        code: tonic::Code,
        /// The server's message.
        message: String,
    },

    /// A task of the stream's own (a page fetch, the export probe, an export chunk reader)
    /// panicked or was lost: a bug in teleport-audit. Trying again would repeat it, so the
    /// stream ends (a restart resumes from the cursor).
    #[error("the stream's {task} task failed (it panicked): a bug in teleport-audit")]
    TaskFailed {
        /// Which task.
        task: &'static str,
    },

    /// A cursor could not be read or does not fit this stream.
    #[error("invalid cursor: {reason}")]
    InvalidCursor {
        /// What is wrong with it.
        reason: String,
        /// The parse error, if it did not parse.
        #[source]
        source: Option<Arc<serde_json::Error>>,
    },

    /// The cursor was taken on another cluster than the one the client is connected to.
    /// Resuming from it would skip or repeat events, so the stream refuses it.
    #[error(
        "the cursor was taken on cluster {cursor:?}, but the client is connected to {client:?}"
    )]
    CursorFromOtherCluster {
        /// The cluster the cursor records.
        cursor: String,
        /// The cluster the client is connected to.
        client: String,
    },

    /// A time in the cursor is ahead of the server's clock: the cursor was edited by hand, or
    /// written by a machine whose clock ran ahead. Trusting it would skip the events up to that
    /// time, so the stream refuses it.
    #[error(
        "the cursor's {field} ({time}) is ahead of the server's clock: more than {tolerance:?} after {server_now}, the server's now as far as the client can tell"
    )]
    CursorAhead {
        /// The cursor field ("watermark", "scan.to", ...).
        field: &'static str,
        /// Its value.
        time: OffsetDateTime,
        /// The server's now as the client estimates it: this machine's clock plus the offset the
        /// proxy's web API told ([`crate::Client::server_clock_offset`]), or this machine's clock
        /// alone when it did not.
        server_now: OffsetDateTime,
        /// How far ahead a cursor time may be before it is refused.
        tolerance: Duration,
    },

    /// The cursor file's path cannot hold a cursor: a directory, FIFO, device or socket, a
    /// dangling symbolic link, a missing directory, or a file too large to be a cursor.
    #[error("cursor file {path}: {reason}")]
    CursorFileUnusable {
        /// The path as given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Another process holds the file open (an advisory lock, held for the life of the store
    /// or sink that opened it).
    #[error("{what} {path} is in use by another process")]
    FileLocked {
        /// "cursor file" or "output file".
        what: &'static str,
        /// The file.
        path: PathBuf,
    },

    /// The output file of a [`crate::FileSink`] could not be opened, written or flushed.
    #[error("output file {path}: could not {action}")]
    OutputFile {
        /// The file.
        path: PathBuf,
        /// What was being done ("open", "write", "flush to disk", "truncate", ...).
        action: &'static str,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// A [`crate::FileSink`]'s output file holds data that its cursor file does not describe, so
    /// appending could repeat events or continue a torn line.
    #[error("output file {path} {reason}")]
    OutputNotRecorded {
        /// The output file.
        path: PathBuf,
        /// Why it does not fit the cursor file.
        reason: String,
    },

    /// A cursor file could not be read or written.
    #[error("cursor file {path}: could not {action}")]
    CursorFile {
        /// The file.
        path: PathBuf,
        /// What was being done ("read", "write", "rename into place", ...).
        action: &'static str,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// A server of ours (the metrics server) could not listen on its address: the port is in
    /// use, needs privileges, or the address is not this machine's. The source's
    /// [`std::io::Error::kind`] says which.
    #[error("cannot listen on {addr} for the {what}")]
    Listen {
        /// Which server ("metrics server").
        what: &'static str,
        /// The address given.
        addr: std::net::SocketAddr,
        /// The socket error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

impl Error {
    /// Whether the failure is transient: retrying the same call later may succeed. The stream
    /// retries these itself, with backoff.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Resolve { .. }
            | Error::Refused { .. }
            | Error::ConnectTimeout { .. }
            | Error::Network { .. }
            | Error::Unavailable { .. }
            | Error::ResourceExhausted { .. }
            | Error::Timeout { .. }
            | Error::UnknownCluster { .. } => true,
            // An HTTP answer below 500 (404: proxy too old, 407: proxy credentials) will not change.
            Error::HttpProxy { status, .. } | Error::Upgrade { status, .. } => {
                status.is_none_or(|status| status >= 500)
            }
            Error::Rpc { code, .. } => matches!(
                code,
                tonic::Code::Internal
                    | tonic::Code::Unknown
                    | tonic::Code::Aborted
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Cancelled
                    | tonic::Code::DataLoss
            ),
            _ => false,
        }
    }

    /// Whether the identity or its roles are the problem (renew the identity, fix the role).
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            Error::Identity(_)
                | Error::PermissionDenied { .. }
                | Error::Unauthenticated { .. }
                | Error::CertificateRejected { .. }
                | Error::ClusterMismatch { .. }
                | Error::UntrustedServer { .. }
        )
    }

    /// Whether trying again cannot help: not [retryable](Error::is_retryable). An
    /// [`crate::AuditEventStream`] retries retryable failures by itself and yields an error
    /// only when it cannot go on, so every error it yields ends it (a stall or a skipped event
    /// is a [`crate::Notice`], not an error).
    pub fn is_fatal(&self) -> bool {
        !self.is_retryable()
    }

    /// A stable identifier of the failure, for logs, metrics and alerts.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidAddress { .. } => "invalid_address",
            Error::Config { .. } => "invalid_config",
            Error::Identity(inner) => match inner {
                IdentityError::Expired { .. } => "identity_expired",
                IdentityError::NotYetValid { .. } => "identity_not_yet_valid",
                IdentityError::NoCryptoProvider => "no_crypto_provider",
                _ => "identity_invalid",
            },
            Error::ProxyCa { .. } => "proxy_ca_invalid",
            Error::Resolve { .. } => "dns_failure",
            Error::Refused { .. } => "connection_refused",
            Error::ConnectTimeout { .. } => "connect_timeout",
            Error::Network { .. } => "network_error",
            Error::HttpProxy { .. } => "http_proxy_failed",
            Error::UntrustedServer { .. } => "untrusted_server",
            Error::AlpnNotRouted { .. } => "alpn_not_routed",
            Error::NoHttp2 { .. } => "no_http2",
            Error::UnknownCluster { .. } => "unknown_cluster",
            Error::CertificateRejected { .. } => "certificate_rejected",
            Error::Tls { .. } => "tls_failure",
            Error::Upgrade { .. } => "connection_upgrade_failed",
            Error::ClusterMismatch { .. } => "cluster_mismatch",
            Error::PermissionDenied { .. } => "permission_denied",
            Error::Unauthenticated { .. } => "unauthenticated",
            Error::Unimplemented { .. } => "unimplemented",
            Error::InvalidArgument { .. } => "invalid_argument",
            Error::Unavailable { .. } => "unavailable",
            Error::ResourceExhausted { .. } => "resource_exhausted",
            Error::Timeout { .. } => "timeout",
            Error::Rpc { .. } => "rpc_failed",
            Error::TaskFailed { .. } => "task_failed",
            Error::InvalidCursor { .. }
            | Error::CursorFromOtherCluster { .. }
            | Error::CursorAhead { .. } => "invalid_cursor",
            Error::CursorFile { .. } | Error::CursorFileUnusable { .. } => "cursor_file",
            Error::FileLocked { .. } => "file_locked",
            Error::OutputFile { .. } => "output_file",
            Error::OutputNotRecorded { .. } => "output_not_recorded",
            Error::Listen { .. } => "listen_failed",
        }
    }

    /// What to do about it, in a sentence (also in `docs/troubleshooting.md`).
    pub fn advice(&self) -> &'static str {
        match self {
            Error::InvalidAddress { .. } => {
                "Give the proxy address with its port, as `tsh status` shows it: teleport.example.com:443."
            }
            Error::Config { .. } => "Fix the named setting.",
            Error::Identity(IdentityError::Expired { .. }) => {
                "Issue a new identity with `tctl auth sign --format=file` (or let tbot renew it) and restart."
            }
            Error::Identity(IdentityError::NotYetValid { .. }) => {
                "Check this machine's clock: the certificate is not valid yet."
            }
            Error::Identity(IdentityError::NoCryptoProvider) => {
                "Build teleport-audit with its `ring` (default) or `aws-lc-rs` feature, or install a provider with rustls::crypto::CryptoProvider::install_default before connecting."
            }
            Error::Identity(IdentityError::ReadFile { .. }) => {
                "Check the identity file's path and that this user may read it (or pass its contents in TELEPORT_IDENTITY)."
            }
            Error::Identity(_) => {
                "Pass the whole identity file written by `tctl auth sign --format=file`, unmodified."
            }
            Error::ProxyCa { .. } => {
                "Give a readable PEM file holding the CA certificate (or the certificate itself) of the proxy's public TLS."
            }
            Error::Resolve { .. } => "Check the proxy host name and this machine's DNS.",
            Error::Refused { .. } => {
                "Check the port: a Teleport proxy usually listens on 443 (or 3080 without TLS routing)."
            }
            Error::ConnectTimeout { .. } | Error::Network { .. } => {
                "Check that this machine can reach the address (firewall, VPN, HTTPS_PROXY) and that a Teleport proxy or Auth Service answers there."
            }
            Error::HttpProxy { .. } => {
                "Check HTTPS_PROXY / NO_PROXY and that the HTTP proxy allows CONNECT to the Teleport proxy."
            }
            Error::UntrustedServer { .. } => {
                "The identity belongs to another cluster, or the cluster rotated its host CA: issue a fresh identity."
            }
            Error::AlpnNotRouted { .. } => {
                "The proxy does not route TLS by ALPN here: enable TLS routing (proxy_listener_mode: multiplex), use the connection upgrade (behind an L7 load balancer), or give the Auth Service address directly."
            }
            Error::NoHttp2 { .. } => {
                "Something between this machine and the Auth Service terminates TLS; connect through the proxy's TLS routing port."
            }
            Error::UnknownCluster { .. } => {
                "The proxy does not know the identity's cluster: check that the address and the identity belong together."
            }
            Error::CertificateRejected { .. } => {
                "The Auth Service refused the certificate: it is expired, revoked, from another cluster, or restricted to another use. Issue a new identity with `tctl auth sign --format=file`."
            }
            Error::Tls { .. } => "Check the proxy address and that it is a Teleport proxy.",
            Error::Upgrade { .. } => {
                "The proxy or the load balancer in front of it refused the connection upgrade; check that it forwards /webapi/connectionupgrade and its Upgrade headers, or disable the upgrade."
            }
            Error::ClusterMismatch { .. } => {
                "Use an identity issued by the cluster at this address."
            }
            Error::PermissionDenied { .. } => {
                "Grant the identity's role `event` and `session` with verbs `list` and `read` (see the README), then issue a new identity."
            }
            Error::Unauthenticated { .. } => {
                "Issue a new identity with `tctl auth sign --format=file`."
            }
            Error::Unimplemented { rpc, .. } if rpc.is_export() => {
                "This cluster does not serve the export API (it needs Teleport 16.4+ with the Athena audit backend, or Teleport Cloud): use Mode::Auto or Mode::Search (`--mode auto` / `--mode search`)."
            }
            Error::Unimplemented { .. } => {
                "This Teleport version or audit backend lacks the call: upgrade Teleport (v13+ for search, v16.4+ for export)."
            }
            Error::InvalidArgument { .. } => {
                "Check the stream settings (page size, time range, event types)."
            }
            Error::TaskFailed { .. } => {
                "A bug in teleport-audit: please report it with the log lines before this error; a restart resumes from the cursor."
            }
            Error::Rpc { .. } if !self.is_retryable() => {
                "The Auth Service refused the call with a status this client does not retry; check the Auth Service's logs around this time."
            }
            Error::Unavailable { .. }
            | Error::ResourceExhausted { .. }
            | Error::Timeout { .. }
            | Error::Rpc { .. } => {
                "Transient: the stream retries by itself; if it persists, check the Auth Service's health and logs."
            }
            Error::InvalidCursor { .. } => {
                "Use a cursor saved by this library for the same stream settings, or start from a backfill time."
            }
            Error::CursorFromOtherCluster { .. } => {
                "Point the stream at the cluster the cursor belongs to, or give this cluster its own cursor (a new cursor file, or start from a backfill time)."
            }
            Error::CursorAhead { .. } => {
                "Check the clocks of this machine and of the Teleport servers (NTP); if the cursor was edited by hand, restore it or start from a backfill time."
            }
            Error::CursorFile { .. } => "Check the cursor file's path and permissions.",
            Error::CursorFileUnusable { .. } => {
                "Give the path of a regular file (it need not exist yet) in an existing directory."
            }
            Error::FileLocked { .. } => {
                "Another process is using this file (a second replica?): run one process per cursor file and output, or give each its own."
            }
            Error::OutputFile { .. } => {
                "Check free space and permissions; events after the last saved cursor are written again on the next run, nothing is lost."
            }
            Error::OutputNotRecorded { .. } => {
                "Write to a new (or empty) output file, or resume with the cursor file saved together with this output."
            }
            Error::Listen { source, .. } => match source.kind() {
                std::io::ErrorKind::AddrInUse => {
                    "Another process listens on this port (a second replica?): choose another port, or stop the other process."
                }
                std::io::ErrorKind::PermissionDenied => {
                    "Ports below 1024 need privileges: choose a port above 1024, such as 9464."
                }
                std::io::ErrorKind::AddrNotAvailable => {
                    "The address is not one of this machine's: listen on 127.0.0.1, 0.0.0.0, [::] or an address of one of its interfaces."
                }
                _ => "Check the address and port.",
            },
        }
    }
}

impl From<IdentityError> for Error {
    fn from(error: IdentityError) -> Self {
        Error::Identity(error)
    }
}

#[cfg(test)]
mod tests {
    /// Every code `Error::code` (and `Notice::code`) can return has an entry in the
    /// troubleshooting guide.
    #[test]
    fn every_code_is_documented() {
        let codes_in = |source: &'static str| -> Vec<&'static str> {
            let start = source.find("pub fn code(&self)").unwrap();
            let end = start + source[start..].find("\n    }\n").unwrap();
            source[start..end]
                .split("=> \"")
                .skip(1)
                .filter_map(|rest| rest.split('"').next())
                .collect()
        };
        let mut codes = codes_in(include_str!("error.rs"));
        assert!(codes.len() >= 26, "found only {codes:?}");
        let notices = codes_in(include_str!("notice.rs"));
        assert_eq!(notices.len(), 6, "{notices:?}");
        codes.extend(notices);
        let guide = include_str!("../../../docs/troubleshooting.md");
        let missing: Vec<&&str> = codes
            .iter()
            .filter(|code| !guide.contains(&format!("`{code}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "not in docs/troubleshooting.md: {missing:?}"
        );
    }

    use super::*;

    #[test]
    fn classification_is_consistent() {
        let unavailable = Error::Unavailable {
            rpc: Rpc::GetUnstructuredEvents,
            message: "connection reset".into(),
            source: None,
        };
        assert!(unavailable.is_retryable());
        assert!(!unavailable.is_fatal());
        assert!(!unavailable.is_auth());
        assert_eq!(unavailable.code(), "unavailable");

        let denied = Error::PermissionDenied {
            rpc: Rpc::GetUnstructuredEvents,
            message: "access denied to perform action \"list\" on \"event\"".into(),
        };
        assert!(!denied.is_retryable());
        assert!(denied.is_fatal());
        assert!(denied.is_auth());
        assert!(denied.advice().contains("`event`"));
    }

    #[test]
    fn advice_on_a_status_fits_whether_it_is_retried() {
        let retried = Error::Rpc {
            rpc: Rpc::GetUnstructuredEvents,
            code: tonic::Code::Internal,
            message: "boom".into(),
        };
        assert!(retried.is_retryable());
        assert!(retried.advice().starts_with("Transient"));
        let final_status = Error::Rpc {
            rpc: Rpc::GetUnstructuredEvents,
            code: tonic::Code::FailedPrecondition,
            message: "no".into(),
        };
        assert!(final_status.is_fatal());
        assert!(
            !final_status.advice().contains("retries by itself"),
            "{}",
            final_status.advice()
        );
    }

    #[test]
    fn unimplemented_export_gets_export_advice() {
        let export = Error::Unimplemented {
            rpc: Rpc::GetEventExportChunks,
            message: "unknown method GetEventExportChunks".into(),
        };
        assert!(export.is_fatal());
        assert!(
            export.advice().contains("Mode::Search"),
            "{}",
            export.advice()
        );
        let search = Error::Unimplemented {
            rpc: Rpc::GetUnstructuredEvents,
            message: "unknown method".into(),
        };
        assert!(search.advice().contains("v13+"));
    }

    #[test]
    fn display_is_one_line_in_our_words() {
        let error = Error::Timeout {
            rpc: Rpc::GetUnstructuredEvents,
            after: Duration::from_secs(30),
        };
        assert_eq!(
            error.to_string(),
            "GetUnstructuredEvents: no answer within 30s"
        );
        let error = Error::ClusterMismatch {
            identity: "a.example.com".into(),
            server: "b.example.com".into(),
        };
        assert_eq!(
            error.to_string(),
            "cluster mismatch: the identity is for \"a.example.com\" but the Auth Service serves \"b.example.com\""
        );
    }
}
