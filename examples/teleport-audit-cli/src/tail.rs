//! `teleport-audit tail`: events to stdout as NDJSON, the cursor saved after each written batch.

use std::io::{IsTerminal as _, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{FutureExt as _, StreamExt as _};
use teleport_audit::{AuditEventStream, Client, FileCursorStore, StreamConfig, StreamStats};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::Failure;
use crate::args::TailArgs;

/// Events written between two cursor saves at most, while events keep coming.
const BATCH: u64 = 1000;

pub(crate) async fn run(args: TailArgs) -> Result<(), Failure> {
    let client = Client::connect(crate::ping::client_config(&args.connect)?).await?;
    tracing::info!(
        cluster = client.cluster_name(),
        version = client.server_version(),
        "connected"
    );
    let store = args.cursor_file.as_ref().map(FileCursorStore::new);
    let mut config = StreamConfig::default()
        .mode(args.mode.into())
        .event_types(args.types.iter().filter(|t| !t.is_empty()).cloned())
        .page_size(args.page_size)
        .poll_interval(args.poll_interval);
    if let Some(lateness) = args.max_lateness {
        config = config.max_lateness(lateness);
    }
    let stored = match &store {
        Some(store) => store.load()?,
        None => None,
    };
    config = match (stored, args.backfill_start) {
        (Some(cursor), _) => {
            tracing::info!(
                mode = %cursor.mode(),
                watermark = %cursor.watermark(),
                "resuming from the cursor file"
            );
            config.resume_from(cursor)
        }
        (None, Some(start)) => config.backfill_start(start),
        (None, None) => config.start_now(),
    };
    if args.until_now {
        config = config.end_time(OffsetDateTime::now_utc());
    }
    let events = client.audit_events(config);
    let stdout = std::io::stdout();
    let summary = pump(events, stdout.lock(), store.as_ref(), &Stop::on_signals()).await?;
    tracing::info!(
        events = summary.events,
        interrupted = summary.interrupted,
        "done"
    );
    Ok(())
}

/// What [`pump`] did.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub(crate) events: u64,
    pub(crate) interrupted: bool,
}

/// A stop request (Ctrl-C, SIGTERM, or a timer in the demo).
#[derive(Clone, Debug, Default)]
pub(crate) struct Stop {
    requested: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Stop {
    /// Requested by SIGINT or SIGTERM.
    pub(crate) fn on_signals() -> Self {
        let stop = Self::default();
        let handle = stop.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            handle.request();
        });
        stop
    }

    pub(crate) fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Writes the stream's events to `out`, one JSON object per line. The output is flushed and the
/// cursor saved whenever the stream has nothing ready (a batch boundary) and every [`BATCH`]
/// events; so the cursor never covers an event that was not written. On a stop request the
/// current write finishes, the cursor is saved, and the function returns.
pub(crate) async fn pump<W: Write>(
    mut events: AuditEventStream,
    out: W,
    store: Option<&FileCursorStore>,
    stop: &Stop,
) -> Result<Summary, Failure> {
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, out);
    let mut progress = Progress::new();
    let mut summary = Summary::default();
    let mut unsaved = 0u64;
    loop {
        if stop.is_requested() {
            summary.interrupted = true;
            break;
        }
        let item = match events.next().now_or_never() {
            Some(item) => item,
            None => {
                checkpoint(&mut out, store, &events, &mut unsaved)?;
                progress.show(&events.stats(), summary.events);
                tokio::select! {
                    item = events.next() => item,
                    () = stop.wait() => {
                        summary.interrupted = true;
                        break;
                    }
                }
            }
        };
        match item {
            None => break,
            Some(Ok(event)) => {
                out.write_all(event.as_json().as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
                    .map_err(stdout_error)?;
                summary.events += 1;
                unsaved += 1;
                if unsaved >= BATCH {
                    checkpoint(&mut out, store, &events, &mut unsaved)?;
                    progress.show(&events.stats(), summary.events);
                }
            }
            Some(Err(error)) if error.is_fatal() => {
                checkpoint(&mut out, store, &events, &mut unsaved)?;
                progress.finish();
                return Err(error.into());
            }
            Some(Err(error)) => {
                tracing::warn!(code = error.code(), "{error}");
            }
        }
    }
    checkpoint(&mut out, store, &events, &mut unsaved)?;
    progress.finish();
    Ok(summary)
}

fn stdout_error(source: std::io::Error) -> Failure {
    Failure::Output(source)
}

/// Flushes the written events, then saves the cursor that covers exactly them.
fn checkpoint<W: Write>(
    out: &mut W,
    store: Option<&FileCursorStore>,
    events: &AuditEventStream,
    unsaved: &mut u64,
) -> Result<(), Failure> {
    out.flush().map_err(stdout_error)?;
    if let Some(store) = store {
        store.save(&events.cursor())?;
    }
    *unsaved = 0;
    Ok(())
}

/// A one-line progress display on stderr, only when stderr is a terminal.
struct Progress {
    enabled: bool,
    started: Instant,
    last: Option<Instant>,
}

impl Progress {
    fn new() -> Self {
        Self {
            enabled: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last: None,
        }
    }

    fn show(&mut self, stats: &StreamStats, written: u64) {
        if !self.enabled
            || self
                .last
                .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.last = Some(Instant::now());
        let elapsed = self.started.elapsed().as_secs_f64().max(0.001);
        let behind = stats
            .lag(OffsetDateTime::now_utc())
            .map(|lag| format!("{}s behind now", lag.as_secs()))
            .unwrap_or_default();
        let at = stats.watermark.map(|w| w.to_string()).unwrap_or_default();
        let _ = write!(
            std::io::stderr().lock(),
            "\r\x1b[K{written} events, {:.0}/s, caught up to {at} ({behind}), {} retries",
            written as f64 / elapsed,
            stats.retries
        );
    }

    fn finish(&mut self) {
        if self.enabled && self.last.is_some() {
            let _ = writeln!(std::io::stderr().lock());
        }
    }
}
