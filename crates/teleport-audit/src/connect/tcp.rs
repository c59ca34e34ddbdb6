//! TCP: resolve the host, connect to each address in turn, map failures to specific errors.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use super::address::HostPort;
use crate::error::{ConnectError, Error};

/// Resolves `target` and connects to the first address that accepts, within `timeout` overall.
pub(crate) async fn connect(target: &HostPort, timeout: Duration) -> Result<TcpStream, Error> {
    let attempt = async {
        let addrs = tokio::net::lookup_host((target.host(), target.port()))
            .await
            .map_err(|source| {
                Error::Connect(ConnectError::Resolve {
                    host: target.host().to_owned(),
                    source: Arc::new(source),
                })
            })?;
        let mut last_error = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    // Small gRPC frames (window updates, pings) must not wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(match last_error {
            Some(source) => map_connect_error(target, source),
            None => Error::Connect(ConnectError::Resolve {
                host: target.host().to_owned(),
                source: Arc::new(io::Error::new(
                    io::ErrorKind::NotFound,
                    "no addresses found",
                )),
            }),
        })
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(Error::Connect(ConnectError::Timeout {
                addr: target.to_string(),
                step: "connecting to",
                after: timeout,
            }))
        })
}

fn map_connect_error(target: &HostPort, source: io::Error) -> Error {
    match source.kind() {
        io::ErrorKind::ConnectionRefused => Error::Connect(ConnectError::Refused {
            addr: target.to_string(),
            source: Arc::new(source),
        }),
        _ => Error::Connect(ConnectError::Network {
            addr: target.to_string(),
            source: Arc::new(source),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_port_is_refused() {
        // Bind then drop a listener to get a port nobody listens on.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let error = connect(&HostPort::new("127.0.0.1", port), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::Connect(ConnectError::Refused { .. })),
            "{error:?}"
        );
        assert!(error.is_retryable());
    }

    #[tokio::test]
    async fn unresolvable_host_is_a_resolve_error() {
        // A DNS label longer than 63 bytes cannot be encoded in a query, so the resolver fails
        // locally without sending anything: no network is used by this test.
        let host = format!("{}.invalid", "a".repeat(64));
        let error = connect(&HostPort::new(host.clone(), 443), Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::Connect(ConnectError::Resolve { host: ref named, .. }) if *named == host),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn connects_to_a_listener() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stream = connect(&HostPort::new("localhost", port), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap().port(), port);
    }
}
