//! Turning a tonic call's outcome into our [`Error`], and running calls under a timeout.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::connect::ConnectFailure;
use crate::connect::auth_tls::alert_error;
use crate::error::Error;
use crate::rpc_name::Rpc;

/// Runs `call` (RPC `rpc`) with `timeout`, mapping its status to an [`Error`].
pub(crate) async fn with_timeout<T, F>(rpc: Rpc, timeout: Duration, call: F) -> Result<T, Error>
where
    F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(Error::Timeout {
            rpc,
            after: timeout,
        }),
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(status_to_error(rpc, status)),
    }
}

/// Maps a gRPC status to an [`Error`]. Transport failures below gRPC are recognised by walking
/// the status' source chain: our own dial errors come back out whole, and a TLS alert received
/// after the handshake (TLS 1.3 reports a refused client certificate that way) becomes
/// [`Error::CertificateRejected`].
pub(crate) fn status_to_error(rpc: Rpc, status: tonic::Status) -> Error {
    if let Some(error) = cause_in_chain(std::error::Error::source(&status)) {
        return error;
    }
    let message = status.message().to_owned();
    match status.code() {
        tonic::Code::PermissionDenied => Error::PermissionDenied { rpc, message },
        tonic::Code::Unauthenticated => Error::Unauthenticated { rpc, message },
        tonic::Code::Unimplemented => Error::Unimplemented { rpc, message },
        tonic::Code::InvalidArgument => Error::InvalidArgument { rpc, message },
        tonic::Code::ResourceExhausted => Error::ResourceExhausted { rpc, message },
        tonic::Code::Unavailable => Error::Unavailable {
            rpc,
            message,
            source: std::error::Error::source(&status).map(|s| {
                Arc::from(Box::<dyn std::error::Error + Send + Sync>::from(
                    s.to_string(),
                ))
            }),
        },
        code => Error::Rpc { rpc, code, message },
    }
}

/// Maps the error of tonic's eager connect.
pub(crate) fn transport_error(error: tonic::transport::Error) -> Error {
    cause_in_chain(Some(&error)).unwrap_or_else(|| Error::Unavailable {
        rpc: Rpc::Connect,
        message: error.to_string(),
        source: Some(Arc::new(error)),
    })
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
            matches!(e, Error::PermissionDenied { rpc: Rpc::GetUnstructuredEvents, ref message } if message == "no")
        );
        let e = status_to_error(Rpc::Ping, tonic::Status::unimplemented("old"));
        assert!(matches!(e, Error::Unimplemented { .. }));
        let e = status_to_error(Rpc::Ping, tonic::Status::unavailable("down"));
        assert!(e.is_retryable());
        let e = status_to_error(Rpc::Ping, tonic::Status::internal("boom"));
        assert!(matches!(
            e,
            Error::Rpc {
                code: tonic::Code::Internal,
                ..
            }
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
            matches!(e, Error::CertificateRejected { ref alert, .. } if alert == "UnknownCA"),
            "{e:?}"
        );
        let other = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "received fatal alert: DecodeError",
        );
        let e = status_to_error(Rpc::Ping, tonic::Status::from_error(Box::new(other)));
        assert!(!matches!(e, Error::CertificateRejected { .. }), "{e:?}");
    }

    #[test]
    fn a_dial_failure_comes_back_whole() {
        let failure = ConnectFailure::new(Error::ClusterMismatch {
            identity: "a".into(),
            server: "b".into(),
        });
        let status = tonic::Status::from_error(Box::new(failure));
        let e = status_to_error(Rpc::Ping, status);
        assert!(matches!(e, Error::ClusterMismatch { .. }), "{e:?}");
    }
}
