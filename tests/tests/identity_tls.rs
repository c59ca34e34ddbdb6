//! Real mutual-TLS handshakes on loopback: a rustls server set up as the Auth Service
//! (host-CA-signed `teleport.cluster.local` certificate, client certificates verified against the
//! user CA) and a client using `Identity::tls_client_config`.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, RootCertStore, ServerConfig};
use teleport_audit_sim::ca::{ClusterCa, FileHostCa, IdentitySpec, KeyType, Signer};
use teleport_identity::{
    AUTH_SERVER_NAME, AuthRoute, Identity, auth_alpn_protocol, parse_teleport_certificate,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{LazyConfigAcceptor, TlsConnector};

/// What the server saw.
#[derive(Debug)]
struct ServerView {
    offered_alpn: Vec<Vec<u8>>,
    outcome: Result<(Vec<CertificateDer<'static>>, Option<Vec<u8>>), std::io::Error>,
}

fn server_config(ca: &ClusterCa) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(ca.user_ca_certificate()).unwrap();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .unwrap();
    let (chain, key) = ca.auth_server_tls().unwrap();
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// Accepts one connection, completes the handshake, echoes one byte.
async fn serve_once(listener: TcpListener, config: Arc<ServerConfig>) -> ServerView {
    let (tcp, _) = listener.accept().await.unwrap();
    let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp)
        .await
        .unwrap();
    let offered_alpn = start
        .client_hello()
        .alpn()
        .map(|protocols| protocols.map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    let outcome = async {
        let mut tls = start.into_stream(config).await?;
        let (_, connection) = tls.get_ref();
        let peer = connection.peer_certificates().unwrap_or_default().to_vec();
        let alpn = connection.alpn_protocol().map(<[u8]>::to_vec);
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await?;
        tls.write_all(&byte).await?;
        tls.flush().await?;
        Ok((peer, alpn))
    }
    .await;
    ServerView {
        offered_alpn,
        outcome,
    }
}

/// Connects with the identity's client config, sends a byte and reads the echo.
async fn connect(
    identity: &Identity,
    route: AuthRoute,
    ca: &ClusterCa,
) -> (Result<Option<Vec<u8>>, std::io::Error>, ServerView) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(serve_once(listener, server_config(ca)));
    let connector = TlsConnector::from(Arc::new(identity.tls_client_config(route).unwrap()));
    let client = async {
        let tcp = TcpStream::connect(address).await?;
        let mut tls = connector
            .connect(ServerName::try_from(AUTH_SERVER_NAME).unwrap(), tcp)
            .await?;
        let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        tls.write_all(b"x").await?;
        tls.flush().await?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await?;
        Ok(alpn)
    }
    .await;
    let view = tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
    (client, view)
}

fn rustls_error(err: &std::io::Error) -> Option<&rustls::Error> {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

#[tokio::test]
async fn handshake_presents_the_leaf_only_and_negotiates_h2() {
    let ca = ClusterCa::new("sim.example.com").unwrap();
    for key_type in [
        KeyType::EcdsaP256,
        KeyType::Ed25519,
        KeyType::Rsa2048,
        KeyType::EcdsaP384,
    ] {
        let spec = IdentitySpec::default()
            .username("alice")
            .roles(["audit-reader"])
            .key_type(key_type);
        let identity = Identity::from_identity_str(&ca.issue_identity(&spec).unwrap()).unwrap();
        let (client, server) = connect(&identity, AuthRoute::Direct, &ca).await;
        assert_eq!(client.unwrap().as_deref(), Some(&b"h2"[..]), "{key_type:?}");
        assert_eq!(server.offered_alpn, [b"h2".to_vec()]);
        let (peer, alpn) = server.outcome.unwrap();
        assert_eq!(
            peer,
            [identity.certificate().clone()],
            "{key_type:?}: the leaf and nothing else"
        );
        assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
        let info = parse_teleport_certificate(&peer[0]).unwrap();
        assert_eq!(
            (info.username.as_str(), info.roles.as_slice()),
            ("alice", &["audit-reader".to_string()][..])
        );
    }
}

#[tokio::test]
async fn through_proxy_offers_the_auth_route_first() {
    let ca = ClusterCa::new("sim.example.com").unwrap();
    let identity =
        Identity::from_identity_str(&ca.issue_identity(&IdentitySpec::default()).unwrap()).unwrap();
    let (client, server) = connect(&identity, AuthRoute::ThroughProxy, &ca).await;
    assert_eq!(client.unwrap().as_deref(), Some(&b"h2"[..]));
    assert_eq!(
        server.offered_alpn,
        [
            auth_alpn_protocol("sim.example.com").into_bytes(),
            b"h2".to_vec()
        ]
    );
    server.outcome.unwrap();
}

#[tokio::test]
async fn server_rejects_a_certificate_from_another_ca() {
    let ca = ClusterCa::new("sim.example.com").unwrap();
    let text = ca
        .issue_identity(&IdentitySpec::default().signer(Signer::ForeignCa))
        .unwrap();
    let identity = Identity::from_identity_str(&text).unwrap();
    let (client, server) = connect(&identity, AuthRoute::Direct, &ca).await;
    assert!(client.is_err(), "the client learns of the rejection");
    let err = server.outcome.unwrap_err();
    assert!(
        matches!(
            rustls_error(&err),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn client_rejects_a_server_its_file_does_not_trust() {
    let ca = ClusterCa::new("sim.example.com").unwrap();
    let text = ca
        .issue_identity(&IdentitySpec::default().file_host_ca(FileHostCa::Foreign))
        .unwrap();
    let identity = Identity::from_identity_str(&text).unwrap();
    assert_ne!(identity.tls_ca_certificates(), [ca.host_ca_certificate()]);
    let (client, server) = connect(&identity, AuthRoute::Direct, &ca).await;
    let err = client.unwrap_err();
    assert!(
        matches!(
            rustls_error(&err),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ),
        "{err:?}"
    );
    assert!(server.outcome.is_err());
}
