//! The outer TLS to the proxy's public (web) certificate: system roots (Mozilla's bundle if the
//! system has none) plus an optional extra CA, pinned when given exactly; or, only through a
//! setter whose name says so, any certificate. Used by the upgrade check, the connection upgrade
//! and the proxy's clock; the inner TLS to the Auth Service ([`super::auth_tls`]) is verified
//! against the identity's host CA whatever this one is.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

use super::address::HostPort;
use crate::error::{ConnectError, Error, SettingError};

/// TLS settings for the proxy's public (web) certificate.
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
            .map_err(|e| {
                Error::Setting(SettingError::ProxyCa {
                    reason: "no TLS versions available".to_owned(),
                    source: Some(Arc::new(e)),
                })
            })?;
        // Insecure: any certificate; the roots then serve only to check signatures, and the
        // extra CA is not read (as before this setter's name said so).
        let (roots, pinned) = if insecure {
            (mozilla_roots(), Vec::new())
        } else {
            trusted_roots(extra_ca_pem)?
        };
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&provider),
        )
        .build()
        .map_err(|e| {
            Error::Setting(SettingError::ProxyCa {
                reason: "the trusted roots cannot verify servers".to_owned(),
                source: Some(Arc::new(e)),
            })
        })?;
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ProxyCertificates {
                webpki,
                pinned,
                accept_any: insecure,
            }))
            .with_no_client_auth();
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// A TLS connector offering only `alpn`.
    pub(crate) fn connector(&self, alpn: &[u8]) -> TlsConnector {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![alpn.to_vec()];
        TlsConnector::from(Arc::new(config))
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
        self.connector(b"http/1.1")
            .connect(server_name(proxy)?, io)
            .await
            .map_err(|source| {
                Error::Connect(ConnectError::Network {
                    addr: proxy.to_string(),
                    source: Arc::new(source),
                })
            })
    }
}

/// Mozilla's root bundle.
fn mozilla_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    roots
}

/// The system's roots (Mozilla's bundle if it has none) plus the certificates of
/// `extra_ca_pem`, which are also returned to be pinned.
fn trusted_roots(
    extra_ca_pem: Option<&str>,
) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), Error> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        roots = mozilla_roots();
    }
    let mut pinned = Vec::new();
    if let Some(pem) = extra_ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| {
                Error::Setting(SettingError::ProxyCa {
                    reason: "not PEM".to_owned(),
                    source: Some(Arc::new(e)),
                })
            })?;
            roots.add(cert.clone()).map_err(|e| {
                Error::Setting(SettingError::ProxyCa {
                    reason: "not a usable CA certificate".to_owned(),
                    source: Some(Arc::new(e)),
                })
            })?;
            pinned.push(cert);
        }
        if pinned.is_empty() {
            return Err(Error::Setting(SettingError::ProxyCa {
                reason: "no CERTIFICATE block found".to_owned(),
                source: None,
            }));
        }
    }
    Ok((roots, pinned))
}

/// The proxy's public certificate is trusted if WebPKI verifies it against the roots (system
/// roots plus the extra CA), or if it is exactly one of the certificates the user gave as extra
/// CA. The latter is for Teleport's default self-made web certificate, which is self-signed *and*
/// marked as a CA, so WebPKI refuses it as a server certificate (`CaUsedAsEndEntity`) even when
/// trusted; giving that exact certificate pins it.
///
/// `accept_any` (only through `ClientConfig::insecure_skip_proxy_verify`) accepts any
/// certificate for this *outer* TLS; the inner TLS to the Auth Service is still verified against
/// the identity's host CA. Handshake signatures are checked in every case.
#[derive(Debug)]
struct ProxyCertificates {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
    accept_any: bool,
}

impl ServerCertVerifier for ProxyCertificates {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.accept_any
            || self
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

/// The proxy's host as a TLS server name.
pub(crate) fn server_name(proxy: &HostPort) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(proxy.host().to_owned()).map_err(|_| {
        Error::Setting(SettingError::InvalidAddress {
            input: proxy.to_string(),
            reason: "the host is neither a DNS name nor an IP address",
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        tls.connector(b"http/1.1")
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
        // Only the insecure setting takes any certificate.
        let insecure = ProxyTls::new(None, true).unwrap();
        handshake(&insecure, addr).await.unwrap();
    }

    #[test]
    fn extra_ca_must_be_pem_certificates() {
        let error = ProxyTls::new(Some("not pem at all"), false).unwrap_err();
        assert!(
            matches!(error, Error::Setting(SettingError::ProxyCa { .. })),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("no CERTIFICATE block"),
            "{error}"
        );
        // A damaged block: our words in the message, the PEM reader's error as its source only.
        let damaged = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let error = ProxyTls::new(Some(damaged), false).unwrap_err();
        let Error::Setting(SettingError::ProxyCa { reason, source }) = &error else {
            panic!("{error:?}");
        };
        assert_eq!(reason, "not PEM");
        let source = source.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(!source.is_empty());
        assert!(!error.to_string().contains(&source), "{error}");
        assert!(std::error::Error::source(&error).is_some());
    }
}
