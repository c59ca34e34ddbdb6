//! Mutual TLS on the simulated Auth Service: which client certificates it accepts, and how it
//! refuses the others (as Teleport does: handshake alerts for bad certificates, a closed
//! connection after the handshake for intermediates, usage restrictions and unknown roles).

mod support;

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::rpc::{ASCENDING, ping};
use teleport_audit_proto::auditlog::v1::GetUnstructuredEventsRequest;
use teleport_audit_proto::authservice::PingRequest;
use teleport_audit_sim::ca::{IdentitySpec, Signer, Usage};
use teleport_audit_sim::{Backend, OldClients, SimCluster};
use teleport_audit_tests::plain_client::{
    auth_tls, direct, identity, tls_connect, via_proxy, via_proxy_with,
};
use teleport_identity::{AUTH_SERVER_NAME, AuthRoute};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

async fn sim() -> SimCluster {
    SimCluster::builder()
        .backend(Backend::Immediate)
        .start()
        .await
        .unwrap()
}

/// What happens to a TLS connection with `config`: the handshake fails, the server closes
/// right after it, or it answers the HTTP/2 preface.
async fn outcome(addr: std::net::SocketAddr, config: ClientConfig) -> String {
    match tls_connect(addr, config, AUTH_SERVER_NAME).await {
        Err(e) => format!("handshake failed: {e}"),
        Ok(mut tls) => {
            let _ = tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
            let _ = tls.flush().await;
            let mut buf = [0u8; 9];
            match tls.read(&mut buf).await {
                Ok(0) => "closed".into(),
                Ok(_) => "answered".into(),
                Err(e) => format!("read failed: {e}"),
            }
        }
    }
}

/// A client config presenting `chain` (with the identity's key) and trusting the host CA.
fn config_with_chain(
    sim: &SimCluster,
    identity_text: &str,
    chain: Vec<CertificateDer<'static>>,
) -> ClientConfig {
    let key = PrivateKeyDer::from_pem_slice(identity_text.as_bytes()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(sim.ca().host_ca_certificate()).unwrap();
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    config
}

#[tokio::test]
async fn a_cluster_identity_is_accepted_directly_and_through_the_proxy() {
    let sim = sim().await;
    let id = identity(&sim, &IdentitySpec::default());
    assert_eq!(
        outcome(sim.auth_addr(), auth_tls(&id, AuthRoute::Direct)).await,
        "answered"
    );
    ping(&mut direct(&sim, &id).await.unwrap()).await;
    ping(&mut via_proxy(&sim, &id).await.unwrap()).await;
    let stats = sim.rpc_stats();
    assert!(stats.auth_connections >= 3, "{stats:?}");
    assert_eq!(stats.auth_connections_refused, 0);
    assert!(stats.proxy.auth >= 1);
}

#[tokio::test]
async fn a_certificate_from_another_ca_fails_the_handshake() {
    let sim = sim().await;
    let id = identity(&sim, &IdentitySpec::default().signer(Signer::ForeignCa));
    let result = outcome(sim.auth_addr(), auth_tls(&id, AuthRoute::Direct)).await;
    assert!(
        result.contains("UnknownCA") || result.contains("BadCertificate"),
        "{result}"
    );
    let result = outcome(sim.proxy_addr(), auth_tls(&id, AuthRoute::ThroughProxy)).await;
    assert!(
        result.contains("UnknownCA") || result.contains("BadCertificate"),
        "{result}"
    );
    assert!(sim.rpc_stats().auth_connections_refused >= 2);
}

#[tokio::test]
async fn an_expired_certificate_fails_the_handshake() {
    let sim = sim().await;
    let id = identity(&sim, &IdentitySpec::default().expired());
    let result = outcome(sim.auth_addr(), auth_tls(&id, AuthRoute::Direct)).await;
    // As with a real Auth Service over TLS 1.3: the client's handshake completes, and its
    // first read meets the `certificate_expired` alert.
    assert!(result.starts_with("read failed"), "{result}");
    assert!(result.contains("CertificateExpired"), "{result}");
}

#[tokio::test]
async fn a_chain_with_intermediates_is_closed_after_the_handshake() {
    let sim = sim().await;
    let text = sim.issue_identity(&IdentitySpec::default()).unwrap();
    let leaf = CertificateDer::pem_slice_iter(text.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    // The leaf alone works with this hand-made config...
    let alone = config_with_chain(&sim, &text, vec![leaf.clone()]);
    assert_eq!(outcome(sim.auth_addr(), alone).await, "answered");
    // ...but any extra certificate in the chain is refused, as Teleport refuses intermediaries.
    let chained = config_with_chain(&sim, &text, vec![leaf, sim.ca().user_ca_certificate()]);
    assert_eq!(outcome(sim.auth_addr(), chained).await, "closed");
    assert_eq!(sim.rpc_stats().auth_connections_refused, 1);
}

#[tokio::test]
async fn a_usage_restricted_certificate_is_closed_after_the_handshake() {
    let sim = sim().await;
    for usage in [Usage::Apps, Usage::Database, Usage::Kube] {
        let id = identity(&sim, &IdentitySpec::default().usage(usage));
        assert_eq!(
            outcome(sim.auth_addr(), auth_tls(&id, AuthRoute::Direct)).await,
            "closed",
            "{usage:?}"
        );
    }
    let id = identity(&sim, &IdentitySpec::default().usage(Usage::Apps));
    let err = match direct(&sim, &id).await {
        Err(e) => e.to_string(),
        Ok(mut c) => c.auth.ping(PingRequest {}).await.unwrap_err().to_string(),
    };
    assert!(!err.is_empty());
}

#[tokio::test]
async fn an_unknown_role_is_closed_after_the_handshake() {
    let sim = sim().await;
    let id = identity(&sim, &IdentitySpec::default().roles(["no-such-role"]));
    assert_eq!(
        outcome(sim.auth_addr(), auth_tls(&id, AuthRoute::Direct)).await,
        "closed"
    );
}

#[tokio::test]
async fn no_client_certificate_connects_as_nobody_and_is_denied() {
    let sim = sim().await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(sim.ca().host_ca_certificate()).unwrap();
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let mut c = via_proxy_with(sim.auth_addr(), config).await.unwrap();
    let err = c.auth.ping(PingRequest {}).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = c
        .audit
        .get_unstructured_events(GetUnstructuredEventsRequest {
            order: ASCENDING,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn an_old_client_version_header_is_refused_and_disconnected() {
    let sim = sim().await;
    let id = identity(&sim, &IdentitySpec::default());
    let mut c = direct(&sim, &id).await.unwrap();
    let mut req = tonic::Request::new(PingRequest {});
    req.metadata_mut()
        .insert("version", "16.4.0".parse().unwrap());
    // Teleport closes the connection before its "client version is unsupported" can arrive.
    let err = c.auth.ping(req).await.unwrap_err();
    assert!(
        matches!(
            err.code(),
            Code::Unavailable | Code::Unknown | Code::Internal
        ),
        "{err:?}"
    );
    let mut req = tonic::Request::new(PingRequest {});
    req.metadata_mut()
        .insert("version", "not-a-version".parse().unwrap());
    assert!(c.auth.ping(req).await.is_err());
    // A current version, or none, is fine (the channel reconnects after the cut).
    let mut ok = direct(&sim, &id).await.unwrap();
    let mut req = tonic::Request::new(PingRequest {});
    req.metadata_mut()
        .insert("version", "17.5.2".parse().unwrap());
    ok.auth.ping(req).await.unwrap();
    ping(&mut ok).await;
}

/// A Ping announcing `version`, on a fresh connection to `sim`: Ok, or the error's code.
async fn ping_as(sim: &SimCluster, version: &str) -> Result<(), Code> {
    let id = identity(sim, &IdentitySpec::default());
    let mut c = direct(sim, &id).await.unwrap();
    let mut req = tonic::Request::new(PingRequest {});
    req.metadata_mut()
        .insert("version", version.parse().unwrap());
    c.auth.ping(req).await.map(drop).map_err(|e| e.code())
}

#[tokio::test]
async fn old_clients_are_served_by_versions_without_the_check_and_when_allowed() {
    // 13.3.8 and 14.2.3 have no client version check: the Go api client of 13.3.8 is served.
    for server in ["13.3.8", "14.2.3"] {
        let sim = SimCluster::builder()
            .backend(Backend::Immediate)
            .server_version(server)
            .start()
            .await
            .unwrap();
        assert_eq!(ping_as(&sim, "13.3.8").await, Ok(()), "{server}");
        assert_eq!(ping_as(&sim, "12.4.0").await, Ok(()), "{server}");
        assert_eq!(ping_as(&sim, "not-a-version").await, Ok(()), "{server}");
    }
    // 16.0 on disconnects it, unless told not to (TELEPORT_UNSTABLE_ALLOW_OLD_CLIENTS=yes).
    let strict = SimCluster::builder()
        .backend(Backend::Immediate)
        .server_version("16.0.0")
        .start()
        .await
        .unwrap();
    assert!(ping_as(&strict, "14.2.3").await.is_err());
    assert_eq!(ping_as(&strict, "15.0.0").await, Ok(()));
    let allowing = SimCluster::builder()
        .backend(Backend::Immediate)
        .old_clients(OldClients::Allow)
        .start()
        .await
        .unwrap();
    assert_eq!(ping_as(&allowing, "13.3.8").await, Ok(()));
    // An older version told to check (TELEPORT_UNSTABLE_REJECT_OLD_CLIENTS=yes) does.
    let opted_in = SimCluster::builder()
        .backend(Backend::Immediate)
        .server_version("14.3.0")
        .old_clients(OldClients::Reject)
        .start()
        .await
        .unwrap();
    assert!(ping_as(&opted_in, "12.4.0").await.is_err());
    assert_eq!(ping_as(&opted_in, "13.3.8").await, Ok(()));
}

#[tokio::test]
async fn a_version_header_with_two_values_is_not_checked() {
    // Teleport reads the client version only from exactly one value.
    let sim = sim().await;
    let id = identity(&sim, &IdentitySpec::default());
    let mut c = direct(&sim, &id).await.unwrap();
    let mut req = tonic::Request::new(PingRequest {});
    req.metadata_mut()
        .append("version", "13.3.8".parse().unwrap());
    req.metadata_mut()
        .append("version", "1.0.0".parse().unwrap());
    c.auth.ping(req).await.unwrap();
    assert!(
        ping_as(&sim, "v18.2.0").await.is_err(),
        "a leading v does not parse"
    );
}

#[tokio::test]
async fn the_connection_closes_when_the_client_certificate_expires() {
    let sim = sim().await;
    let not_after = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let id = identity(&sim, &IdentitySpec::default().not_after(not_after));
    let mut tls = tls_connect(
        sim.auth_addr(),
        auth_tls(&id, AuthRoute::Direct),
        AUTH_SERVER_NAME,
    )
    .await
    .unwrap();
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "closed at expiry");
    // Certificates hold whole seconds: the close comes at the truncated NotAfter, not before.
    let now = time::OffsetDateTime::now_utc();
    assert!(
        now >= not_after - time::Duration::seconds(1),
        "closed at {now}, expiry {not_after}"
    );
}

/// Reads HTTP/2 frames until a GOAWAY; returns its error code and debug data.
async fn read_goaway<S: tokio::io::AsyncRead + Unpin>(tls: &mut S) -> Option<(u32, Vec<u8>)> {
    loop {
        let mut head = [0u8; 9];
        tls.read_exact(&mut head).await.ok()?;
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0u8; len];
        tls.read_exact(&mut payload).await.ok()?;
        if head[3] == 0x7 {
            let code = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
            return Some((code, payload[8..].to_vec()));
        }
    }
}

#[tokio::test]
async fn pinging_more_often_than_every_minute_earns_goaway_too_many_pings() {
    let sim = sim().await;
    let id = identity(&sim, &IdentitySpec::default());
    let mut tls = tls_connect(
        sim.auth_addr(),
        auth_tls(&id, AuthRoute::Direct),
        AUTH_SERVER_NAME,
    )
    .await
    .unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]); // empty SETTINGS
    for i in 0..3u8 {
        out.extend_from_slice(&[0, 0, 8, 0x6, 0, 0, 0, 0, 0]); // PING
        out.extend_from_slice(&[i; 8]);
    }
    tls.write_all(&out).await.unwrap();
    let (code, debug) = tokio::time::timeout(Duration::from_secs(5), read_goaway(&mut tls))
        .await
        .unwrap()
        .expect("a GOAWAY frame");
    assert_eq!(code, 0xb, "ENHANCE_YOUR_CALM");
    assert_eq!(debug, b"too_many_pings");
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut rest))
        .await
        .unwrap();
}
