//! The client's connection paths and failure modes, against the simulated cluster on loopback.
//!
//! Every path (direct, TLS routing, WebSocket upgrade, HTTP CONNECT) must reach the Auth
//! Service and ping it; every failure mode must come back as its own error variant.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use teleport_audit::{
    AuthError, Client, ClientConfig, ConnectError, ConnectionUpgrade, Error, HttpProxy,
};
use teleport_audit_sim::ca::{FileHostCa, IdentitySpec, Signer};
use teleport_audit_sim::{Backend, SimCluster};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use support::{auditor, connect, connect_error, empty_cluster, proxy_config};

#[tokio::test]
async fn tls_routing_through_the_proxy_reaches_the_auth_service() {
    let sim = empty_cluster().await;
    let client = connect(&sim).await;
    assert_eq!(client.cluster_name(), sim.cluster_name());
    let info = client.ping().await.unwrap();
    assert_eq!(info.cluster_name, sim.cluster_name());
    assert!(!info.server_version.is_empty());
}

#[tokio::test]
async fn direct_auth_address_works_without_the_routing_alpn() {
    let sim = empty_cluster().await;
    let config = ClientConfig::from_identity_str("unused:443", &auditor(&sim))
        .unwrap()
        .auth_addr(sim.auth_addr().to_string());
    let client = Client::connect(config).await.unwrap();
    assert_eq!(
        client.ping().await.unwrap().cluster_name,
        sim.cluster_name()
    );
}

#[tokio::test]
async fn behind_an_l7_load_balancer_the_upgrade_is_detected_and_used() {
    let sim = empty_cluster().await;
    sim.set_load_balancer_mode(true);
    // Auto mode probes, finds no ALPN, and upgrades.
    let client = Client::connect(proxy_config(&sim, &auditor(&sim)))
        .await
        .unwrap();
    assert_eq!(
        client.ping().await.unwrap().cluster_name,
        sim.cluster_name()
    );

    // Without the upgrade, the load balancer answers with the web certificate.
    let error = Client::connect(
        proxy_config(&sim, &auditor(&sim)).connection_upgrade(ConnectionUpgrade::Never),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, Error::Connect(ConnectError::AlpnNotRouted { .. })),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_forced_upgrade_works_when_alpn_would_too() {
    let sim = empty_cluster().await;
    let client = Client::connect(
        proxy_config(&sim, &auditor(&sim)).connection_upgrade(ConnectionUpgrade::Always),
    )
    .await
    .unwrap();
    assert_eq!(
        client.ping().await.unwrap().cluster_name,
        sim.cluster_name()
    );
}

#[tokio::test]
async fn the_upgrade_refuses_an_untrusted_proxy_certificate() {
    let sim = empty_cluster().await;
    // No extra CA: the sim's self-made web certificate is not in the system roots.
    let config = ClientConfig::from_identity_str(&sim.proxy_addr().to_string(), &auditor(&sim))
        .unwrap()
        .http_proxy(HttpProxy::Disabled)
        .connection_upgrade(ConnectionUpgrade::Always);
    let error = Client::connect(config).await.unwrap_err();
    assert!(
        matches!(error, Error::Connect(ConnectError::Upgrade { .. })),
        "{error:?}"
    );
    assert!(error.to_string().contains("public certificate"), "{error}");

    // The insecure escape hatch (named as such) accepts it; the inner TLS is still verified.
    let config = ClientConfig::from_identity_str(&sim.proxy_addr().to_string(), &auditor(&sim))
        .unwrap()
        .http_proxy(HttpProxy::Disabled)
        .connection_upgrade(ConnectionUpgrade::Always)
        .insecure_skip_proxy_verify();
    Client::connect(config).await.unwrap();
}

/// A minimal HTTP CONNECT proxy on loopback that counts the tunnels it opened.
async fn connect_proxy() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let tunnels = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&tunnels);
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                assert!(head.starts_with("CONNECT "), "{head}");
                let Ok(mut upstream) = TcpStream::connect(&target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr, tunnels)
}

#[tokio::test]
async fn an_http_connect_proxy_carries_the_connection() {
    let sim = empty_cluster().await;
    let (proxy, tunnels) = connect_proxy().await;
    let client = Client::connect(
        proxy_config(&sim, &auditor(&sim)).http_proxy(HttpProxy::Url(format!("http://{proxy}"))),
    )
    .await
    .unwrap();
    assert_eq!(
        client.ping().await.unwrap().cluster_name,
        sim.cluster_name()
    );
    assert!(tunnels.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn an_expired_identity_is_refused_before_dialing() {
    let sim = empty_cluster().await;
    let error = connect_error(&sim, &IdentitySpec::default().roles(["auditor"]).expired()).await;
    assert_eq!(error.code(), "identity_expired", "{error:?}");
    assert!(error.is_auth());
    assert!(!error.is_retryable());
    assert_eq!(
        sim.rpc_stats().total_calls(),
        0,
        "nothing reached the server"
    );
}

#[tokio::test]
async fn a_not_yet_valid_identity_is_dialed_and_the_server_decides() {
    // This machine's clock may be behind the server's: a fresh identity then looks not yet
    // valid here. The client dials anyway; here the server's clock agrees and refuses it.
    let sim = empty_cluster().await;
    let spec = IdentitySpec::default().roles(["auditor"]).not_yet_valid();
    let error = connect_error(&sim, &spec).await;
    assert_eq!(error.code(), "certificate_rejected", "{error:?}");
    assert!(error.is_auth());
}

#[tokio::test]
async fn a_certificate_from_another_user_ca_is_rejected_by_the_auth_service() {
    let sim = empty_cluster().await;
    let spec = IdentitySpec::default()
        .roles(["auditor"])
        .signer(Signer::ForeignCa);
    let error = connect_error(&sim, &spec).await;
    assert!(
        matches!(error, Error::Auth(AuthError::CertificateRejected { .. })),
        "{error:?}"
    );
    assert!(error.is_auth());
}

#[tokio::test]
async fn a_foreign_host_ca_in_the_file_does_not_trust_the_auth_service() {
    let sim = empty_cluster().await;
    let spec = IdentitySpec::default()
        .roles(["auditor"])
        .file_host_ca(FileHostCa::Foreign);
    let error = connect_error(&sim, &spec).await;
    match &error {
        Error::Auth(AuthError::UntrustedServer { presented, .. }) => {
            assert!(presented.contains("teleport.cluster.local"), "{presented}");
        }
        other => panic!("expected UntrustedServer, got {other:?}"),
    }
}

#[tokio::test]
async fn an_identity_of_an_unknown_cluster_is_closed_by_the_proxy() {
    let sim = empty_cluster().await;
    let other = SimCluster::builder()
        .cluster_name("other.teleport.test")
        .backend(Backend::Immediate)
        .start()
        .await
        .unwrap();
    let error = Client::connect(proxy_config(&sim, &auditor(&other)))
        .await
        .unwrap_err();
    match &error {
        Error::Connect(ConnectError::UnknownCluster { cluster, .. }) => {
            assert_eq!(cluster, "other.teleport.test")
        }
        other => panic!("expected UnknownCluster, got {other:?}"),
    }
}

#[tokio::test]
async fn refused_unresolvable_and_silent_addresses_have_their_own_errors() {
    let sim = empty_cluster().await;
    let identity = auditor(&sim);

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let error = Client::connect(proxy_config(&sim, &identity).proxy_addr(closed_addr))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Connect(ConnectError::Refused { .. })),
        "{error:?}"
    );

    // A 64-byte DNS label cannot be sent in a query: the resolver fails without any network.
    let bad_host = format!("{}.invalid:443", "a".repeat(64));
    let error = Client::connect(proxy_config(&sim, &identity).proxy_addr(bad_host))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Connect(ConnectError::Resolve { .. })),
        "{error:?}"
    );

    // Accepts TCP, never speaks TLS.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let _keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let error = Client::connect(
        proxy_config(&sim, &identity)
            .proxy_addr(silent_addr.clone())
            .connection_upgrade(ConnectionUpgrade::Never)
            .connect_timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, Error::Connect(ConnectError::Timeout { .. })),
        "{error:?}"
    );
    assert!(error.is_retryable());

    // The same silent server with the upgrade detection on (the default): the detection's own
    // handshake times out, and that is the error: the dial gives up after the timeout it names,
    // not after a second timeout spent on the real dial.
    let began = std::time::Instant::now();
    let error = Client::connect(
        proxy_config(&sim, &identity)
            .proxy_addr(silent_addr)
            .connection_upgrade(ConnectionUpgrade::Auto)
            .connect_timeout(Duration::from_millis(500)),
    )
    .await
    .unwrap_err();
    let waited = began.elapsed();
    assert!(
        matches!(error, Error::Connect(ConnectError::Timeout { after, .. }) if after == Duration::from_millis(500)),
        "{error:?}"
    );
    assert!(
        waited < Duration::from_millis(950),
        "the message says 500ms, but the dial waited {waited:?}"
    );
}

#[tokio::test]
async fn a_server_without_http2_is_reported() {
    let sim = empty_cluster().await;
    // A TLS server with the real Auth certificate that negotiates no ALPN at all.
    let (chain, key) = sim.ca().auth_server_tls().unwrap();
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    server.alpn_protocols.clear();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(socket).await {
                    let _ = tls.read(&mut [0u8; 16]).await;
                }
            });
        }
    });
    let config = ClientConfig::from_identity_str("unused:443", &auditor(&sim))
        .unwrap()
        .auth_addr(addr);
    let error = Client::connect(config).await.unwrap_err();
    match &error {
        Error::Connect(ConnectError::NoHttp2 { negotiated, .. }) => assert_eq!(negotiated, "none"),
        other => panic!("expected NoHttp2, got {other:?}"),
    }
}

#[tokio::test]
async fn a_cluster_name_mismatch_is_reported() {
    let sim = empty_cluster().await;
    let other = SimCluster::builder()
        .cluster_name("other.teleport.test")
        .backend(Backend::Immediate)
        .start()
        .await
        .unwrap();
    // TLS material that works for `sim`, but an identity that claims the other cluster.
    let good = teleport_audit::Identity::from_identity_str(&auditor(&sim)).unwrap();
    let tls = good
        .tls_client_config(teleport_audit::identity::AuthRoute::Direct)
        .unwrap();
    let config = ClientConfig::from_identity_str("unused:443", &auditor(&other))
        .unwrap()
        .auth_addr(sim.auth_addr().to_string())
        .tls_config(tls);
    let error = Client::connect(config).await.unwrap_err();
    match &error {
        Error::Auth(AuthError::ClusterMismatch { identity, server }) => {
            assert_eq!(identity, "other.teleport.test");
            assert_eq!(server, sim.cluster_name());
        }
        other => panic!("expected ClusterMismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn the_client_reconnects_after_the_server_restarts() {
    let sim = empty_cluster().await;
    let client = connect(&sim).await;
    client.ping().await.unwrap();
    sim.restart().await.unwrap();
    // The first call after the restart may fail (retryable); a later one succeeds on a new dial.
    let mut last = None;
    for _ in 0..20 {
        match client.ping().await {
            Ok(info) => {
                assert_eq!(info.cluster_name, sim.cluster_name());
                return;
            }
            Err(error) => {
                assert!(error.is_retryable(), "{error:?}");
                last = Some(error);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    panic!("no reconnection: {last:?}");
}

#[tokio::test]
async fn the_upgrade_trusts_a_self_signed_proxy_certificate_given_as_the_extra_ca() {
    // A proxy without its own certificate serves a self-signed CA:TRUE web certificate, which
    // WebPKI refuses as a server certificate even when trusted; given exactly, it is pinned.
    let sim = SimCluster::builder()
        .backend(Backend::Immediate)
        .self_signed_web_cert(true)
        .start()
        .await
        .unwrap();
    sim.set_load_balancer_mode(true);
    let client = Client::connect(proxy_config(&sim, &auditor(&sim)))
        .await
        .unwrap();
    assert_eq!(
        client.ping().await.unwrap().cluster_name,
        sim.cluster_name()
    );
    assert!(sim.rpc_stats().proxy.upgrades >= 1);
}

#[tokio::test]
async fn disconnect_ends_the_connection_cleanly_on_every_path_and_a_later_call_dials_again() {
    // TLS routing, the legacy upgrade of Teleport 13 and 14, and the WebSocket upgrade.
    for (upgrade, websocket) in [
        (ConnectionUpgrade::Never, true),
        (ConnectionUpgrade::Always, false),
        (ConnectionUpgrade::Always, true),
    ] {
        let sim = SimCluster::builder()
            .websocket_upgrade(websocket)
            .start()
            .await
            .unwrap();
        let client =
            Client::connect(proxy_config(&sim, &auditor(&sim)).connection_upgrade(upgrade))
                .await
                .unwrap();
        client.ping().await.unwrap();
        let path = format!("{upgrade:?}, websocket {websocket}");
        assert!(
            client.disconnect().await,
            "{path}: the server did not close"
        );
        let stats = sim.rpc_stats();
        assert_eq!(stats.auth_connections, 1, "{path}: {stats:?}");
        // The Auth Service saw the client's close_notify and the end of the stream: no error.
        assert_eq!(
            stats.auth_connections_closed_cleanly, 1,
            "{path}: {stats:?}"
        );
        assert_eq!(
            stats.auth_connections_closed_abruptly, 0,
            "{path}: {stats:?}"
        );
        assert!(client.disconnect().await, "{path}: nothing left to close");

        // The client is still usable: the next call dials a new connection.
        let info = client.ping().await.unwrap();
        assert_eq!(info.cluster_name, sim.cluster_name(), "{path}");
        assert_eq!(sim.rpc_stats().auth_connections, 2, "{path}");
    }
}
