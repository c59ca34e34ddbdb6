//! [`ErrorClass`]: what has to change before trying again, for a process's exit status, an
//! alert's route or a supervisor's restart policy.

use teleport_identity::IdentityError;

use crate::error::{CursorError, Error, OutputError, ServerError};

/// The class of a failure: what has to change before the same thing can succeed.
///
/// [`Error::class`] gives it; it is decided from the error's phase and variant (never from its
/// message), in one place. `docs/troubleshooting.md` lists the codes of each
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
    /// sent that could not be delivered; a session recording that cannot be read to its end.
    Data,
    /// The cluster, or the way to it, is not available now: name resolution, a refused or
    /// timed-out connection, a network error, a proxy or load balancer that does not pass the
    /// connection through, an Auth Service that is down, rate limiting or does not serve the
    /// call, a session recording not uploaded yet, a file in use by another process. Trying
    /// again later may succeed.
    Unavailable,
    /// Anything else: a gRPC status this client does not retry and cannot place.
    Other,
}

impl Error {
    /// What kind of failure this is (see [`ErrorClass`]): a setting, the identity or its
    /// permissions, data (a cursor or output), the cluster's availability, or other.
    ///
    /// Mostly the phase ([`Error::kind`]) says it; within a phase, a status the server refused
    /// the request's arguments with is a setting, a status the stream does not retry is other,
    /// a file another process holds is unavailable, and a build without a TLS crypto provider is
    /// a setting.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Setting(_)
            | Error::Server(ServerError::InvalidArgument { .. })
            | Error::Identity(IdentityError::NoCryptoProvider) => ErrorClass::Setting,
            Error::Identity(_) | Error::Auth(_) | Error::Permission(_) => ErrorClass::Permission,
            Error::Cursor(CursorError::Locked { .. })
            | Error::Output(OutputError::Locked { .. }) => ErrorClass::Unavailable,
            Error::Cursor(_)
            | Error::Output(_)
            | Error::Server(ServerError::RecordingCorrupt { .. }) => ErrorClass::Data,
            // A status the stream does not retry is not the server's passing trouble; a failed
            // task of our own is a bug.
            Error::Server(ServerError::Status { .. }) if !self.is_retryable() => ErrorClass::Other,
            Error::Internal(_) => ErrorClass::Other,
            // The way to the cluster (resolving, connecting, the HTTP proxy, TLS, the upgrade,
            // the connection) or the cluster itself (down, rate limiting, a call it does not
            // serve, a timeout, a retried status).
            Error::Connect(_) | Error::Server(_) => ErrorClass::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::tests::samples;

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
        assert_eq!(class_of("invalid_config"), [ErrorClass::Setting; 2]);
        assert_eq!(class_of("invalid_argument"), [ErrorClass::Setting]);
        assert_eq!(class_of("invalid_cursor"), [ErrorClass::Data; 3]);
        assert_eq!(class_of("connection_refused"), [ErrorClass::Unavailable]);
        assert_eq!(class_of("identity_expired"), [ErrorClass::Permission]);
        assert_eq!(class_of("file_locked"), [ErrorClass::Unavailable; 2]);
        assert_eq!(
            class_of("unavailable"),
            [ErrorClass::Unavailable, ErrorClass::Unavailable]
        );
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
