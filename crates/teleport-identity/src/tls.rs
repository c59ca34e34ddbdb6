//! The rustls client configuration for the Auth Service.

use std::sync::Arc;

use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, SignatureScheme};

use crate::{Identity, IdentityError, auth_alpn_protocol};

/// How the TLS connection reaches the Auth Service; decides the ALPN list.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthRoute {
    /// Through the proxy's TLS routing (port 443): ALPN
    /// `["teleport-auth@<hex cluster>.teleport.cluster.local", "h2"]`; the proxy routes on the
    /// first value.
    ThroughProxy,
    /// Straight to the Auth Service (e.g. `auth:3025`): ALPN `["h2"]`.
    Direct,
}

/// Presents the leaf certificate alone: the Auth Service refuses intermediates.
#[derive(Debug)]
struct LeafOnly(Arc<CertifiedKey>);

impl ResolvesClientCert for LeafOnly {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl Identity {
    /// A rustls client configuration for the Auth Service: the crypto provider of
    /// [`crate::crypto_provider`] (as chosen when the identity was parsed), TLS 1.3 and 1.2,
    /// trusting only the file's TLS CAs (no system roots), presenting only the leaf certificate,
    /// with the ALPN list of `route`. Connect with server name [`crate::AUTH_SERVER_NAME`].
    ///
    /// Validity is not checked here; call [`Identity::check_validity`] first to turn an expired
    /// identity into a clear error instead of a TLS alert.
    ///
    /// # Errors
    /// [`IdentityError::NoTrustedCa`] when the file carries no TLS CA;
    /// [`IdentityError::TlsConfig`] when rustls refuses the key.
    pub fn tls_client_config(&self, route: AuthRoute) -> Result<ClientConfig, IdentityError> {
        if self.tls_ca_certificates().is_empty() {
            return Err(IdentityError::NoTrustedCa);
        }
        let tls = |source| IdentityError::TlsConfig { source };
        // Built from the borrowed key: no unzeroized copy of the key bytes is handed to rustls.
        let signing_key = self.key().signing_key(self.provider()).map_err(tls)?;
        let certified = CertifiedKey::new(vec![self.certificate().clone()], signing_key);
        let mut config =
            ClientConfig::builder_with_provider(Arc::clone(self.provider().provider()))
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .map_err(tls)?
                .with_root_certificates(Arc::clone(self.tls_root_store()))
                .with_client_cert_resolver(Arc::new(LeafOnly(Arc::new(certified))));
        config.alpn_protocols = match route {
            AuthRoute::ThroughProxy => {
                vec![
                    auth_alpn_protocol(self.cluster_name()).into_bytes(),
                    b"h2".to_vec(),
                ]
            }
            AuthRoute::Direct => vec![b"h2".to_vec()],
        };
        Ok(config)
    }
}
