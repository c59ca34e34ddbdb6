//! `teleport-audit demo`: a simulated cluster in-process, tailed live, restarted once from the
//! cursor, and checked against what the cluster holds.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use teleport_audit::{
    Client, ClientConfig, CursorError, Error, FileCursorStore, HttpProxy, SettingError,
    StreamConfig,
};
use teleport_audit_sim::ca::IdentitySpec;
use teleport_audit_sim::{Backend, SimCluster};
use time::OffsetDateTime;

use crate::Failure;
use crate::args::DemoArgs;
use crate::tail::{Sink, Stop, pump};

fn sim_error(error: impl std::error::Error + Send + Sync + 'static) -> Failure {
    Failure::Audit(Error::Setting(SettingError::config_caused_by(
        "demo",
        "the simulated cluster failed",
        error,
    )))
}

pub(crate) async fn run(args: DemoArgs) -> Result<(), Failure> {
    let now = OffsetDateTime::now_utc();
    let backfill_start = now - time::Duration::hours(1);
    let sim = SimCluster::builder()
        .cluster_name("demo.teleport.test")
        .backend(Backend::Dynamo {
            max_visibility_delay: Duration::from_secs(1),
        })
        .backlog(args.backlog, backfill_start, now)
        .live_rate(args.rate)
        .start()
        .await
        .map_err(sim_error)?;
    let identity = sim
        .issue_identity(
            &IdentitySpec::default()
                .username("demo-auditor")
                .roles(["auditor"]),
        )
        .map_err(sim_error)?;
    let proxy = sim.proxy_addr().to_string();
    note(&format!(
        "demo: simulated cluster {} on {proxy} ({} past events, {} new events/s); tailing from {}",
        sim.cluster_name(),
        args.backlog,
        args.rate,
        rfc3339(backfill_start)
    ));

    let config = ClientConfig::from_identity_str(&proxy, &identity)?
        .proxy_ca_pem(sim.web_ca_pem())
        .http_proxy(HttpProxy::Disabled);
    let client = Client::connect(config).await?;
    let stream_config = || {
        StreamConfig::default()
            .poll_interval(Duration::from_millis(500))
            .max_lateness(Duration::from_secs(2))
    };

    let dir = std::env::temp_dir().join(format!("teleport-audit-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(Failure::Output)?;
    let store = FileCursorStore::open(dir.join("cursor.json"))?;
    let mut seen = Recorder::new(args.no_events);

    // First run: half the time (or until Ctrl-C), then stop as if the process were restarted.
    let half = args.duration / 2;
    let stop = stop_after(half);
    let events = client.audit_events(stream_config().backfill_start(backfill_start));
    let mut sink = Sink::Writer {
        out: &mut seen,
        store: Some(store.clone()),
    };
    let first = pump(events, &mut sink, &stop).await?;
    if first.output_closed {
        // The reader went away (`| head`): nothing more to show, and no check to make of what
        // it did not take.
        return end_quietly(client, sim, &dir).await;
    }
    note(&format!(
        "demo: stopped after {} events; resuming from {} as a restarted process would",
        first.events,
        store.path().display()
    ));

    // Second run: resume from the saved cursor.
    let cursor = store.load()?.ok_or_else(|| {
        Failure::Audit(Error::Cursor(CursorError::Invalid {
            reason: "the first run saved no cursor".to_owned(),
            source: None,
        }))
    })?;
    let watermark_before = cursor.watermark();
    let stop = stop_after(args.duration - half);
    let events = client.audit_events(stream_config().resume_from(cursor));
    let mut sink = Sink::Writer {
        out: &mut seen,
        store: Some(store.clone()),
    };
    let second = pump(events, &mut sink, &stop).await?;
    if second.output_closed {
        return end_quietly(client, sim, &dir).await;
    }
    client.disconnect().await;

    // Check: every event the cluster holds before the final watermark arrived exactly once.
    let watermark = store.load()?.map_or(watermark_before, |c| c.watermark());
    let expected: HashSet<String> = sim
        .store()
        .ids_in_range(backfill_start, watermark - time::Duration::nanoseconds(1))
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    let delivered_before: HashSet<&String> = seen
        .ids
        .iter()
        .filter(|id| expected.contains(*id))
        .collect();
    let missing = expected.len() - delivered_before.len();
    let summary = format!(
        "demo: {} events delivered in two runs ({} + {}); {} duplicates; of the {} events the cluster holds before {}, {missing} missing",
        seen.ids.len() + seen.duplicates,
        first.events,
        second.events,
        seen.duplicates,
        expected.len(),
        rfc3339(watermark),
    );
    note(&summary);
    let _ = std::fs::remove_dir_all(&dir);
    sim.shutdown().await;
    if missing > 0 || seen.duplicates > 0 {
        return Err(Failure::Audit(Error::Cursor(CursorError::Invalid {
            reason: "the exactly-once check failed".to_owned(),
            source: None,
        })));
    }
    note("demo: exactly once across the restart: none missing, none twice");
    Ok(())
}

/// Ends the demo early (its output was closed): the connection, the temporary cursor, the sim.
async fn end_quietly(
    client: Client,
    sim: SimCluster,
    dir: &std::path::Path,
) -> Result<(), Failure> {
    client.disconnect().await;
    let _ = std::fs::remove_dir_all(dir);
    sim.shutdown().await;
    Ok(())
}

fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| time.to_string())
}

/// A line of the demo's story: a log line at info (so `-q` silences it and `--log-format json`
/// makes it an object like the others).
fn note(text: &str) {
    tracing::info!("{text}");
}

fn stop_after(duration: Duration) -> Stop {
    let stop = Stop::on_signals();
    if !duration.is_zero() {
        let timer = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            timer.request();
        });
    }
    stop
}

/// Writes events to stdout (unless quiet) and remembers their ids to check for gaps and
/// duplicates at the end.
struct Recorder {
    quiet: bool,
    partial: Vec<u8>,
    ids: HashSet<String>,
    duplicates: usize,
}

impl Recorder {
    fn new(quiet: bool) -> Self {
        Self {
            quiet,
            partial: Vec::new(),
            ids: HashSet::new(),
            duplicates: 0,
        }
    }
}

impl Write for &mut Recorder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&line)
                && let Some(uid) = value.get("uid").and_then(|v| v.as_str())
                && !self.ids.insert(uid.to_owned())
            {
                self.duplicates += 1;
            }
            if !self.quiet {
                std::io::stdout().lock().write_all(&line)?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().lock().flush()
    }
}
