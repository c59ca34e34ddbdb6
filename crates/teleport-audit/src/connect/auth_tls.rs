//! Hop: the inner TLS to the Auth Service, with the identity and ALPN, through the proxy's TLS
//! routing or direct.
//!
//! The client offers `teleport-auth@<hex(cluster)>.teleport.cluster.local` then `h2`, with server
//! name `teleport.cluster.local`, trusting only the identity's host CAs. The proxy routes on the
//! first ALPN value without opening the TLS; the Auth Service terminates it and must pick `h2`.
//! Every way this goes wrong becomes its own [`Error`] variant.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rustls::AlertDescription;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::ServerName;
use teleport_identity::{AUTH_SERVER_NAME, AuthRoute, Identity};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::prefixed::Prefixed;
use super::verifier::{PresentedCertificate, RecordingVerifier};
use crate::error::{AuthError, ConnectError, Error, SettingError};

/// The TLS settings for the Auth Service, built once per client and specialised per dial.
#[derive(Clone)]
pub(crate) struct AuthTls {
    base: Arc<rustls::ClientConfig>,
    /// Set when we built `base` from an identity: the verifier to wrap for error reporting.
    verifier: Option<Arc<dyn ServerCertVerifier>>,
    /// The cluster named in the routing request, for error messages.
    cluster: Option<String>,
}

impl std::fmt::Debug for AuthTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthTls")
            .field("cluster", &self.cluster)
            .field("alpn", &self.alpn_protocols())
            .finish_non_exhaustive()
    }
}

impl AuthTls {
    /// Builds the TLS settings from a parsed identity.
    pub(crate) fn from_identity(identity: &Identity, route: AuthRoute) -> Result<Self, Error> {
        let base = identity.tls_client_config(route)?;
        // The same roots `base` verifies with, wrapped again only to learn what was refused.
        let verifier = WebPkiServerVerifier::builder_with_provider(
            Arc::clone(identity.tls_root_store()),
            Arc::clone(base.crypto_provider()),
        )
        .build()
        .map_err(|e| {
            Error::Setting(SettingError::config_caused_by(
                "identity",
                "the identity's CA certificates cannot verify servers",
                e,
            ))
        })?;
        Ok(Self {
            base: Arc::new(base),
            verifier: Some(verifier),
            cluster: Some(identity.cluster_name().to_owned()),
        })
    }

    /// Uses a ready rustls configuration as it is (the escape hatch). Its ALPN list and roots
    /// are the caller's responsibility.
    pub(crate) fn from_config(config: Arc<rustls::ClientConfig>) -> Self {
        Self {
            base: config,
            verifier: None,
            cluster: None,
        }
    }

    fn alpn_protocols(&self) -> Vec<String> {
        self.base
            .alpn_protocols
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    }

    /// Performs the handshake over `io` (a TCP stream, an HTTP CONNECT tunnel or a WebSocket
    /// upgrade) and checks that `h2` was negotiated.
    pub(crate) async fn handshake<IO>(
        &self,
        io: IO,
        addr: &str,
        through_proxy: bool,
        timeout: Duration,
    ) -> Result<Prefixed<TlsStream<IO>>, Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let refused = Arc::new(Mutex::new(None));
        let config = match &self.verifier {
            Some(verifier) => {
                let mut config = (*self.base).clone();
                config
                    .dangerous()
                    .set_certificate_verifier(Arc::new(RecordingVerifier::new(
                        Arc::clone(verifier),
                        Arc::clone(&refused),
                    )));
                Arc::new(config)
            }
            None => Arc::clone(&self.base),
        };
        let server_name = ServerName::try_from(AUTH_SERVER_NAME).map_err(|_| {
            Error::Setting(SettingError::config(
                "server_name",
                "teleport.cluster.local is not a valid server name",
            ))
        })?;
        let handshake = TlsConnector::from(config).connect(server_name, io);
        let stream = match tokio::time::timeout(timeout, handshake).await {
            Err(_) => {
                return Err(Error::Connect(ConnectError::Timeout {
                    addr: addr.to_owned(),
                    step: "TLS handshake with the Auth Service through",
                    after: timeout,
                }));
            }
            Ok(Err(error)) => {
                let refused = refused.lock().ok().and_then(|mut slot| slot.take());
                return Err(self.classify(error, addr, through_proxy, refused));
            }
            Ok(Ok(stream)) => stream,
        };
        match stream.get_ref().1.alpn_protocol() {
            Some(b"h2") => {}
            other => {
                return Err(Error::Connect(ConnectError::NoHttp2 {
                    addr: addr.to_owned(),
                    negotiated: other.map_or_else(
                        || "none".to_owned(),
                        |p| String::from_utf8_lossy(p).into_owned(),
                    ),
                }));
            }
        }
        first_flight(stream, addr, timeout.min(FIRST_FLIGHT_WAIT)).await
    }

    fn classify(
        &self,
        error: io::Error,
        addr: &str,
        through_proxy: bool,
        refused: Option<PresentedCertificate>,
    ) -> Error {
        let addr = addr.to_owned();
        let tls_error = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .cloned();
        match tls_error {
            Some(source @ rustls::Error::InvalidCertificate(_)) => match refused {
                Some(presented) if through_proxy && !presented.is_teleport_auth() => {
                    Error::Connect(ConnectError::AlpnNotRouted {
                        addr,
                        presented: presented.to_string(),
                    })
                }
                Some(presented) => Error::Auth(AuthError::UntrustedServer {
                    addr,
                    presented: presented.to_string(),
                    source,
                }),
                None => Error::Auth(AuthError::UntrustedServer {
                    addr,
                    presented: "unknown".to_owned(),
                    source,
                }),
            },
            Some(rustls::Error::AlertReceived(alert)) => {
                alert_error(addr.clone(), &format!("{alert:?}")).unwrap_or(Error::Connect(
                    ConnectError::Tls {
                        addr,
                        source: rustls::Error::AlertReceived(alert),
                    },
                ))
            }
            Some(source) => Error::Connect(ConnectError::Tls { addr, source }),
            None if is_closed(&error) && through_proxy => {
                Error::Connect(ConnectError::UnknownCluster {
                    addr,
                    cluster: self.cluster.clone().unwrap_or_default(),
                })
            }
            None => Error::Connect(ConnectError::Network {
                addr,
                source: Arc::new(error),
            }),
        }
    }
}

/// How long to wait for the server's first bytes after the handshake.
const FIRST_FLIGHT_WAIT: Duration = Duration::from_secs(3);

/// Reads the server's first bytes after the handshake and puts them back in front of the stream.
///
/// With TLS 1.3 the client's side of the handshake completes before the server has checked the
/// client certificate, so a refusal (a TLS alert, or the connection closed, which is what
/// Teleport does for a certificate it accepts in TLS but not as an identity) only shows on the
/// first read. Left to HTTP/2, it surfaces as whatever the first failing operation was, a broken
/// pipe or a cancelled call. The Auth Service speaks first (its HTTP/2 SETTINGS), so waiting
/// for its first bytes here makes a refusal a clear [`AuthError::CertificateRejected`]. A server
/// that waits for the client instead only costs the wait once per connection.
async fn first_flight<S>(mut stream: S, addr: &str, wait: Duration) -> Result<Prefixed<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut first = vec![0u8; 4096];
    match tokio::time::timeout(wait, stream.read(&mut first)).await {
        Err(_) => Ok(Prefixed::new(Bytes::new(), stream)),
        Ok(Ok(0)) => Err(Error::Auth(AuthError::CertificateRejected {
            addr: addr.to_owned(),
            alert: "none; the connection was closed right after the handshake".to_owned(),
        })),
        Ok(Ok(n)) => {
            first.truncate(n);
            Ok(Prefixed::new(Bytes::from(first), stream))
        }
        Ok(Err(error)) => {
            let alert = error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .and_then(|tls| match tls {
                    rustls::Error::AlertReceived(alert) => Some(format!("{alert:?}")),
                    _ => None,
                });
            Err(alert
                .and_then(|alert| alert_error(addr.to_owned(), &alert))
                .unwrap_or(Error::Connect(ConnectError::Network {
                    addr: addr.to_owned(),
                    source: Arc::new(error),
                })))
        }
    }
}

/// The alerts an Auth Service sends when it refuses the client certificate, by rustls' name
/// for them (`AlertDescription`'s `Debug`; after the handshake only that text survives).
pub(crate) fn alert_error(addr: String, alert: &str) -> Option<Error> {
    let rejected = [
        AlertDescription::BadCertificate,
        AlertDescription::CertificateExpired,
        AlertDescription::CertificateRevoked,
        AlertDescription::CertificateUnknown,
        AlertDescription::UnsupportedCertificate,
        AlertDescription::UnknownCA,
        AlertDescription::AccessDenied,
        AlertDescription::CertificateRequired,
    ];
    if rejected.iter().any(|known| format!("{known:?}") == alert) {
        return Some(Error::Auth(AuthError::CertificateRejected {
            addr,
            alert: alert.to_owned(),
        }));
    }
    if format!("{:?}", AlertDescription::NoApplicationProtocol) == alert {
        return Some(Error::Connect(ConnectError::NoHttp2 {
            addr,
            negotiated: "none (the server refused every offered protocol)".to_owned(),
        }));
    }
    None
}

fn is_closed(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}
