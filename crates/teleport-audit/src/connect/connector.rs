//! The tower service tonic calls for every (re)connection ([`Connector`]: one
//! [`Dialer::dial`], the connection tracked for [`crate::Client::disconnect`]), and the error it
//! hands tonic ([`ConnectFailure`]), which carries our [`Error`] through tonic's and hyper's
//! error chain.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;

use super::dial::Dialer;
use super::open_connections::Tracked;
use crate::error::Error;

/// The error tonic receives from [`Connector`]: it carries our [`Error`] through tonic's and
/// hyper's error chain, to be taken back out by [`crate::rpc::status_to_error`].
#[derive(Debug)]
pub(crate) struct ConnectFailure {
    summary: String,
    error: Mutex<Option<Error>>,
}

impl ConnectFailure {
    pub(crate) fn new(error: Error) -> Self {
        Self {
            summary: error.to_string(),
            error: Mutex::new(Some(error)),
        }
    }

    /// Takes the original error (once; later callers get `None` and use the summary).
    pub(crate) fn take(&self) -> Option<Error> {
        self.error.lock().ok().and_then(|mut slot| slot.take())
    }

    pub(crate) fn summary(&self) -> &str {
        &self.summary
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)
    }
}

impl std::error::Error for ConnectFailure {}

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
