//! Turning a tonic call's outcome into our [`Error`], and running calls under a timeout.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::connect::ConnectFailure;
use crate::connect::auth_tls::alert_error;
use crate::error::{AuthError, ConnectError, Error, PermissionError, ServerError};
use crate::rpc_name::Rpc;

/// Runs `call` (RPC `rpc`) with `timeout`, mapping its status to an [`Error`].
pub(crate) async fn with_timeout<T, F>(rpc: Rpc, timeout: Duration, call: F) -> Result<T, Error>
where
    F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(Error::Server(ServerError::Timeout {
            rpc,
            after: timeout,
        })),
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(status_to_error(rpc, status)),
    }
}

/// Maps a gRPC status to an [`Error`]. Transport failures below gRPC are recognised by walking
/// the status' source chain: our own dial errors come back out whole, and a TLS alert received
/// after the handshake (TLS 1.3 reports a refused client certificate that way) becomes
/// [`AuthError::CertificateRejected`].
pub(crate) fn status_to_error(rpc: Rpc, status: tonic::Status) -> Error {
    if let Some(error) = cause_in_chain(std::error::Error::source(&status)) {
        return error;
    }
    if status.code() == tonic::Code::Unavailable && std::error::Error::source(&status).is_some() {
        // A failure below gRPC (the connection was reset or refused): the transport's error is
        // the cause, and tonic's message only repeats it.
        return ConnectError::Transport {
            rpc,
            source: Arc::new(TransportCause(status)),
        }
        .into();
    }
    let message = status.message().to_owned();
    match status.code() {
        tonic::Code::PermissionDenied => PermissionError { rpc, message }.into(),
        tonic::Code::Unauthenticated => AuthError::Unauthenticated { rpc, message }.into(),
        tonic::Code::Unimplemented => ServerError::Unimplemented { rpc, message }.into(),
        tonic::Code::InvalidArgument => ServerError::InvalidArgument { rpc, message }.into(),
        tonic::Code::ResourceExhausted => ServerError::ResourceExhausted { rpc, message }.into(),
        tonic::Code::Unavailable => ServerError::Unavailable { rpc, message }.into(),
        code => ServerError::Status { rpc, code, message }.into(),
    }
}

/// Maps the error of tonic's eager connect.
pub(crate) fn transport_error(error: tonic::transport::Error) -> Error {
    cause_in_chain(Some(&error)).unwrap_or_else(|| {
        ConnectError::Transport {
            rpc: Rpc::Connect,
            source: Arc::new(error),
        }
        .into()
    })
}

/// The cause of a status tonic made of a transport error: shows as that error (its text and its
/// sources), not as the status, whose message repeats it.
#[derive(Debug)]
struct TransportCause(tonic::Status);

impl std::fmt::Display for TransportCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match std::error::Error::source(&self.0) {
            Some(cause) => std::fmt::Display::fmt(cause, f),
            None => f.write_str(self.0.message()),
        }
    }
}

impl std::error::Error for TransportCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0).and_then(std::error::Error::source)
    }
}

/// Our own dial error, or a TLS alert that refused the client certificate, somewhere in a chain.
fn cause_in_chain(mut source: Option<&(dyn std::error::Error + 'static)>) -> Option<Error> {
    while let Some(error) = source {
        if let Some(failure) = error.downcast_ref::<ConnectFailure>() {
            return Some(failure.error());
        }
        if let Some(rustls::Error::AlertReceived(alert)) = error.downcast_ref::<rustls::Error>()
            && let Some(mapped) = alert_error("the Auth Service".to_owned(), &format!("{alert:?}"))
        {
            return Some(mapped);
        }
        // h2 keeps I/O errors as text (to make them cloneable), so a TLS alert received after the
        // handshake reaches us only as rustls' message: "received fatal alert: <name>".
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && let Some(name) = io.to_string().strip_prefix("received fatal alert: ")
            && let Some(mapped) = alert_error("the Auth Service".to_owned(), name.trim())
        {
            return Some(mapped);
        }
        source = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_variants() {
        let e = status_to_error(
            Rpc::GetUnstructuredEvents,
            tonic::Status::permission_denied("no"),
        );
        assert!(
            matches!(e, Error::Permission(PermissionError { rpc: Rpc::GetUnstructuredEvents, ref message }) if message == "no")
        );
        let e = status_to_error(Rpc::Ping, tonic::Status::unimplemented("old"));
        assert!(matches!(
            e,
            Error::Server(ServerError::Unimplemented { .. })
        ));
        let e = status_to_error(Rpc::Ping, tonic::Status::unavailable("down"));
        assert!(e.is_retryable());
        let e = status_to_error(Rpc::Ping, tonic::Status::internal("boom"));
        assert!(matches!(
            e,
            Error::Server(ServerError::Status {
                code: tonic::Code::Internal,
                ..
            })
        ));
        assert!(e.is_retryable());
        let e = status_to_error(Rpc::Ping, tonic::Status::invalid_argument("limit"));
        assert!(e.is_fatal());
    }

    #[test]
    fn an_alert_after_the_handshake_is_a_rejected_certificate() {
        // What hyper/h2 hand up when the server refuses the client certificate in TLS 1.3.
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "received fatal alert: UnknownCA",
        );
        let status = tonic::Status::from_error(Box::new(io));
        let e = status_to_error(Rpc::Ping, status);
        assert!(
            matches!(e, Error::Auth(AuthError::CertificateRejected { ref alert, .. }) if alert == "UnknownCA"),
            "{e:?}"
        );
        let other = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "received fatal alert: DecodeError",
        );
        let e = status_to_error(Rpc::Ping, tonic::Status::from_error(Box::new(other)));
        assert!(
            !matches!(e, Error::Auth(AuthError::CertificateRejected { .. })),
            "{e:?}"
        );
    }

    #[test]
    fn a_dial_failure_comes_back_whole() {
        let failure = ConnectFailure::new(Error::Auth(AuthError::ClusterMismatch {
            identity: "a".into(),
            server: "b".into(),
        }));
        let status = tonic::Status::from_error(Box::new(failure));
        let e = status_to_error(Rpc::Ping, status);
        assert!(
            matches!(e, Error::Auth(AuthError::ClusterMismatch { .. })),
            "{e:?}"
        );
    }

    /// A failure below gRPC shows the transport's error as the only cause (tonic's message only
    /// repeats it), and its text appears once in the printed chain.
    #[test]
    fn a_transport_cause_is_said_once() {
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by peer",
        );
        let status = tonic::Status::from_error(Box::new(io));
        assert_eq!(status.message(), "connection reset by peer");
        let e: Error = ConnectError::Transport {
            rpc: Rpc::GetUnstructuredEvents,
            source: Arc::new(TransportCause(status.clone())),
        }
        .into();
        assert_eq!(e.code(), "unavailable");
        assert!(e.is_retryable());
        assert_eq!(
            crate::error::tests::chain(&e),
            "GetUnstructuredEvents: the connection to the Auth Service failed: connection reset by peer"
        );
        // Only the status `Unavailable` is the connection's: another code keeps its class.
        let e = status_to_error(Rpc::GetUnstructuredEvents, status);
        assert!(
            matches!(
                e,
                Error::Server(ServerError::Status {
                    code: tonic::Code::Unknown,
                    ..
                })
            ),
            "{e:?}"
        );
    }
}
