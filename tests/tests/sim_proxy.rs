//! The simulated proxy: ALPN routing, the web API, connection upgrades and load-balancer mode.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use support::rpc::{ASCENDING, ping};
use teleport_audit_proto::auditlog::v1::GetUnstructuredEventsRequest;
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{Backend, SimCluster};
use teleport_audit_tests::plain_client::{
    auth_tls, https_get, https_request, identity, over_stream, raw_upgrade, tls_connect, via_proxy,
    via_upgrade, web_tls,
};
use teleport_identity::{AUTH_SERVER_NAME, AuthRoute};
use tokio::io::{AsyncRead, AsyncReadExt};

async fn sim() -> SimCluster {
    SimCluster::builder()
        .backend(Backend::Immediate)
        .backlog(
            50,
            time::macros::datetime!(2024-01-01 0:00 UTC),
            time::macros::datetime!(2024-01-02 0:00 UTC),
        )
        .ws_ping_interval(Duration::from_millis(100))
        .start()
        .await
        .unwrap()
}

fn search_all() -> GetUnstructuredEventsRequest {
    GetUnstructuredEventsRequest {
        start_date: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        end_date: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        limit: 100,
        order: ASCENDING,
        ..Default::default()
    }
}

#[tokio::test]
async fn auth_alpn_is_forwarded_unopened_to_the_auth_service() {
    let sim = sim().await;
    let id = identity(&sim, &IdentitySpec::default());
    let tls = tls_connect(
        sim.proxy_addr(),
        auth_tls(&id, AuthRoute::ThroughProxy),
        AUTH_SERVER_NAME,
    )
    .await
    .unwrap();
    // The certificate is the Auth Service's (host CA, verified by the identity's roots) and h2
    // was negotiated by the Auth Service itself.
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    drop(tls);
    let mut c = via_proxy(&sim, &id).await.unwrap();
    assert_eq!(
        c.audit
            .get_unstructured_events(search_all())
            .await
            .unwrap()
            .into_inner()
            .items
            .len(),
        50
    );
    assert!(sim.rpc_stats().proxy.auth >= 2);
}

#[tokio::test]
async fn an_unknown_cluster_is_closed_during_the_handshake() {
    let sim = sim().await;
    let id = identity(&sim, &IdentitySpec::default());
    let mut config = auth_tls(&id, AuthRoute::ThroughProxy);
    config.alpn_protocols[0] = format!(
        "teleport-auth@{}.teleport.cluster.local",
        hex_of("other.cluster")
    )
    .into_bytes();
    let err = tls_connect(sim.proxy_addr(), config, AUTH_SERVER_NAME)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ),
        "{err:?}"
    );
    assert_eq!(sim.rpc_stats().proxy.rejected, 1);
    // Protocols the proxy does not serve are closed too.
    let err = tls_connect(
        sim.proxy_addr(),
        web_tls(&sim, &["teleport-postgres-ping"]),
        "localhost",
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err:?}");
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn other_alpn_is_terminated_with_the_web_certificate() {
    let sim = sim().await;
    for (alpn, negotiated) in [
        (&["h2", "http/1.1"][..], Some(&b"h2"[..])),
        (&["http/1.1"][..], Some(&b"http/1.1"[..])),
        (
            &["teleport-reversetunnel"][..],
            Some(&b"teleport-reversetunnel"[..]),
        ),
        (&[][..], None),
    ] {
        let tls = tls_connect(sim.proxy_addr(), web_tls(&sim, alpn), "localhost")
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), negotiated, "{alpn:?}");
    }
    // A client expecting the Auth Service's certificate does not get it.
    let id = identity(&sim, &IdentitySpec::default());
    let mut config = auth_tls(&id, AuthRoute::Direct);
    config.alpn_protocols = vec![b"h2".to_vec()];
    let err = tls_connect(sim.proxy_addr(), config, AUTH_SERVER_NAME)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("UnknownIssuer") || err.to_string().contains("NotValidForName"),
        "{err}"
    );
    let stats = sim.rpc_stats();
    assert_eq!(stats.proxy.reverse_tunnel, 1);
    assert!(stats.proxy.web >= 3);
}

#[tokio::test]
async fn webapi_find_and_ping_answer_like_teleport() {
    let sim = sim().await;
    let (status, body) = https_get(&sim, "/webapi/find").await.unwrap();
    assert_eq!(status, 200);
    let find: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(find["proxy"]["tls_routing_enabled"], true);
    assert_eq!(find["server_version"], "18.2.0");
    assert_eq!(find["min_client_version"], "17.0.0-aa");
    assert_eq!(find["cluster_name"], sim.cluster_name());
    assert_eq!(find["auth"]["type"], "");
    let (status, body) = https_get(&sim, "/webapi/ping").await.unwrap();
    assert_eq!(status, 200);
    let ping: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ping["auth"]["type"], "local");
    assert_eq!(
        ping["proxy"]["ssh"]["public_addr"],
        format!("localhost:{}", sim.proxy_addr().port())
    );
    let (status, body) = https_get(&sim, "/webapi/nothing-here").await.unwrap();
    assert_eq!(status, 404);
    assert!(body.contains("not found"));
}

#[tokio::test]
async fn websocket_upgrade_with_alpn_carries_grpc() {
    let sim = sim().await;
    let id = identity(&sim, &IdentitySpec::default());
    let (mut c, stats) = via_upgrade(&sim, &id, "alpn").await.unwrap();
    ping(&mut c).await;
    assert_eq!(
        c.audit
            .get_unstructured_events(search_all())
            .await
            .unwrap()
            .into_inner()
            .items
            .len(),
        50
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        stats.pings.load(Ordering::SeqCst),
        0,
        "no pings on plain alpn"
    );
    let s = sim.rpc_stats();
    assert_eq!(s.proxy.upgrades, 1);
    assert!(
        s.proxy.auth >= 1,
        "the inner connection was routed to the Auth Service"
    );
}

#[tokio::test]
async fn websocket_upgrade_with_alpn_ping_sends_teleport_pings() {
    let sim = sim().await;
    let id = identity(&sim, &IdentitySpec::default());
    let (mut c, stats) = via_upgrade(&sim, &id, "alpn-ping").await.unwrap();
    wait_for_pings(&stats, 3).await;
    assert_eq!(stats.payload_mismatch.load(Ordering::SeqCst), 0);
    ping(&mut c).await;
}

#[tokio::test]
async fn answered_pings_keep_the_upgrade_open_when_pongs_are_enforced() {
    let sim = SimCluster::builder()
        .backend(Backend::Immediate)
        .ws_ping_interval(Duration::from_millis(100))
        .ws_pong_timeout(Some(Duration::from_secs(1)))
        .start()
        .await
        .unwrap();
    let id = identity(&sim, &IdentitySpec::default());
    let (mut c, stats) = via_upgrade(&sim, &id, "alpn-ping").await.unwrap();
    // Well past the pong timeout: answered pings keep it open.
    wait_for_pings(&stats, 15).await;
    ping(&mut c).await;
}

/// Waits (up to 10 s) until the tunnel has seen `n` pings, all with payload `teleport`.
async fn wait_for_pings(stats: &teleport_audit_tests::plain_client::TunnelStats, n: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while stats.pings.load(Ordering::SeqCst) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} pings",
            stats.pings.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats.payload_mismatch.load(Ordering::SeqCst), 0);
}

const UPGRADE: &str = "GET /webapi/connectionupgrade HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: alpn-ping\r\n\r\n";

/// Reads server WebSocket frames without ever answering; returns (pings seen, closed).
async fn read_frames_silently<S: AsyncRead + Unpin>(
    stream: &mut S,
    within: Duration,
) -> (usize, bool) {
    let mut pings = 0;
    let outcome = tokio::time::timeout(within, async {
        loop {
            let mut head = [0u8; 2];
            if stream.read_exact(&mut head).await.is_err() {
                return;
            }
            let opcode = head[0] & 0x0f;
            let mut len = u64::from(head[1] & 0x7f);
            if len == 126 {
                len = u64::from(stream.read_u16().await.unwrap_or(0));
            } else if len == 127 {
                len = stream.read_u64().await.unwrap_or(0);
            }
            let mut payload = vec![0u8; len as usize];
            if stream.read_exact(&mut payload).await.is_err() {
                return;
            }
            match opcode {
                0x9 => {
                    assert_eq!(payload, b"teleport");
                    pings += 1;
                }
                0x8 => return,
                _ => {}
            }
        }
    })
    .await;
    (pings, outcome.is_ok())
}

#[tokio::test]
async fn unanswered_pings_close_the_upgrade_when_pongs_are_enforced() {
    let sim = SimCluster::builder()
        .backend(Backend::Immediate)
        .ws_ping_interval(Duration::from_millis(100))
        .ws_pong_timeout(Some(Duration::from_millis(300)))
        .start()
        .await
        .unwrap();
    let (mut tls, head) = raw_upgrade(&sim, UPGRADE).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "the standard accept hash: {head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-protocol: alpn-ping"),
        "{head}"
    );
    let (pings, closed) = read_frames_silently(&mut tls, Duration::from_secs(3)).await;
    assert!(closed, "closed after the pong timeout");
    assert!(pings >= 1);
}

#[tokio::test]
async fn teleport_itself_does_not_enforce_pongs() {
    let sim = sim().await;
    let (mut tls, head) = raw_upgrade(&sim, UPGRADE).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let (pings, closed) = read_frames_silently(&mut tls, Duration::from_millis(700)).await;
    assert!(!closed, "still open without pongs");
    assert!(pings >= 2, "{pings}");
}

#[tokio::test]
async fn bad_upgrade_requests_are_refused() {
    let sim = sim().await;
    let unsupported = "GET /webapi/connectionupgrade HTTP/1.1\r\nHost: localhost\r\nUpgrade: h2c\r\nConnection: Upgrade, close\r\n\r\n";
    let (status, body) = https_request(&sim, &[], unsupported).await.unwrap();
    assert_eq!(status, 404);
    assert!(body.contains("unsupported upgrade types"), "{body}");
    let no_key = "GET /webapi/connectionupgrade HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let (status, body) = https_request(&sim, &[], no_key).await.unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("Sec-WebSocket-Key"), "{body}");
    // An unknown subprotocol: upgraded without one, then closed at once.
    let other = UPGRADE.replace("alpn-ping", "chat");
    let (mut tls, head) = raw_upgrade(&sim, &other).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 101"));
    assert!(!head.to_ascii_lowercase().contains("sec-websocket-protocol"));
    let (_, closed) = read_frames_silently(&mut tls, Duration::from_secs(2)).await;
    assert!(closed);
}

#[tokio::test]
async fn legacy_alpn_upgrade_carries_grpc_on_the_raw_stream() {
    let sim = sim().await;
    let id = identity(&sim, &IdentitySpec::default());
    let request = "GET /webapi/connectionupgrade HTTP/1.1\r\nHost: localhost\r\nUpgrade: alpn\r\nConnection: Upgrade\r\n\r\n";
    let (tls, head) = raw_upgrade(&sim, request).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-teleport-upgrade: alpn"),
        "{head}"
    );
    let mut c = over_stream(tls, &id).await.unwrap();
    ping(&mut c).await;
}

#[tokio::test]
async fn load_balancer_mode_strips_alpn_but_the_upgrade_still_works() {
    let sim = sim().await;
    sim.set_load_balancer_mode(true);
    let id = identity(&sim, &IdentitySpec::default());
    // TLS routing is lost: the auth ALPN meets the web certificate, nothing negotiated.
    let err = tls_connect(
        sim.proxy_addr(),
        auth_tls(&id, AuthRoute::ThroughProxy),
        AUTH_SERVER_NAME,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("UnknownIssuer") || err.to_string().contains("NotValidForName"),
        "{err}"
    );
    // The client's probe: teleport-reversetunnel negotiates nothing.
    let tls = tls_connect(
        sim.proxy_addr(),
        web_tls(&sim, &["teleport-reversetunnel"]),
        "localhost",
    )
    .await
    .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), None);
    // The web API and the upgrade still work.
    assert_eq!(https_get(&sim, "/webapi/find").await.unwrap().0, 200);
    let (mut c, _) = via_upgrade(&sim, &id, "alpn").await.unwrap();
    ping(&mut c).await;
    sim.set_load_balancer_mode(false);
    ping(&mut via_proxy(&sim, &id).await.unwrap()).await;
}

#[tokio::test]
async fn a_default_self_signed_web_certificate_is_refused_by_webpki_even_when_trusted() {
    let sim = SimCluster::builder()
        .backend(Backend::Immediate)
        .self_signed_web_cert(true)
        .start()
        .await
        .unwrap();
    assert!(sim.web_ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    let err = tls_connect(sim.proxy_addr(), web_tls(&sim, &["http/1.1"]), "localhost")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CaUsedAsEndEntity"), "{err}");
    // TLS routing to the Auth Service does not involve the web certificate.
    let id = identity(&sim, &IdentitySpec::default());
    ping(&mut via_proxy(&sim, &id).await.unwrap()).await;
}
