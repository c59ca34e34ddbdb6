//! The tower service tonic calls for every (re)connection ([`Connector`]: one
//! [`Dialer::dial`], the connection tracked for [`crate::Client::disconnect`]), and the error it
//! hands tonic ([`ConnectFailure`]), which carries our [`Error`] through tonic's and hyper's
//! error chain.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;

use super::dial::Dialer;
use super::open_connections::Tracked;
use crate::error::Error;

/// The error tonic receives from [`Connector`]: it carries our [`Error`] through tonic's and
/// hyper's error chain, to be read back out by [`crate::rpc::status_to_error`]. Every reader
/// gets the same typed error (a copy: [`Error`] is `Clone`), however often tonic or hyper hand
/// the failure on.
#[derive(Debug)]
pub(crate) struct ConnectFailure {
    error: Error,
}

impl ConnectFailure {
    pub(crate) fn new(error: Error) -> Self {
        Self { error }
    }

    /// The original error.
    pub(crate) fn error(&self) -> Error {
        self.error.clone()
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for ConnectFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

/// The tower service tonic uses to (re)connect: every call is one [`Dialer::dial`].
#[derive(Clone, Debug)]
pub(crate) struct Connector {
    dialer: Arc<Dialer>,
}

impl Connector {
    pub(crate) fn new(dialer: Arc<Dialer>) -> Self {
        Self { dialer }
    }
}

impl tower::Service<http::Uri> for Connector {
    type Response = TokioIo<Tracked>;
    type Error = ConnectFailure;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let dialer = Arc::clone(&self.dialer);
        Box::pin(async move {
            match dialer.dial().await {
                Ok(io) => Ok(TokioIo::new(dialer.open.track(io))),
                Err(error) => {
                    // Debug only: the error reaches the caller (Client::connect, or the call
                    // that the stream retries and logs), which reports it once.
                    tracing::debug!(error = %error, code = error.code(), "dial failed");
                    Err(ConnectFailure::new(error))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ConnectError;
    use crate::rpc::status_to_error;
    use crate::rpc_name::Rpc;

    /// tonic and hyper may hand one failure to several callers (the eager connect and the calls
    /// waiting on the channel): each gets the typed error, not a summary of it.
    #[test]
    fn every_reader_gets_the_typed_error() {
        let failure = Arc::new(ConnectFailure::new(Error::Connect(ConnectError::Refused {
            addr: "proxy.example.com:443".into(),
            source: Arc::new(std::io::ErrorKind::ConnectionRefused.into()),
        })));
        let read = || {
            let status = tonic::Status::from_error(Box::new(SharedFailure(Arc::clone(&failure))));
            status_to_error(Rpc::Ping, status)
        };
        let (first, second) = (read(), read());
        for error in [&first, &second] {
            assert!(
                matches!(error, Error::Connect(ConnectError::Refused { .. })),
                "{error:?}"
            );
            assert_eq!(error.code(), "connection_refused");
        }
        assert_eq!(first.to_string(), second.to_string());
    }

    /// One failure seen from two places, as hyper's shared connect error is.
    #[derive(Debug)]
    struct SharedFailure(Arc<ConnectFailure>);

    impl fmt::Display for SharedFailure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connection error")
        }
    }

    impl std::error::Error for SharedFailure {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(self.0.as_ref())
        }
    }
}
