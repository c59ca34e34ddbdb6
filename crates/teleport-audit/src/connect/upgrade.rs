//! The ALPN connection upgrade, for proxies behind an L7 load balancer that strips ALPN.
//!
//! Detection mirrors Teleport's client: a TLS dial to the proxy offering only
//! `teleport-reversetunnel`; if the server negotiates no protocol (or refuses with
//! `no_application_protocol`), something in front of the proxy terminates TLS and the upgrade
//! is needed. `TELEPORT_TLS_ROUTING_CONN_UPGRADE` overrides the test as in Teleport (`true`,
//! `false`, or `addr=bool` items separated by `,` or `;`).
//!
//! The upgrade itself: outer TLS to the proxy's public certificate (system roots plus an optional
//! extra CA), `GET /webapi/connectionupgrade` as a WebSocket upgrade with sub-protocol
//! `alpn-ping`, then the inner TLS to the Auth Service runs inside binary WebSocket messages.
//! The inner TLS is verified end to end against the identity's host CA whatever the outer TLS is.

use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::address::HostPort;
use super::websocket::WebSocketIo;
use crate::Error;

/// Whether to tunnel through the proxy's WebSocket connection upgrade.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionUpgrade {
    /// Decide per client like Teleport does: `TELEPORT_TLS_ROUTING_CONN_UPGRADE` if set, else a
    /// test dial that checks whether ALPN reaches the proxy.
    #[default]
    Auto,
    /// Always upgrade (the proxy is known to be behind an L7 load balancer).
    Always,
    /// Never upgrade.
    Never,
}

/// The ALPN value Teleport's client uses to probe whether ALPN reaches the proxy.
const PROBE_ALPN: &[u8] = b"teleport-reversetunnel";
/// WebSocket sub-protocol for the upgrade with keep-alive pings.
const UPGRADE_PROTOCOL: &str = "alpn-ping";
/// The upgrade endpoint on the proxy's web listener.
const UPGRADE_PATH: &str = "/webapi/connectionupgrade";

/// TLS settings for the proxy's public (web) certificate, used by the probe and the upgrade.
#[derive(Clone, Debug)]
pub(crate) struct ProxyTls {
    config: Arc<rustls::ClientConfig>,
}

impl ProxyTls {
    /// System roots (Mozilla's bundle if the system has none) plus `extra_ca_pem`; or, only if
    /// `insecure` (from a setter whose name says so), any certificate.
    pub(crate) fn new(extra_ca_pem: Option<&str>, insecure: bool) -> Result<Self, Error> {
        let provider = teleport_identity::crypto_provider()?;
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::ProxyCa {
                reason: format!("no TLS versions available: {e}"),
            })?;
        let config = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(InsecureAcceptAnyProxyCertificate {
                    provider,
                }))
                .with_no_client_auth()
        } else {
            let mut roots = RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            let mut pinned = Vec::new();
            if let Some(pem) = extra_ca_pem {
                for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let cert = cert.map_err(|e| Error::ProxyCa {
                        reason: format!("not PEM: {e}"),
                    })?;
                    roots.add(cert.clone()).map_err(|e| Error::ProxyCa {
                        reason: format!("not a usable CA certificate: {e}"),
                    })?;
                    pinned.push(cert);
                }
                if pinned.is_empty() {
                    return Err(Error::ProxyCa {
                        reason: "no CERTIFICATE block found".to_owned(),
                    });
                }
            }
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::clone(&provider),
            )
            .build()
            .map_err(|e| Error::ProxyCa {
                reason: format!("the trusted roots cannot verify servers: {e}"),
            })?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(TrustedProxyCertificates {
                    webpki,
                    pinned,
                }))
                .with_no_client_auth()
        };
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// TLS to the proxy's public side for plain HTTP/1.1 (its web API).
    pub(crate) async fn connect_http1<IO>(
        &self,
        io: IO,
        proxy: &HostPort,
    ) -> Result<tokio_rustls::client::TlsStream<IO>, Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let name = server_name(proxy)?;
        TlsConnector::from(self.with_alpn(b"http/1.1"))
            .connect(name, io)
            .await
            .map_err(|source| Error::Network {
                addr: proxy.to_string(),
                source,
            })
    }

    fn with_alpn(&self, alpn: &[u8]) -> Arc<rustls::ClientConfig> {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![alpn.to_vec()];
        Arc::new(config)
    }
}

/// The proxy's public certificate is trusted if WebPKI verifies it against the roots (system
/// roots plus the extra CA), or if it is exactly one of the certificates the user gave as extra
/// CA. The latter is for Teleport's default self-made web certificate, which is self-signed *and*
/// marked as a CA, so WebPKI refuses it as a server certificate (`CaUsedAsEndEntity`) even when
/// trusted; giving that exact certificate pins it.
#[derive(Debug)]
struct TrustedProxyCertificates {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for TrustedProxyCertificates {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|pinned| pinned.as_ref() == end_entity.as_ref())
        {
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Accepts any certificate for the proxy's *outer* TLS. Only reachable through
/// `ClientConfig::insecure_skip_proxy_verify`; the inner TLS to the Auth Service is still
/// verified against the identity's host CA.
#[derive(Debug)]
struct InsecureAcceptAnyProxyCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for InsecureAcceptAnyProxyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn server_name(proxy: &HostPort) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(proxy.host().to_owned()).map_err(|_| Error::InvalidAddress {
        input: proxy.to_string(),
        reason: "the host is neither a DNS name nor an IP address",
    })
}

/// `TELEPORT_TLS_ROUTING_CONN_UPGRADE`, read as Teleport reads it, for `addr` ("host:port" as
/// configured). `None` when unset or empty.
pub(crate) fn required_by_env(addr: &str) -> Option<bool> {
    let value = std::env::var("TELEPORT_TLS_ROUTING_CONN_UPGRADE").ok()?;
    required_by_env_value(addr, &value)
}

fn required_by_env_value(addr: &str, value: &str) -> Option<bool> {
    if value.trim().is_empty() {
        return None;
    }
    let mut for_all = false;
    for token in value
        .split([',', ';'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        match token.split_once('=') {
            Some((target, flag)) => {
                if target == addr {
                    return Some(parse_bool(flag).unwrap_or(false));
                }
            }
            None => {
                if let Some(flag) = parse_bool(token) {
                    for_all = flag;
                }
            }
        }
    }
    Some(for_all)
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "yes" | "y" | "on" => Some(true),
        "0" | "f" | "false" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

/// The probe: does ALPN reach the proxy? `io` is a fresh connection to it.
pub(crate) async fn probe_required<IO>(
    io: IO,
    proxy: &HostPort,
    tls: &ProxyTls,
    timeout: Duration,
) -> Result<bool, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let Ok(name) = server_name(proxy) else {
        return Ok(false);
    };
    let handshake = TlsConnector::from(tls.with_alpn(PROBE_ALPN)).connect(name, io);
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(stream)) => {
            let negotiated = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            tracing::debug!(
                proxy = %proxy,
                negotiated = ?negotiated.as_deref().map(String::from_utf8_lossy),
                "ALPN connection upgrade probe"
            );
            Ok(negotiated.is_none())
        }
        Ok(Err(error)) => {
            let tls_error = error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>());
            let required = matches!(
                tls_error,
                Some(rustls::Error::AlertReceived(
                    rustls::AlertDescription::NoApplicationProtocol
                )) | Some(rustls::Error::PeerMisbehaved(
                    rustls::PeerMisbehaved::SelectedUnofferedApplicationProtocol
                ))
            );
            tracing::debug!(proxy = %proxy, %error, required, "ALPN connection upgrade probe failed");
            Ok(required)
        }
        // A proxy that does not answer a TLS handshake in time will not answer the real dial
        // either: report it now rather than spend a second timeout on that dial.
        Err(_) => Err(Error::ConnectTimeout {
            addr: proxy.to_string(),
            step: "TLS handshake with the proxy at",
            after: timeout,
        }),
    }
}

/// Performs the WebSocket upgrade over `io` (a fresh connection to the proxy) and returns the
/// tunnel in which the inner TLS runs.
pub(crate) async fn upgrade<IO>(
    io: IO,
    proxy: &HostPort,
    tls: &ProxyTls,
    timeout: Duration,
) -> Result<WebSocketIo<tokio_rustls::client::TlsStream<IO>>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let failed = |status: Option<u16>, reason: String| Error::Upgrade {
        addr: proxy.to_string(),
        status,
        reason,
    };
    let name = server_name(proxy)?;
    let exchange = async {
        let outer = TlsConnector::from(tls.with_alpn(b"http/1.1"))
            .connect(name, io)
            .await
            .map_err(|e| {
                failed(
                    None,
                    format!("TLS to the proxy's public certificate failed: {e}"),
                )
            })?;
        let mut request = format!("wss://{proxy}{UPGRADE_PATH}")
            .into_client_request()
            .map_err(|e| failed(None, format!("could not build the upgrade request: {e}")))?;
        let headers = request.headers_mut();
        headers.insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(UPGRADE_PROTOCOL),
        );
        // Teleport's own client also names the upgrade type in this header.
        headers.insert(
            "X-Teleport-Upgrade",
            HeaderValue::from_static(UPGRADE_PROTOCOL),
        );
        let (ws, response) = tokio_tungstenite::client_async(request, outer)
            .await
            .map_err(|error| match error {
                tokio_tungstenite::tungstenite::Error::Http(response) => {
                    let status = response.status().as_u16();
                    let reason = if status == 404 {
                        "the proxy has no /webapi/connectionupgrade (Teleport too old for the upgrade)"
                            .to_owned()
                    } else {
                        format!("the proxy answered HTTP {status} instead of switching protocols")
                    };
                    failed(Some(status), reason)
                }
                other => failed(None, format!("WebSocket handshake failed: {other}")),
            })?;
        let protocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok());
        if protocol != Some(UPGRADE_PROTOCOL) {
            return Err(failed(
                Some(response.status().as_u16()),
                format!(
                    "the proxy switched to sub-protocol {protocol:?}, not {UPGRADE_PROTOCOL:?}"
                ),
            ));
        }
        Ok(WebSocketIo::new(ws))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(Error::ConnectTimeout {
                addr: proxy.to_string(),
                step: "connection upgrade with",
                after: timeout,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_override_is_read_like_teleport() {
        let addr = "teleport.example.com:443";
        assert_eq!(required_by_env_value(addr, ""), None);
        assert_eq!(required_by_env_value(addr, "true"), Some(true));
        assert_eq!(required_by_env_value(addr, "0"), Some(false));
        assert_eq!(required_by_env_value(addr, "yes"), Some(true));
        assert_eq!(
            required_by_env_value(addr, "other.example.com:443=yes"),
            Some(false)
        );
        assert_eq!(
            required_by_env_value(addr, "0,teleport.example.com:443=1"),
            Some(true)
        );
        assert_eq!(
            required_by_env_value(addr, "1;teleport.example.com:443=off"),
            Some(false)
        );
        assert_eq!(required_by_env_value(addr, "garbage"), Some(false));
    }

    /// A TLS server on loopback presenting `cert`; returns its address.
    async fn tls_server(cert: rcgen::CertifiedKey<rcgen::KeyPair>) -> std::net::SocketAddr {
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(
            teleport_identity::crypto_provider().unwrap(),
        )
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let _ = acceptor.accept(socket).await;
            }
        });
        addr
    }

    /// Like Teleport's default web certificate: self-signed and marked as a CA.
    fn self_signed_ca_cert() -> rcgen::CertifiedKey<rcgen::KeyPair> {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        rcgen::CertifiedKey {
            cert,
            signing_key: key,
        }
    }

    async fn handshake(tls: &ProxyTls, addr: std::net::SocketAddr) -> Result<(), std::io::Error> {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        TlsConnector::from(tls.with_alpn(b"http/1.1"))
            .connect(name, tcp)
            .await
            .map(drop)
    }

    #[tokio::test]
    async fn a_self_signed_ca_web_certificate_is_trusted_when_given_exactly() {
        let cert = self_signed_ca_cert();
        let pem = cert.cert.pem();
        let addr = tls_server(cert).await;
        // Without it: refused (unknown issuer).
        let plain = ProxyTls::new(None, false).unwrap();
        assert!(handshake(&plain, addr).await.is_err());
        // Given as the extra CA: accepted, although WebPKI alone refuses a CA as end entity.
        let pinned = ProxyTls::new(Some(&pem), false).unwrap();
        handshake(&pinned, addr).await.unwrap();
        // Another self-signed certificate is still refused.
        let other = ProxyTls::new(Some(&self_signed_ca_cert().cert.pem()), false).unwrap();
        assert!(handshake(&other, addr).await.is_err());
    }

    #[test]
    fn extra_ca_must_be_pem_certificates() {
        let error = ProxyTls::new(Some("not pem at all"), false).unwrap_err();
        assert!(matches!(error, Error::ProxyCa { .. }), "{error:?}");
        assert!(
            error.to_string().contains("no CERTIFICATE block"),
            "{error}"
        );
    }
}
