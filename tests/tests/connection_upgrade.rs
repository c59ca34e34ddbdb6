//! The connection upgrade against proxies of both generations, and the upgrade probe's manners.
//!
//! Teleport 15 and later serve the WebSocket upgrade; 13 and 14 only the legacy types
//! (`alpn-ping`, `alpn`) and answer a WebSocket-only request with 404. The client offers both
//! in one request, as Teleport's own client does, and follows the proxy's choice. The probe
//! that decides whether to upgrade must not leave the proxy's SSH server a broken handshake.

mod support;

use std::time::Duration;

use teleport_audit::{Client, ConnectionUpgrade, ExponentialBackoff, StreamConfig};
use teleport_audit_sim::{Backend, SimCluster};
use teleport_audit_tests::plain_client::{https_request, raw_upgrade};
use time::OffsetDateTime;

use support::{assert_exactly, auditor, collect, expected_ids, past_window, proxy_config};

async fn cluster(websocket: bool, count: u64) -> (SimCluster, OffsetDateTime, OffsetDateTime) {
    let (start, end) = past_window();
    let sim = SimCluster::builder()
        .backend(Backend::Immediate)
        .backlog(count, start, end)
        .websocket_upgrade(websocket)
        // Pings often, so that they fall between the tunnel's packets.
        .ws_ping_interval(Duration::from_millis(5))
        .start()
        .await
        .unwrap();
    (sim, start, end)
}

/// Reads every event of `[start, end]` through `client` and checks them.
async fn read_all(client: &Client, sim: &SimCluster, start: OffsetDateTime, end: OffsetDateTime) {
    let mut stream = client.audit_events(
        StreamConfig::default()
            .backfill_start(start)
            .end_time(end)
            .page_size(500)
            .poll_interval(Duration::from_millis(100))
            .max_lateness(Duration::from_millis(500))
            .backoff(ExponentialBackoff::new(
                Duration::from_millis(10),
                Duration::from_millis(100),
            )),
    );
    let got = collect(&mut stream, usize::MAX, Duration::from_secs(60)).await;
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert!(got.ended);
    assert_exactly(&got.ids(), &expected_ids(sim, start, end));
}

#[tokio::test]
async fn a_teleport_14_proxy_behind_a_load_balancer_is_reached_with_the_legacy_alpn_ping() {
    let (sim, start, end) = cluster(false, 3000).await;
    sim.set_load_balancer_mode(true);
    // Auto: the probe finds no ALPN; the upgrade offers WebSocket and alpn-ping, the proxy
    // takes alpn-ping, and the whole backlog crosses the ping-framed tunnel.
    let client = Client::connect(proxy_config(&sim, &auditor(&sim)))
        .await
        .unwrap();
    read_all(&client, &sim, start, end).await;
    let proxy = sim.rpc_stats().proxy;
    assert!(proxy.upgrades >= 1, "{proxy:?}");
    assert_eq!(proxy.legacy_upgrades, proxy.upgrades, "{proxy:?}");
}

#[tokio::test]
async fn always_uses_the_legacy_upgrade_of_13_and_14_and_websocket_of_15_and_later() {
    for websocket in [false, true] {
        let (sim, start, end) = cluster(websocket, 1200).await;
        let client = Client::connect(
            proxy_config(&sim, &auditor(&sim)).connection_upgrade(ConnectionUpgrade::Always),
        )
        .await
        .unwrap();
        read_all(&client, &sim, start, end).await;
        let proxy = sim.rpc_stats().proxy;
        assert!(proxy.upgrades >= 1, "{proxy:?}");
        let expected_legacy = if websocket { 0 } else { proxy.upgrades };
        assert_eq!(proxy.legacy_upgrades, expected_legacy, "{proxy:?}");
        // `Always` does not probe.
        assert_eq!(proxy.reverse_tunnel, 0, "{proxy:?}");
    }
}

#[tokio::test]
async fn the_probe_closes_politely_so_the_proxy_logs_no_broken_ssh_handshake() {
    let (sim, _, _) = cluster(true, 0).await;
    for _ in 0..3 {
        let client = Client::connect(proxy_config(&sim, &auditor(&sim)))
            .await
            .unwrap();
        client.ping().await.unwrap();
    }
    let proxy = sim.rpc_stats().proxy;
    // One probe per client, each answered with ALPN (no upgrade), none ended abruptly.
    assert_eq!(proxy.reverse_tunnel, 3, "{proxy:?}");
    assert_eq!(proxy.upgrades, 0, "{proxy:?}");
    assert_eq!(proxy.reverse_tunnel_abrupt, 0, "{proxy:?}");
}

#[tokio::test]
async fn a_13_or_14_proxy_answers_a_websocket_only_upgrade_with_404() {
    let (sim, _, _) = cluster(false, 0).await;
    let websocket_only = "GET /webapi/connectionupgrade HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: alpn-ping\r\n\r\n";
    let (status, body) = https_request(&sim, &[], websocket_only).await.unwrap();
    assert_eq!(status, 404);
    assert!(body.contains("unsupported upgrade types"), "{body}");
    // The same request to a 15+ proxy switches protocols.
    let (sim, _, _) = cluster(true, 0).await;
    let (_tls, head) = raw_upgrade(&sim, websocket_only).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
}
