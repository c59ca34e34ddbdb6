//! The metrics server (feature `metrics`) over loopback HTTP, watching a real stream against
//! the simulated cluster: counters that follow the stream, `/healthz` turning 503 when the
//! stream stalls past the bound and 200 again when it recovers, 503 with the code after a fatal
//! error, and the identity's expiry following an identity file renewed in place.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt as _;
use teleport_audit::metrics::{MetricsServer, StreamMetrics};
use teleport_audit::{
    AuditEventStream, Client, ClientConfig, HealthRule, HttpProxy, Identity, StreamConfig,
};
use teleport_audit_sim::Backend;
use teleport_audit_sim::ca::IdentitySpec;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use support::{auditor, connect, expected_ids, fast_search, past_backlog, proxy_config};

/// Bound on every wait in these tests.
const WAIT: Duration = Duration::from_secs(60);

/// Starts a metrics server on a free loopback port serving `metrics`.
async fn serve(metrics: &StreamMetrics) -> SocketAddr {
    let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.serve(metrics.clone()));
    addr
}

/// One HTTP/1.1 request; the status code and the body.
async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .expect("the server answered in time")
        .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a whole response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head}"));
    (status, body.to_owned())
}

/// The value of an unlabelled sample in a Prometheus text exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

/// Polls `path` until `done` accepts the answer; panics with the last answer after [`WAIT`].
async fn wait_for(
    addr: SocketAddr,
    path: &str,
    what: &str,
    done: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, body) = request(addr, "GET", path).await;
        if done(status, &body) {
            return (status, body);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: last answer {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Drives `stream` in a task until it ends; returns the number of events it delivered.
fn drive(mut stream: AuditEventStream) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut events = 0;
        while let Some(item) = stream.next().await {
            match item {
                Ok(_) => events += 1,
                Err(error) if error.is_fatal() => break,
                Err(_) => {}
            }
        }
        events
    })
}

#[tokio::test]
async fn the_counters_follow_the_stream_and_healthz_is_ok_while_it_runs() {
    let (sim, start, end) = past_backlog(Backend::Immediate, 700).await;
    let client = connect(&sim).await;
    let metrics = StreamMetrics::new();
    let addr = serve(&metrics).await;

    // Before the stream exists: counters at 0, healthy (it has just started).
    let (status, text) = request(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(sample(&text, "teleport_audit_events_total"), Some(0.0));
    assert_eq!(
        request(addr, "GET", "/healthz").await,
        (200, "ok\n".to_owned())
    );

    let stream = client.audit_events(
        fast_search(StreamConfig::default())
            .backfill_start(start)
            .page_size(100),
    );
    // The stream's stats carry its client's identity expiry: no watch_identity needed.
    metrics.watch(stream.stats_handle());
    let task = drive(stream);

    let expected = expected_ids(&sim, start, end).len() as f64;
    let (_, text) = wait_for(addr, "/metrics", "every event counted", |_, text| {
        sample(text, "teleport_audit_events_total") == Some(expected)
    })
    .await;
    assert!(
        sample(&text, "teleport_audit_pages_total").unwrap() >= 7.0,
        "{text}"
    );
    assert_eq!(sample(&text, "teleport_audit_retries_total"), Some(0.0));
    assert_eq!(sample(&text, "teleport_audit_healthy"), Some(1.0));
    let newest = sample(&text, "teleport_audit_last_event_timestamp_seconds").unwrap();
    assert!(newest <= end.unix_timestamp() as f64 + 1.0, "{newest}");
    assert!(newest >= start.unix_timestamp() as f64, "{newest}");
    assert!(
        sample(&text, "teleport_audit_lag_seconds").is_some(),
        "{text}"
    );
    let expiry = sample(&text, "teleport_audit_identity_expiry_timestamp_seconds").unwrap();
    let identity = Identity::from_identity_str(&auditor(&sim)).unwrap();
    // Both identities are issued with the sim's default lifetime, a moment apart.
    let expected_expiry = identity.summary().not_after.unix_timestamp() as f64;
    assert!(
        (expiry - expected_expiry).abs() < 60.0,
        "{expiry} vs {expected_expiry}"
    );

    assert_eq!(
        request(addr, "GET", "/healthz").await,
        (200, "ok\n".to_owned())
    );
    let (status, body) = request(addr, "HEAD", "/healthz").await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(request(addr, "GET", "/other").await.0, 404);
    assert_eq!(request(addr, "POST", "/metrics").await.0, 405);
    task.abort();
}

#[tokio::test]
async fn healthz_is_503_while_the_stream_is_stalled_past_the_bound_and_ok_again_after() {
    let sim = support::empty_cluster().await;
    let client = connect(&sim).await;
    let metrics =
        StreamMetrics::with_health_rule(HealthRule::with_stall_bound(Duration::from_secs(1)));
    let addr = serve(&metrics).await;
    let stream = client.audit_events(
        fast_search(StreamConfig::default())
            .start_now()
            .request_timeout(Duration::from_millis(300))
            .stall_report_after(Duration::from_millis(500)),
    );
    metrics.watch(stream.stats_handle());
    let task = drive(stream);
    // Polling: calls succeed (and /healthz is ok).
    wait_for(addr, "/metrics", "a successful call", |_, text| {
        sample(text, "teleport_audit_last_success_timestamp_seconds").is_some()
    })
    .await;
    assert_eq!(
        request(addr, "GET", "/healthz").await,
        (200, "ok\n".to_owned())
    );

    // Every call hangs until its 300 ms timeout: no success for about 4 s.
    sim.faults().stall_next(12);
    let (_, reason) = wait_for(addr, "/healthz", "503 once stalled", |status, _| {
        status == 503
    })
    .await;
    assert!(
        reason.starts_with("stalled: no successful call for ") && reason.contains("timeout"),
        "{reason}"
    );
    let (_, text) = request(addr, "GET", "/metrics").await;
    assert_eq!(sample(&text, "teleport_audit_healthy"), Some(0.0), "{text}");
    assert!(sample(&text, "teleport_audit_retries_total").unwrap() >= 1.0);
    assert!(sample(&text, "teleport_audit_consecutive_failures").unwrap() >= 1.0);
    // Reported (and counted) once calls have failed for `stall_report_after`.
    wait_for(addr, "/metrics", "a stall report counted", |_, text| {
        sample(text, "teleport_audit_stalls_total").is_some_and(|stalls| stalls >= 1.0)
    })
    .await;

    wait_for(
        addr,
        "/healthz",
        "healthy again after the stall",
        |status, body| status == 200 && body == "ok\n",
    )
    .await;
    assert!(!task.is_finished(), "a stall does not end the stream");
    task.abort();
}

#[tokio::test]
async fn healthz_is_503_with_the_code_after_a_fatal_error() {
    let sim = support::empty_cluster().await;
    let identity = sim
        .issue_identity(&IdentitySpec::default().roles(["access"]))
        .unwrap();
    let client = Client::connect(proxy_config(&sim, &identity))
        .await
        .unwrap();
    let metrics = StreamMetrics::new();
    let addr = serve(&metrics).await;
    let stream = client.audit_events(fast_search(StreamConfig::default()).start_now());
    metrics.watch(stream.stats_handle());
    let task = drive(stream);
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();

    let (status, body) = request(addr, "GET", "/healthz").await;
    assert_eq!(
        (status, body.as_str()),
        (
            503,
            "failed: the stream ended with a fatal error (permission_denied)\n"
        )
    );
    let (_, text) = request(addr, "GET", "/metrics").await;
    assert_eq!(sample(&text, "teleport_audit_healthy"), Some(0.0), "{text}");
}

#[tokio::test]
async fn the_identity_expiry_follows_an_identity_file_renewed_in_place() {
    let sim = support::empty_cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("identity");
    let first = sim
        .issue_identity(
            &IdentitySpec::default()
                .roles(["auditor"])
                .ttl(time::Duration::hours(1)),
        )
        .unwrap();
    std::fs::write(&path, &first).unwrap();
    let config = ClientConfig::from_identity_file(&sim.proxy_addr().to_string(), &path)
        .unwrap()
        .proxy_ca_pem(sim.web_ca_pem())
        .http_proxy(HttpProxy::Disabled);
    let client = Client::connect(config).await.unwrap();
    let metrics = StreamMetrics::new();
    metrics.watch_identity(&client);
    let addr = serve(&metrics).await;

    let not_after = |text: &str| {
        Identity::from_identity_str(text)
            .unwrap()
            .summary()
            .not_after
            .unix_timestamp() as f64
    };
    let (_, text) = request(addr, "GET", "/metrics").await;
    assert_eq!(
        sample(&text, "teleport_audit_identity_expiry_timestamp_seconds"),
        Some(not_after(&first))
    );

    // tbot writes the renewal next to the file and renames it into place.
    let renewed = sim
        .issue_identity(
            &IdentitySpec::default()
                .roles(["auditor"])
                .ttl(time::Duration::hours(5)),
        )
        .unwrap();
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, &renewed).unwrap();
    std::fs::rename(&temp, &path).unwrap();
    let (_, text) = request(addr, "GET", "/metrics").await;
    assert_eq!(
        sample(&text, "teleport_audit_identity_expiry_timestamp_seconds"),
        Some(not_after(&renewed))
    );
    assert!(not_after(&renewed) > not_after(&first) + 3.0 * 3600.0);
    assert_eq!(
        client.identity_expiry().map(|t| t.unix_timestamp() as f64),
        Some(not_after(&renewed))
    );
}
