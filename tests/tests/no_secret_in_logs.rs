//! No private key in any log line or error, end to end: a subscriber captures everything at
//! TRACE level for every target (the client, tonic, h2, tower, rustls through `log`) while a
//! full stream runs against the simulated cluster through its failure modes (failed calls,
//! dropped connections, a stall, a malformed page, a server restart, an identity file replaced
//! by a broken one mid-stream), and while an expired, a wrong-cluster, a foreign-signed, a
//! malformed identity, and identity text given as the path or as the address are tried. Every
//! error is formatted with Display and Debug (and its sources) into the same buffer. Then no
//! line of any private key used, and no 20-character piece of its base64, may appear.

mod support;

use std::collections::HashSet;
use std::fmt::Write as _;

use std::time::Duration;

use teleport_audit::{Client, ClientConfig, HttpProxy, StreamConfig};
use teleport_audit_sim::ca::{ClusterCa, FileHostCa, IdentitySpec, KeyType, Signer};
use teleport_audit_sim::{Backend, SimCluster};
use tracing_subscriber::filter::LevelFilter;

use support::capture::Capture;
use support::{collect, fast_search, past_backlog};

/// The shortest piece of a key's base64 that must never appear.
const WINDOW: usize = 20;

/// The client's log line when a changed identity file cannot be used.
const KEPT_IDENTITY: &str = "identity file changed but cannot be used";

/// Display, Debug and every source of `error`, with what was being tried, into `capture`.
fn capture_error(capture: &Capture, what: &str, error: &(dyn std::error::Error + 'static)) {
    let mut text = format!("{what}: {error}\n{what}: {error:?}\n");
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = writeln!(text, "  caused by: {cause} / {cause:?}");
        source = cause.source();
    }
    capture.push(&text);
}

/// What must never appear: the private key block's boundary lines, and every
/// [`WINDOW`]-character piece of its base64 lines (which covers the lines themselves).
#[derive(Default)]
struct Keys {
    boundaries: HashSet<String>,
    windows: HashSet<String>,
}

impl Keys {
    /// Adds the private key of an identity file's text (its first PEM block).
    fn add(&mut self, identity: &str) {
        let end = identity.find("-----END").expect("a PEM block");
        let end = identity[end..]
            .find('\n')
            .map_or(identity.len(), |i| end + i);
        for line in identity[..end].lines().map(str::trim) {
            if line.starts_with("-----") {
                self.boundaries.insert(line.to_owned());
            } else if line.len() >= WINDOW {
                for start in 0..=line.len() - WINDOW {
                    self.windows.insert(line[start..start + WINDOW].to_owned());
                }
            }
        }
    }

    /// What of the keys `text` holds.
    fn leaks(&self, text: &str) -> Vec<String> {
        let mut found: Vec<String> = self
            .boundaries
            .iter()
            .filter(|line| text.contains(line.as_str()))
            .cloned()
            .collect();
        // Only base64 runs can hold a piece of base64: scan those.
        for run in text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=".contains(c))) {
            if run.len() >= WINDOW {
                for start in 0..=run.len() - WINDOW {
                    let piece = &run[start..start + WINDOW];
                    if self.windows.contains(piece) {
                        found.push(piece.to_owned());
                    }
                }
            }
        }
        found
    }
}

fn client_config(sim: &SimCluster, config: ClientConfig) -> ClientConfig {
    config
        .proxy_ca_pem(sim.web_ca_pem())
        .http_proxy(HttpProxy::Disabled)
        .connect_timeout(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(5))
}

fn auditor() -> IdentitySpec {
    IdentitySpec::default()
        .username("auditor")
        .roles(["auditor"])
}

/// An identity given as text, expected to be refused by the config or on connect.
async fn refused(capture: &Capture, sim: &SimCluster, what: &str, addr: &str, identity: &str) {
    let config = match ClientConfig::from_identity_str(addr, identity) {
        Ok(config) => config,
        Err(error) => return capture_error(capture, what, &error),
    };
    capture.push(&format!("{what}: {config:?}\n"));
    match Client::connect(client_config(sim, config)).await {
        Ok(client) => panic!("{what}: connected ({client:?})"),
        Err(error) => capture_error(capture, what, &error),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_private_key_in_trace_logs_or_errors() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_target(true)
        .try_init()
        .expect("the only subscriber of this test binary");

    let (sim, start, end) = past_backlog(Backend::Immediate, 600).await;
    let mut keys = Keys::default();
    let issue = |keys: &mut Keys, spec: IdentitySpec| {
        let text = sim.issue_identity(&spec).expect("an identity");
        keys.add(&text);
        text
    };
    let rsa = issue(&mut keys, auditor().key_type(KeyType::Rsa2048));
    let ecdsa = issue(&mut keys, auditor());
    let expired = issue(&mut keys, auditor().expired());
    let foreign_signed = issue(&mut keys, auditor().signer(Signer::ForeignCa));
    let foreign_host_ca = issue(&mut keys, auditor().file_host_ca(FileHostCa::Foreign));
    let elsewhere = ClusterCa::new("elsewhere.teleport.test")
        .expect("a CA")
        .issue_identity(&auditor())
        .expect("an identity");
    keys.add(&elsewhere);
    let proxy = sim.proxy_addr().to_string();

    // The identity file on disk, re-read on reconnect.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("identity");
    std::fs::write(&path, &rsa).expect("write the identity");
    let config = ClientConfig::from_identity_file(&proxy, &path).expect("the identity file");
    capture.push(&format!("{config:?}\n"));
    let client = Client::connect(client_config(&sim, config))
        .await
        .expect("connect with the identity file");
    capture.push(&format!("{client:?}\n"));

    // A full stream through every fault.
    let stream_config = fast_search(StreamConfig::default())
        .backfill_start(start)
        .end_time(end)
        .page_size(100)
        .request_timeout(Duration::from_millis(500))
        .stall_report_after(Duration::from_millis(300));
    capture.push(&format!("{stream_config:?}\n"));
    let mut stream = client.audit_events(stream_config);
    let mut events = 0;
    let mut errors = Vec::new();
    let faults: [&dyn Fn(); 7] = [
        &|| sim.faults().fail_next(tonic::Code::Unavailable, 2),
        &|| sim.faults().fail_next(tonic::Code::ResourceExhausted, 1),
        &|| sim.faults().fail_next(tonic::Code::Internal, 1),
        &|| sim.faults().drop_after_bytes(5_000),
        &|| sim.faults().drop_after_events(30),
        &|| sim.faults().stall_next(1),
        &|| sim.faults().malformed_struct_next_page(),
    ];
    for arm in faults {
        let part = collect(&mut stream, 50, Duration::from_secs(30)).await;
        events += part.events.len();
        errors.extend(part.errors);
        arm();
    }
    // The identity file replaced by a broken one, then a restart: the reconnect finds the file
    // changed and unusable, logs it, and keeps the identity it has.
    let broken = rsa.replacen("MII", "!!!", 1);
    std::fs::write(&path, format!("{broken}\n")).expect("break the identity file");
    sim.restart().await.expect("the cluster restarts");
    // Until a dial has read the broken file (the first call after the restart may fail on
    // the dead connection before any redial).
    for _ in 0..100 {
        let ping = client.ping().await;
        capture.push(&format!("ping with a broken identity file: {ping:?}\n"));
        if capture.text().contains(KEPT_IDENTITY) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let part = collect(&mut stream, 50, Duration::from_secs(30)).await;
    events += part.events.len();
    errors.extend(part.errors);
    std::fs::write(&path, &rsa).expect("restore the identity file");
    sim.restart_after(Duration::from_millis(300))
        .await
        .expect("the cluster restarts");
    let rest = collect(&mut stream, usize::MAX, Duration::from_secs(60)).await;
    events += rest.events.len();
    errors.extend(rest.errors);
    assert!(rest.ended, "the stream ends at its end time");
    assert!(events >= 500, "{events} events streamed");
    for error in &errors {
        capture_error(&capture, "stream", error);
    }
    capture.push(&format!(
        "{:?}\n{}\n",
        stream.stats(),
        stream.cursor().to_json()
    ));

    // Identities the cluster or the client refuse.
    refused(&capture, &sim, "expired", &proxy, &expired).await;
    refused(&capture, &sim, "wrong cluster", &proxy, &elsewhere).await;
    refused(&capture, &sim, "foreign signer", &proxy, &foreign_signed).await;
    refused(&capture, &sim, "foreign host CA", &proxy, &foreign_host_ca).await;
    refused(&capture, &sim, "malformed", &proxy, &broken).await;
    let truncated = &ecdsa[..ecdsa.len() / 3];
    refused(&capture, &sim, "truncated", &proxy, truncated).await;
    refused(&capture, &sim, "identity as the address", &rsa, &rsa).await;
    refused(&capture, &sim, "unreachable", "127.0.0.1:9", &ecdsa).await;
    match ClientConfig::from_identity_file(&proxy, &rsa) {
        Ok(config) => panic!("identity text as the path was read: {config:?}"),
        Err(error) => capture_error(&capture, "identity as the path", &error),
    }
    let config = ClientConfig::from_identity_str(&proxy, &ecdsa)
        .expect("the identity")
        .identity_file(&rsa);
    capture.push(&format!("identity_file(text): {config:?}\n"));
    match Client::connect(client_config(&sim, config)).await {
        Ok(client) => panic!("identity text as the path was read: {client:?}"),
        Err(error) => capture_error(&capture, "identity_file(text)", &error),
    }

    drop(client);
    sim.shutdown().await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let text = capture.text();
    // The capture saw the lower layers at TRACE level, and the failures.
    for needle in [
        "h2::",
        "rustls::",
        "TRACE",
        KEPT_IDENTITY,
        "identity as the path",
    ] {
        assert!(text.contains(needle), "no {needle:?} in the capture");
    }
    let leaks = keys.leaks(&text);
    assert!(
        leaks.is_empty(),
        "{} pieces of private keys in {} bytes of logs and errors, e.g. {:?}",
        leaks.len(),
        text.len(),
        &leaks[..leaks.len().min(5)]
    );
}
