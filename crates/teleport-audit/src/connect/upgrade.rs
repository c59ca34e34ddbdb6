//! The ALPN connection upgrade, for proxies behind an L7 load balancer that strips ALPN.
//!
//! Detection mirrors Teleport's client (`api/client/alpn_conn_upgrade.go`,
//! `IsALPNConnUpgradeRequired`): a TLS dial to the proxy offering only
//! `teleport-reversetunnel`; if the server negotiates no protocol (or refuses with
//! `no_application_protocol`), something in front of the proxy terminates TLS and the upgrade
//! is needed. `TELEPORT_TLS_ROUTING_CONN_UPGRADE` overrides the test as in Teleport (`true`,
//! `false`, or `addr=bool` items separated by `,` or `;`). Unlike Teleport's client, the probe
//! then closes with `close_notify` and waits for the proxy's end, so that the proxy's SSH
//! server does not log a failed handshake for it ([`close_probe`]).
//!
//! The upgrade itself: outer TLS to the proxy's public certificate (system roots plus an optional
//! extra CA), then one `GET /webapi/connectionupgrade` offering both the WebSocket upgrade
//! (sub-protocol `alpn-ping`, Teleport 15 and later) and the legacy type `alpn-ping` (Teleport 13
//! and 14, which answer a WebSocket-only request with 404), as Teleport's client does from 15 to
//! 17; the proxy chooses and the answer says which ([`switched_to`]). The inner TLS to the Auth
//! Service then runs inside binary WebSocket messages, or inside length-prefixed `pingconn`
//! packets ([`super::ping_conn`]), or (legacy `alpn`) straight on the stream. The inner TLS is
//! verified end to end against the identity's host CA whatever the outer TLS is. The facts, with
//! references into Teleport's source, are in `docs/real-teleport-findings.md`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rustls::RootCertStore;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::BoxedIo;
use super::address::HostPort;
use super::ping_conn::PingConn;
use super::prefixed::Prefixed;
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
/// The upgrade type with keep-alive pings (`constants.WebAPIConnUpgradeTypeALPNPing`): the
/// WebSocket sub-protocol, and the legacy type, that Teleport's client asks for to reach the
/// Auth Service.
const UPGRADE_PROTOCOL: &str = "alpn-ping";
/// The legacy upgrade type without pings (`constants.WebAPIConnUpgradeTypeALPN`).
const LEGACY_ALPN: &str = "alpn";
/// The standard upgrade type (`constants.WebAPIConnUpgradeTypeWebSocket`).
const WEBSOCKET: &str = "websocket";
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

/// How long the probe waits for the proxy to close its side.
const PROBE_CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Ends the probe's connection the way the proxy's reverse tunnel server takes without
/// complaint. A proxy that negotiated `teleport-reversetunnel` hands the connection to its SSH
/// server, which writes its version line and reads the client's; dropping the connection
/// makes that write fail (`broken pipe`, or a reset) and Teleport logs `Error occurred in
/// handshake for new SSH conn` for every probe. So: send TLS `close_notify` (the server's read
/// then ends cleanly with EOF, which it ignores, as it does for load balancer health checks),
/// and read until the server closes, so that nothing it writes meanwhile meets a closed
/// socket. Best effort, bounded by `wait`.
async fn close_probe<S>(mut stream: S, wait: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let polite = async {
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        // The server's version line, then its end (a well-behaved server sends little).
        let mut read = 0usize;
        loop {
            let n = stream.read(&mut sink).await?;
            if n == 0 || read > 64 * 1024 {
                return Ok::<_, std::io::Error>(());
            }
            read += n;
        }
    };
    match tokio::time::timeout(wait, polite).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::debug!(%error, "closing the upgrade probe's connection"),
        Err(_) => tracing::debug!("the proxy kept the upgrade probe's connection open"),
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
            close_probe(stream, timeout.min(PROBE_CLOSE_WAIT)).await;
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

/// What the proxy switched the connection to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Switched {
    /// WebSocket with sub-protocol `alpn-ping` (Teleport 15 and later).
    WebSocket,
    /// The legacy `alpn-ping`: the raw stream framed as Teleport's `pingconn` (13 and 14).
    AlpnPing,
    /// The legacy `alpn`: the raw stream.
    Alpn,
}

/// The upgrade request, as Teleport's client (15 to 17) writes it: the WebSocket upgrade with
/// sub-protocol `alpn-ping`, plus the legacy type `alpn-ping` in a second `Upgrade` line and in
/// `X-Teleport-Upgrade` (kept if a load balancer drops `Upgrade`). The proxy picks: 15 and
/// later prefer WebSocket, 13 and 14 take the first legacy type they know, from
/// `X-Teleport-Upgrade` first.
fn upgrade_request(proxy: &HostPort, websocket_key: &str) -> String {
    format!(
        "GET {UPGRADE_PATH} HTTP/1.1\r\n\
         Host: {proxy}\r\n\
         User-Agent: teleport-audit/{version}\r\n\
         Upgrade: {WEBSOCKET}\r\n\
         Upgrade: {UPGRADE_PROTOCOL}\r\n\
         X-Teleport-Upgrade: {UPGRADE_PROTOCOL}\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Protocol: {UPGRADE_PROTOCOL}\r\n\
         Sec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: {websocket_key}\r\n\
         \r\n",
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// Decides from the proxy's answer what the connection became, as Teleport's client does: a
/// `101` whose `Upgrade` is `websocket` is a WebSocket (its accept key and sub-protocol
/// checked); any other `101` is the legacy type the proxy names (`alpn-ping` or `alpn`), or
/// the one asked for if it names none. `Err` carries the status (if any) and the reason.
pub(crate) fn switched_to(
    status: u16,
    headers: &[(&str, &[u8])],
    websocket_key: &str,
) -> Result<Switched, (Option<u16>, String)> {
    if status != 101 {
        let reason = if status == 404 {
            "the proxy has no /webapi/connectionupgrade for the offered types websocket and \
             alpn-ping (Teleport older than 13?)"
                .to_owned()
        } else {
            format!("the proxy answered HTTP {status} instead of switching protocols")
        };
        return Err((Some(status), reason));
    }
    let values = |name: &str| -> Vec<String> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    };
    let upgrade = values("upgrade");
    if upgrade.iter().any(|t| t == WEBSOCKET) {
        let accept = values("sec-websocket-accept");
        let expected = derive_accept_key(websocket_key.as_bytes()).to_ascii_lowercase();
        if accept.first() != Some(&expected) {
            return Err((
                Some(status),
                "the proxy's WebSocket accept key does not match the request".to_owned(),
            ));
        }
        let protocol = values("sec-websocket-protocol");
        if protocol.first().map(String::as_str) != Some(UPGRADE_PROTOCOL) {
            return Err((
                Some(status),
                format!(
                    "the proxy switched to WebSocket sub-protocol {:?}, not {UPGRADE_PROTOCOL:?}",
                    protocol.first()
                ),
            ));
        }
        return Ok(Switched::WebSocket);
    }
    let named: Vec<String> = upgrade
        .into_iter()
        .chain(values("x-teleport-upgrade"))
        .collect();
    match named.first().map(String::as_str) {
        // Teleport's client takes any non-WebSocket 101 as the type it asked for.
        None | Some(UPGRADE_PROTOCOL) => Ok(Switched::AlpnPing),
        Some(LEGACY_ALPN) => Ok(Switched::Alpn),
        Some(other) => Err((
            Some(status),
            format!("the proxy switched to the unknown upgrade type {other:?}"),
        )),
    }
}

/// The most the answer to the upgrade request may take before its end (`\r\n\r\n`).
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// Reads an HTTP/1.1 response head from `io`; returns it and the bytes read past it.
async fn read_response_head<IO>(io: &mut IO) -> Result<(Vec<u8>, Bytes), String>
where
    IO: AsyncRead + Unpin,
{
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = io
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the proxy's answer failed: {e}"))?;
        if n == 0 {
            return Err("the proxy closed the connection without answering the upgrade".to_owned());
        }
        let searched_from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..n]);
        if let Some(at) = head[searched_from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
        {
            let end = searched_from + at + 4;
            let rest = Bytes::copy_from_slice(&head[end..]);
            head.truncate(end);
            return Ok((head, rest));
        }
        if head.len() > MAX_RESPONSE_HEAD {
            return Err(format!(
                "the proxy's answer has no end of headers in its first {MAX_RESPONSE_HEAD} bytes"
            ));
        }
    }
}

/// Performs the connection upgrade over `io` (a fresh connection to the proxy) and returns the
/// tunnel in which the inner TLS runs: WebSocket, or the legacy `alpn-ping` / `alpn`, whichever
/// the proxy chose (see [`upgrade_request`]).
pub(crate) async fn upgrade<IO>(
    io: IO,
    proxy: &HostPort,
    tls: &ProxyTls,
    timeout: Duration,
) -> Result<BoxedIo, Error>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let failed = |status: Option<u16>, reason: String| Error::Upgrade {
        addr: proxy.to_string(),
        status,
        reason,
    };
    let name = server_name(proxy)?;
    let exchange = async {
        let mut outer = TlsConnector::from(tls.with_alpn(b"http/1.1"))
            .connect(name, io)
            .await
            .map_err(|e| {
                failed(
                    None,
                    format!("TLS to the proxy's public certificate failed: {e}"),
                )
            })?;
        let key = generate_key();
        outer
            .write_all(upgrade_request(proxy, &key).as_bytes())
            .await
            .map_err(|e| failed(None, format!("sending the upgrade request failed: {e}")))?;
        outer
            .flush()
            .await
            .map_err(|e| failed(None, format!("sending the upgrade request failed: {e}")))?;
        let (head, rest) = read_response_head(&mut outer)
            .await
            .map_err(|reason| failed(None, reason))?;
        let mut parsed_headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut parsed_headers);
        match response.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => {
                return Err(failed(None, "the proxy's answer is cut short".to_owned()));
            }
            Err(e) => {
                return Err(failed(None, format!("the proxy's answer is not HTTP: {e}")));
            }
        }
        let status = response.code.unwrap_or(0);
        let headers: Vec<(&str, &[u8])> =
            response.headers.iter().map(|h| (h.name, h.value)).collect();
        let switched = switched_to(status, &headers, &key)
            .map_err(|(status, reason)| failed(status, reason))?;
        tracing::debug!(proxy = %proxy, ?switched, "connection upgrade");
        let stream = Prefixed::new(rest, outer);
        let tunnel: BoxedIo = match switched {
            Switched::WebSocket => Box::new(WebSocketIo::new(
                WebSocketStream::from_raw_socket(stream, Role::Client, None).await,
            )),
            Switched::AlpnPing => Box::new(PingConn::new(stream)),
            Switched::Alpn => Box::new(stream),
        };
        Ok(tunnel)
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

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    /// RFC 6455's example: the accept key of `KEY`.
    const ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    #[test]
    fn the_request_offers_websocket_and_the_legacy_alpn_ping_like_teleport() {
        let proxy = HostPort::parse("teleport.example.com:443", 443).unwrap();
        let request = upgrade_request(&proxy, KEY);
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut parsed = httparse::Request::new(&mut headers);
        assert!(parsed.parse(request.as_bytes()).unwrap().is_complete());
        assert_eq!(parsed.method, Some("GET"));
        assert_eq!(parsed.path, Some("/webapi/connectionupgrade"));
        let values = |name: &str| -> Vec<&str> {
            parsed
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| std::str::from_utf8(h.value).unwrap())
                .collect()
        };
        assert_eq!(values("Host"), ["teleport.example.com:443"]);
        // Two Upgrade lines, WebSocket first (Go's Header.Add), as Teleport 15-17's client.
        assert_eq!(values("Upgrade"), ["websocket", "alpn-ping"]);
        assert_eq!(values("X-Teleport-Upgrade"), ["alpn-ping"]);
        assert_eq!(values("Connection"), ["Upgrade"]);
        assert_eq!(values("Sec-WebSocket-Protocol"), ["alpn-ping"]);
        assert_eq!(values("Sec-WebSocket-Version"), ["13"]);
        assert_eq!(values("Sec-WebSocket-Key"), [KEY]);
    }

    #[test]
    fn the_answer_decides_the_tunnel() {
        let ws = |protocol: &'static [u8], accept: &'static [u8]| {
            vec![
                ("Upgrade", &b"websocket"[..]),
                ("Connection", b"Upgrade"),
                ("Sec-WebSocket-Accept", accept),
                ("Sec-WebSocket-Protocol", protocol),
            ]
        };
        // Teleport 15 and later: WebSocket.
        assert_eq!(
            switched_to(101, &ws(b"alpn-ping", ACCEPT), KEY),
            Ok(Switched::WebSocket)
        );
        // Teleport 13 and 14 (lib/web/conn_upgrade.go writeUpgradeResponse).
        let legacy = |kind: &'static [u8]| {
            vec![
                ("Upgrade", kind),
                ("X-Teleport-Upgrade", kind),
                ("Connection", &b"Upgrade"[..]),
            ]
        };
        assert_eq!(
            switched_to(101, &legacy(b"alpn-ping"), KEY),
            Ok(Switched::AlpnPing)
        );
        assert_eq!(switched_to(101, &legacy(b"alpn"), KEY), Ok(Switched::Alpn));
        // Header names and values in any case; a load balancer that dropped Upgrade leaves
        // X-Teleport-Upgrade; nothing named: the type asked for.
        assert_eq!(
            switched_to(101, &[("x-teleport-upgrade", &b"ALPN"[..])], KEY),
            Ok(Switched::Alpn)
        );
        assert_eq!(switched_to(101, &[], KEY), Ok(Switched::AlpnPing));
        // Refusals.
        let (status, reason) = switched_to(101, &legacy(b"h2c"), KEY).unwrap_err();
        assert_eq!(status, Some(101));
        assert!(reason.contains("\"h2c\""), "{reason}");
        let (status, reason) = switched_to(404, &[], KEY).unwrap_err();
        assert_eq!(status, Some(404));
        assert!(reason.contains("/webapi/connectionupgrade"), "{reason}");
        let (status, reason) = switched_to(502, &[], KEY).unwrap_err();
        assert_eq!(status, Some(502));
        assert!(reason.contains("HTTP 502"), "{reason}");
        let (_, reason) = switched_to(101, &ws(b"alpn-ping", b"wrong"), KEY).unwrap_err();
        assert!(reason.contains("accept key"), "{reason}");
        let (_, reason) = switched_to(101, &ws(b"alpn", ACCEPT), KEY).unwrap_err();
        assert!(reason.contains("sub-protocol"), "{reason}");
    }

    #[tokio::test]
    async fn the_response_head_ends_at_its_blank_line_and_keeps_what_follows() {
        let (mut far, mut near) = tokio::io::duplex(64 * 1024);
        far.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: alpn\r\n\r\n")
            .await
            .unwrap();
        far.write_all(b"\x16\x03\x03 tls").await.unwrap();
        let (head, rest) = read_response_head(&mut near).await.unwrap();
        assert!(head.ends_with(b"alpn\r\n\r\n"));
        assert_eq!(&rest[..], b"\x16\x03\x03 tls");
        // No end of headers: refused after the bound, or at the end of the stream.
        far.write_all(&vec![b'x'; MAX_RESPONSE_HEAD + 2048])
            .await
            .unwrap();
        let error = read_response_head(&mut near).await.unwrap_err();
        assert!(error.contains("no end of headers"), "{error}");
        drop(far);
        let error = read_response_head(&mut near).await.unwrap_err();
        assert!(error.contains("closed"), "{error}");
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
