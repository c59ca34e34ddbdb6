//! A rustls provider the application installs for the process is the one identities and the
//! client use, whatever teleport-identity's features (its own test binary: installing is
//! process-wide and once only).

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use teleport_audit_sim::ca::{ClusterCa, IdentitySpec};
use teleport_identity::{AuthRoute, Identity};

/// A provider no feature gives: ring with only the P-256 key exchange.
fn p256_only() -> CryptoProvider {
    let ring = rustls::crypto::ring::default_provider();
    CryptoProvider {
        kx_groups: vec![rustls::crypto::ring::kx_group::SECP256R1],
        ..ring
    }
}

fn groups(provider: &CryptoProvider) -> Vec<rustls::NamedGroup> {
    provider.kx_groups.iter().map(|g| g.name()).collect()
}

#[test]
fn an_installed_provider_is_used() {
    let before = teleport_identity::crypto_provider().unwrap();
    assert!(before.kx_groups.len() > 1, "{:?}", groups(&before));

    p256_only().install_default().unwrap();
    let after = teleport_identity::crypto_provider().unwrap();
    assert_eq!(groups(&after), vec![rustls::NamedGroup::secp256r1]);
    assert!(Arc::ptr_eq(
        &after,
        CryptoProvider::get_default().expect("installed")
    ));

    // An identity parsed now builds its TLS configuration with it.
    let ca = ClusterCa::new("sim.example.com").unwrap();
    let text = ca.issue_identity(&IdentitySpec::default()).unwrap();
    let identity = Identity::from_identity_str(&text).unwrap();
    let config = identity.tls_client_config(AuthRoute::ThroughProxy).unwrap();
    assert_eq!(
        groups(config.crypto_provider()),
        vec![rustls::NamedGroup::secp256r1]
    );
}
