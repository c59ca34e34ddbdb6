//! `teleport-audit tail --metrics-addr` against the simulated cluster: /metrics serves the
//! metric names and its counters follow the events written, /healthz is 200 while streaming,
//! and a port in use is refused before connecting.

mod support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Command;

use support::{ClientFiles, sigterm};

/// Bound on every wait in these tests.
const WAIT: Duration = Duration::from_secs(60);

/// A loopback port free a moment ago.
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// One HTTP/1.1 GET; the status code and the body, or `None` while nothing listens.
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .ok()?;
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .expect("the server answered in time")
        .ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

struct Setup {
    sim: SimCluster,
    files: ClientFiles,
    start: OffsetDateTime,
}

impl Setup {
    async fn new(backlog: u64) -> Setup {
        let now = OffsetDateTime::now_utc();
        let start = now - time::Duration::hours(2);
        let sim = SimCluster::builder()
            .backend(Backend::File)
            .backlog(backlog, start, now - time::Duration::hours(1))
            .live_rate(20.0)
            .start()
            .await
            .unwrap();
        let files = ClientFiles::for_sim(&sim);
        Setup { sim, files, start }
    }

    fn tail(&self, metrics_addr: SocketAddr) -> Command {
        let args = [
            "tail".to_owned(),
            "--proxy".into(),
            self.sim.proxy_addr().to_string(),
            "--identity-file".into(),
            self.files.identity.display().to_string(),
            "--proxy-ca".into(),
            self.files.proxy_ca.display().to_string(),
            "--backfill-start".into(),
            self.start.format(&Rfc3339).unwrap(),
            "--page-size".into(),
            "100".into(),
            "--poll-interval".into(),
            "200ms".into(),
            "--max-lateness".into(),
            "500ms".into(),
            "--metrics-addr".into(),
            metrics_addr.to_string(),
        ];
        let mut command = Command::from(support::command(args));
        command.kill_on_drop(true);
        command
    }
}

#[tokio::test]
async fn tail_serves_metrics_that_follow_the_stream_and_a_healthy_healthz() {
    let setup = Setup::new(500).await;
    let addr = free_port();
    let mut child = setup
        .tail(addr)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Count the lines written, so that the counter can be compared with them.
    let mut stdout = child.stdout.take().unwrap();
    let written = tokio::spawn(async move {
        let mut text = String::new();
        stdout.read_to_string(&mut text).await.unwrap();
        text.lines().count()
    });

    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last_events = 0.0;
    let text = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the backlog was not counted in time (last count {last_events})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Some((status, text)) = get(addr, "/metrics").await else {
            continue;
        };
        assert_eq!(status, 200, "{text}");
        let events = sample(&text, "teleport_audit_events_total").unwrap();
        assert!(
            events >= last_events,
            "the counter went back: {last_events} then {events}"
        );
        last_events = events;
        // The backlog, then live events on top of it.
        if events > 500.0 {
            break text;
        }
    };
    for name in [
        "teleport_audit_events_total",
        "teleport_audit_retries_total",
        "teleport_audit_pages_total",
        "teleport_audit_lag_seconds",
        "teleport_audit_last_event_timestamp_seconds",
        "teleport_audit_identity_expiry_timestamp_seconds",
        "teleport_audit_healthy",
    ] {
        assert!(sample(&text, name).is_some(), "{name} missing: {text}");
    }
    assert!(
        text.contains("# HELP teleport_audit_events_total "),
        "{text}"
    );
    assert!(
        text.contains("# TYPE teleport_audit_events_total counter"),
        "{text}"
    );
    let lag = sample(&text, "teleport_audit_lag_seconds").unwrap();
    assert!(lag < 600.0, "caught up with live events, yet {lag}s behind");
    assert_eq!(get(addr, "/healthz").await, Some((200, "ok\n".to_owned())));

    // A second tail on the same port is refused before it connects.
    let refused = tokio::time::timeout(WAIT, setup.tail(addr).output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains(&format!("cannot listen on {addr} for the metrics server")),
        "{stderr}"
    );
    assert!(stderr.contains("listen_failed"), "{stderr}");
    assert!(!stderr.contains("connected"), "{stderr}");

    sigterm(child.id().unwrap());
    tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    let lines = tokio::time::timeout(WAIT, written).await.unwrap().unwrap();
    assert!(
        lines as f64 >= last_events,
        "{lines} lines, counter {last_events}"
    );
}
