//! The Auth Service's TLS configuration: its `*.teleport.cluster.local` certificate (host CA),
//! client certificates verified against the user CA when given, HTTP/2 only.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::server::{ServerConfig, WebPkiClientVerifier};

use crate::SimError;
use crate::ca::ClusterCa;

pub(crate) fn server_config(ca: &ClusterCa) -> Result<Arc<ServerConfig>, SimError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = |source| SimError::Tls {
        what: "Auth Service",
        source,
    };
    let mut roots = RootCertStore::empty();
    roots.add(ca.user_ca_certificate()).map_err(tls)?;
    // Teleport's Auth Service uses VerifyClientCertIfGiven: a client without a certificate
    // connects as the `Nop` identity, which may do nothing.
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| SimError::Tls {
            what: "Auth Service",
            source: rustls::Error::General(e.to_string()),
        })?;
    let (chain, key) = ca.auth_server_tls().map_err(|source| SimError::Ca {
        action: "issue the Auth Service certificate",
        source,
    })?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(tls)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(tls)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}
