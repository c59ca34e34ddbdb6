//! [`ErrorClass`]: what has to change before trying again, for a process's exit status, an
//! alert's route or a supervisor's restart policy.

use teleport_identity::IdentityError;

use crate::error::Error;

/// The class of a failure: what has to change before the same thing can succeed.
///
/// [`Error::class`] gives it; it is decided from the error's variant (never from its message),
/// in one place next to [`Error::code`]. `docs/troubleshooting.md` lists the codes of each
/// class and the exit status the `teleport-audit` command gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// A setting is wrong or missing: an address that is not `host:port`, a value out of range,
    /// an unusable extra CA, stream settings the server refuses, an address our own server
    /// cannot listen on, a build without a TLS crypto provider. Fix the setting; trying again
    /// unchanged fails the same way.
    Setting,
    /// The identity or its roles: an identity file that cannot be read, parsed or used, an
    /// expired or rejected certificate, a server of another cluster, a permission the roles
    /// lack. Renew the identity or fix the role. The errors [`Error::is_auth`] is true for,
    /// but for a missing TLS crypto provider (a [setting](ErrorClass::Setting) of the build).
    Permission,
    /// Data cannot be used as it is: a cursor that is invalid, from another cluster or ahead
    /// of the server's clock; a cursor file or output file that cannot be read, written or
    /// used; an output that its cursor does not record; an event or export chunk the server
    /// sent that could not be delivered.
    Data,
    /// The cluster, or the way to it, is not available now: name resolution, a refused or
    /// timed-out connection, a network error, a proxy or load balancer that does not pass the
    /// connection through, an Auth Service that is down, rate limiting or does not serve the
    /// call, a file in use by another process. Trying again later may succeed.
    Unavailable,
    /// Anything else: a gRPC status this client does not retry and cannot place.
    Other,
}

impl Error {
    /// What kind of failure this is (see [`ErrorClass`]): a setting, the identity or its
    /// permissions, data (a cursor or output), the cluster's availability, or other.
    ///
    /// Read from the other classifications where they already say it: the identity or role
    /// errors are [`Error::is_auth`]'s, and every error the stream retries
    /// ([`Error::is_retryable`]) is the cluster's passing trouble.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::InvalidAddress { .. }
            | Error::Config { .. }
            | Error::ProxyCa { .. }
            | Error::InvalidArgument { .. }
            | Error::Listen { .. }
            | Error::Identity(IdentityError::NoCryptoProvider) => ErrorClass::Setting,
            _ if self.is_auth() => ErrorClass::Permission,
            Error::InvalidCursor { .. }
            | Error::CursorFromOtherCluster { .. }
            | Error::CursorAhead { .. }
            | Error::CursorFile { .. }
            | Error::CursorFileUnusable { .. }
            | Error::OutputFile { .. }
            | Error::OutputNotRecorded { .. } => ErrorClass::Data,
            // A status the stream does not retry is not the server's passing trouble; a failed
            // task of our own is a bug.
            Error::Rpc { .. } if !self.is_retryable() => ErrorClass::Other,
            Error::TaskFailed { .. } => ErrorClass::Other,
            // What is left is the way to the cluster or the cluster itself (resolving,
            // connecting, the HTTP proxy, TLS, the upgrade, a call it does not serve, rate
            // limits, a timeout, a retried status) or a file another process holds. The exit
            // code table test below checks each variant's class against the guide.
            _ => ErrorClass::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::Duration;

    use time::OffsetDateTime;

    use super::*;
    use crate::rpc_name::Rpc;

    fn io() -> std::io::Error {
        std::io::Error::other("boom")
    }

    /// One error of each variant (two of `Rpc`: a status retried and one not).
    fn samples() -> Vec<Error> {
        let rpc = Rpc::GetUnstructuredEvents;
        let addr = || "proxy.example.com:443".to_owned();
        let message = || "m".to_owned();
        let path = || PathBuf::from("/var/lib/teleport-audit/cursor.json");
        let time = OffsetDateTime::UNIX_EPOCH;
        let expired = IdentityError::Expired {
            not_after: time,
            now: time,
        };
        vec![
            Error::InvalidAddress {
                input: "x".into(),
                reason: "no port",
            },
            Error::Config {
                field: "page_size",
                reason: "0".into(),
            },
            Error::Identity(IdentityError::Empty),
            Error::Identity(expired),
            Error::Identity(IdentityError::NotYetValid {
                not_before: time,
                now: time,
            }),
            Error::Identity(IdentityError::NoCryptoProvider),
            Error::ProxyCa { reason: "x".into() },
            Error::Resolve {
                host: "h".into(),
                source: Arc::new(io()),
            },
            Error::Refused {
                addr: addr(),
                source: Arc::new(io()),
            },
            Error::ConnectTimeout {
                addr: addr(),
                step: "connecting to",
                after: Duration::from_secs(1),
            },
            Error::Network {
                addr: addr(),
                source: Arc::new(io()),
            },
            Error::HttpProxy {
                proxy: addr(),
                target: addr(),
                status: Some(407),
                reason: message(),
            },
            Error::UntrustedServer {
                addr: addr(),
                presented: message(),
                source: rustls::Error::General("x".into()),
            },
            Error::AlpnNotRouted {
                addr: addr(),
                presented: message(),
            },
            Error::NoHttp2 {
                addr: addr(),
                negotiated: "none".into(),
            },
            Error::UnknownCluster {
                addr: addr(),
                cluster: "c".into(),
            },
            Error::CertificateRejected {
                addr: addr(),
                alert: "BadCertificate".into(),
            },
            Error::Tls {
                addr: addr(),
                source: rustls::Error::General("x".into()),
            },
            Error::Upgrade {
                addr: addr(),
                status: Some(404),
                reason: message(),
            },
            Error::ClusterMismatch {
                identity: "a".into(),
                server: "b".into(),
            },
            Error::PermissionDenied {
                rpc,
                message: message(),
            },
            Error::Unauthenticated {
                rpc,
                message: message(),
            },
            Error::Unimplemented {
                rpc,
                message: message(),
            },
            Error::InvalidArgument {
                rpc,
                message: message(),
            },
            Error::Unavailable {
                rpc,
                message: message(),
                source: None,
            },
            Error::ResourceExhausted {
                rpc,
                message: message(),
            },
            Error::Timeout {
                rpc,
                after: Duration::from_secs(1),
            },
            Error::Rpc {
                rpc,
                code: tonic::Code::Internal,
                message: message(),
            },
            Error::Rpc {
                rpc,
                code: tonic::Code::FailedPrecondition,
                message: message(),
            },
            Error::TaskFailed { task: "page fetch" },
            Error::InvalidCursor {
                reason: message(),
                source: None,
            },
            Error::CursorFromOtherCluster {
                cursor: "a".into(),
                client: "b".into(),
            },
            Error::CursorAhead {
                field: "watermark",
                time,
                server_now: time,
                tolerance: Duration::from_secs(60),
            },
            Error::CursorFileUnusable {
                path: path(),
                reason: message(),
            },
            Error::FileLocked {
                what: "cursor file",
                path: path(),
            },
            Error::OutputFile {
                path: path(),
                action: "write",
                source: Arc::new(io()),
            },
            Error::OutputNotRecorded {
                path: path(),
                reason: message(),
            },
            Error::CursorFile {
                path: path(),
                action: "read",
                source: Arc::new(io()),
            },
            Error::Listen {
                what: "metrics server",
                addr: std::net::SocketAddr::from(([127, 0, 0, 1], 9464)),
                source: Arc::new(io()),
            },
        ]
    }

    /// The codes `Error::code` can return, read from its source.
    fn all_codes() -> Vec<&'static str> {
        let source = include_str!("error.rs");
        let start = source.find("pub fn code(&self)").unwrap();
        let end = start + source[start..].find("\n    }\n").unwrap();
        source[start..end]
            .split("=> \"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect()
    }

    #[test]
    fn the_samples_hold_every_code() {
        let sampled: Vec<&str> = samples().iter().map(Error::code).collect();
        let missing: Vec<&str> = all_codes()
            .into_iter()
            .filter(|code| !sampled.contains(code))
            .collect();
        assert!(missing.is_empty(), "no sample error with code {missing:?}");
    }

    #[test]
    fn permission_is_is_auth_but_for_the_build() {
        for error in samples() {
            let build = matches!(error, Error::Identity(IdentityError::NoCryptoProvider));
            assert_eq!(
                error.class() == ErrorClass::Permission,
                error.is_auth() && !build,
                "{error:?}"
            );
        }
    }

    #[test]
    fn classes_follow_the_variant() {
        let class_of = |code: &str| -> Vec<ErrorClass> {
            samples()
                .iter()
                .filter(|e| e.code() == code)
                .map(Error::class)
                .collect()
        };
        assert_eq!(class_of("invalid_config"), [ErrorClass::Setting]);
        assert_eq!(class_of("invalid_cursor"), [ErrorClass::Data; 3]);
        assert_eq!(class_of("connection_refused"), [ErrorClass::Unavailable]);
        assert_eq!(class_of("identity_expired"), [ErrorClass::Permission]);
        assert_eq!(
            class_of("rpc_failed"),
            [ErrorClass::Unavailable, ErrorClass::Other]
        );
        assert_eq!(class_of("task_failed"), [ErrorClass::Other]);
    }

    /// docs/troubleshooting.md's exit-code table lists each code in its class's row.
    #[test]
    fn the_exit_code_table_lists_every_code_in_its_class() {
        let guide = include_str!("../../../docs/troubleshooting.md");
        let start = guide
            .find("## Exit codes")
            .expect("docs/troubleshooting.md has an `## Exit codes` section");
        let section = &guide[start..];
        let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
        let row_of = |class: ErrorClass| -> &str {
            let name = format!("| `{class:?}` |");
            section
                .lines()
                .find(|line| line.contains(&name))
                .unwrap_or_else(|| panic!("no row for {class:?} in the exit code table"))
        };
        let mut wrong = Vec::new();
        for error in samples() {
            let row = row_of(error.class());
            if !row.contains(&format!("`{}`", error.code())) {
                wrong.push((error.code(), error.class()));
            }
        }
        assert!(
            wrong.is_empty(),
            "codes not listed in their class's row of the exit code table: {wrong:?}"
        );
    }
}
