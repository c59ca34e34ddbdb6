//! `teleport-audit tail`: events to stdout (or `--output FILE`) as NDJSON, the cursor saved after
//! each written batch.

use std::io::{IsTerminal as _, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{FutureExt as _, StreamExt as _};
use teleport_audit::metrics::{MetricsServer, StreamMetrics};
use teleport_audit::{
    AuditEvent, AuditEventStream, Client, Cursor, FileCursorStore, FileSink, HealthRule,
    SessionRecordings, StreamConfig,
};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::args::{LogFormatArg, TailArgs};
use crate::progress::{self, Reporter, View};
use crate::{Ended, Failure};

/// Events written between two cursor saves at most, while events keep coming.
const BATCH: u64 = 1000;
/// Least time between two cursor saves while events trickle in (each save is an fsync).
const SAVE_INTERVAL: Duration = Duration::from_secs(1);
/// How long a stop request may wait for a blocked stdout before the process exits anyway.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// `quiet` and `log_format`: the global `-q` and `--log-format`, for the progress display.
pub(crate) async fn run(
    args: TailArgs,
    quiet: bool,
    log_format: LogFormatArg,
) -> Result<Ended, Failure> {
    // The event types and the time range first, then the files: a cursor file in use by
    // another process, or an output that does not fit the cursor, is refused before connecting.
    let selection = crate::selection::select(&args)?;
    let store = args
        .cursor_file
        .as_ref()
        .map(FileCursorStore::open)
        .transpose()?;
    let (mut sink, stored) = match (&args.output, store) {
        (Some(output), Some(store)) => {
            let (sink, stored) = FileSink::open(output, store)?;
            (Sink::File(sink), stored)
        }
        (_, store) => {
            let stored = match &store {
                Some(store) => store.load()?,
                None => None,
            };
            let out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
            (Sink::Writer { out, store }, stored)
        }
    };
    // The metrics server next: a port in use is refused before connecting.
    let metrics =
        StreamMetrics::with_health_rule(HealthRule::with_stall_bound(args.health_stall_bound));
    if let Some(addr) = args.metrics_addr {
        let server = MetricsServer::bind(addr).await?;
        tracing::info!(
            "serving metrics at http://{0}/metrics and health at http://{0}/healthz",
            server.local_addr()
        );
        tokio::spawn(server.serve(metrics.clone()));
    }
    // The identity and the address: an unusable identity is refused before anything is logged
    // about the stream.
    let client_config = crate::ping::client_config(&args.connect)?;
    let mut config = StreamConfig::default()
        .mode(args.mode.into())
        .event_types(selection.types)
        .skip_event_types(selection.skip_types)
        .page_size(args.page_size);
    if let Some(interval) = args.poll_interval {
        config = config
            .poll_interval(interval)
            .export_poll_interval(interval);
    }
    if let Some(lateness) = args.max_lateness {
        config = config.max_lateness(lateness);
    }
    if args.session_recordings {
        config = config.session_recordings(
            SessionRecordings::default()
                .concurrency(usize::from(args.session_concurrency))
                .skip_types(crate::selection::skip_session_types(
                    &args.skip_session_types.0,
                    args.allow_unknown_types,
                )?)
                .metadata_only(args.session_metadata_only)
                .recording_wait(args.recording_wait),
        );
    }
    config = match (stored, args.backfill_start) {
        (Some(cursor), _) => {
            tracing::info!(
                mode = %cursor.mode(),
                watermark = %cursor.watermark(),
                "resuming from the cursor file"
            );
            config.resume_from(cursor)
        }
        (None, Some(start)) => {
            tracing::info!("backfill from {start}");
            config.backfill_start(start.time())
        }
        (None, None) => config.start_now(),
    };
    let end = match args.until {
        Some(until) => {
            tracing::info!("until {until}");
            Some(until.time())
        }
        None => args.until_now.then(OffsetDateTime::now_utc),
    };
    if let Some(end) = end {
        config = config.end_time(end);
    }
    // Every setting is checked before connecting: a bad one is a usage error (exit 2), not a
    // failed stream after the dial.
    config.validate()?;
    let client = Client::connect(client_config).await?;
    tracing::info!(
        cluster = client.cluster_name(),
        version = client.server_version(),
        "connected"
    );
    let events = client.audit_events(config);
    metrics.watch(events.stats_handle());
    let json_logs = log_format == LogFormatArg::Json;
    let view = View::choose(
        quiet,
        json_logs,
        progress::stderr_can_redraw(),
        args.output.is_none() && std::io::stdout().is_terminal(),
    );
    let export_poll = args
        .poll_interval
        .unwrap_or(teleport_audit::DEFAULT_EXPORT_POLL_INTERVAL);
    let reporter = Reporter::start(events.stats_handle(), view, json_logs, end, export_poll);
    let summary = pump(events, &mut sink, &Stop::on_signals()).await;
    reporter.finish().await;
    // A clean end for the server too: without it, exiting closes the socket while the proxy
    // may still be writing, and Teleport logs an ERROR for it.
    if !client.disconnect().await {
        tracing::debug!("the server did not close the connection in time");
    }
    let summary = summary?;
    tracing::info!(
        events = summary.events,
        interrupted = summary.interrupted,
        output_closed = summary.output_closed,
        "done"
    );
    Ok(if summary.interrupted {
        Ended::Interrupted
    } else {
        Ended::Done
    })
}

/// Where [`pump`] writes events, and how it makes them and their cursor durable.
pub(crate) enum Sink<W: Write> {
    /// A stream (stdout): flushed, then the cursor saved. At-least-once across a crash: events
    /// flushed after the last save are written again.
    Writer {
        out: W,
        store: Option<FileCursorStore>,
    },
    /// A file committed with its cursor: exactly once across a crash.
    File(FileSink),
}

impl<W: Write> Sink<W> {
    fn write(&mut self, event: &AuditEvent) -> Result<(), Failure> {
        match self {
            Sink::Writer { out, .. } => out
                .write_all(event.as_json().as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .map_err(Failure::Output),
            Sink::File(sink) => sink.write(event).map_err(Failure::from),
        }
    }

    /// Makes the written events durable, then saves `cursor`, which covers exactly them.
    fn commit(&mut self, cursor: &Cursor) -> Result<(), Failure> {
        match self {
            Sink::Writer { out, store } => {
                out.flush().map_err(Failure::Output)?;
                if let Some(store) = store {
                    store.save(cursor)?;
                }
                Ok(())
            }
            Sink::File(sink) => sink.commit(cursor).map_err(Failure::from),
        }
    }
}

/// What [`pump`] did.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub(crate) events: u64,
    pub(crate) interrupted: bool,
    /// The reader of stdout went away (`| head`): a normal end.
    pub(crate) output_closed: bool,
}

/// A stop request (Ctrl-C, SIGTERM, or a timer in the demo).
#[derive(Clone, Debug, Default)]
pub(crate) struct Stop {
    requested: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Stop {
    /// Requested by SIGINT or SIGTERM. If the command has not finished [`STOP_GRACE`] after the
    /// signal (stdout blocked by a stalled reader), or on a second signal, the process exits:
    /// the cursor saved last covers only what was written before it.
    pub(crate) fn on_signals() -> Self {
        let stop = Self::default();
        let handle = stop.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            handle.request();
            tokio::select! {
                () = tokio::time::sleep(STOP_GRACE) => {
                    tracing::warn!(
                        "output blocked for {STOP_GRACE:?} after the stop request; exiting (the cursor saved last covers what was written)"
                    );
                }
                () = wait_for_signal() => {}
            }
            std::process::exit(i32::from(teleport_audit_cli::exit::INTERRUPTED));
        });
        stop
    }

    pub(crate) fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub(crate) fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    pub(crate) async fn wait(&self) {
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

/// Writes the stream's events to `sink`, one JSON object per line, and commits them with their
/// cursor every [`BATCH`] events and, while events trickle in, at most every [`SAVE_INTERVAL`]:
/// so the cursor never covers an event that was not written. On a stop request the current
/// write finishes, the events are committed, and the function returns. A closed stdout (`| head`)
/// ends it quietly, without saving a cursor past what the reader took.
pub(crate) async fn pump<W: Write>(
    mut events: AuditEventStream,
    sink: &mut Sink<W>,
    stop: &Stop,
) -> Result<Summary, Failure> {
    let mut summary = Summary::default();
    match pump_events(&mut events, sink, stop, &mut summary).await {
        Err(Failure::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            summary.output_closed = true;
            Ok(summary)
        }
        Err(error) => Err(error),
        Ok(()) => Ok(summary),
    }
}

async fn pump_events<W: Write>(
    events: &mut AuditEventStream,
    sink: &mut Sink<W>,
    stop: &Stop,
    summary: &mut Summary,
) -> Result<(), Failure> {
    let mut unsaved = 0u64;
    let mut saved_at = Instant::now();
    loop {
        if stop.is_requested() {
            summary.interrupted = true;
            break;
        }
        let item = match events.next().now_or_never() {
            Some(item) => item,
            None => {
                // Nothing ready: save if due, else wait for the next event, the save time or a
                // stop, whichever comes first.
                let due = saved_at + SAVE_INTERVAL;
                if unsaved > 0 && Instant::now() >= due {
                    sink.commit(&events.cursor())?;
                    (unsaved, saved_at) = (0, Instant::now());
                }
                let save_timer = async {
                    if unsaved > 0 {
                        tokio::time::sleep_until(due.into()).await;
                    } else {
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    item = events.next() => item,
                    () = save_timer => continue,
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
                sink.write(&event)?;
                summary.events += 1;
                unsaved += 1;
                if unsaved >= BATCH {
                    sink.commit(&events.cursor())?;
                    (unsaved, saved_at) = (0, Instant::now());
                }
            }
            // Every error ends the stream (stalls and skipped events are notices, logged by the
            // library).
            Some(Err(error)) => {
                sink.commit(&events.cursor())?;
                return Err(error.into());
            }
        }
    }
    sink.commit(&events.cursor())?;
    Ok(())
}
