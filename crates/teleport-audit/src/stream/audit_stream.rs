//! [`AuditEventStream`]: the stream callers hold. It decides the mode (the cursor's, the
//! configured one, or [`Mode::Auto`]'s probe) and hands polls to the search or export machine.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use teleport_audit_types::AuditEvent;
use time::OffsetDateTime;

use super::config::{Start, StreamConfig};
use super::export::ExportMachine;
use super::mode_probe::{ModeProbe, Step};
use super::notify::Notifier;
use super::recordings::Recordings;
use super::recordings::source::RecordingSource;
use super::search::SearchMachine;
use super::time_math::{later, utc};
use crate::client::Client;
use crate::cursor::{Cursor, ExportPosition, Position, SearchPosition, SessionsPosition};
use crate::error::{CursorError, Error};
use crate::mode::Mode;
use crate::notice::Notices;
use crate::stats::{StatsHandle, StreamStats};

/// A stream of a cluster's audit events, resumable from a [`Cursor`] taken at any event.
///
/// Items are `Ok(event)`, or once `Err(error)`, after which the stream ends: an error the
/// stream cannot get past by retrying (an expired identity, a missing permission, a refused
/// cursor). Transient failures are retried inside for as long as they last, so a
/// `while let Some(event) = stream.try_next().await?` loop runs for days across restarts of the
/// Auth Service, dropped connections and stalls. Create it with [`Client::audit_events`].
///
/// What the stream reports while it goes on (a stall and its end, an event too large to receive
/// or impossible to decode, an export chunk given up) is a [`crate::Notice`]: each is logged (one
/// `tracing` warning), counted in [`StreamStats`] (`stalls`, `stalled_since`,
/// `skipped_oversized`, `malformed`, `chunks_skipped`), and sent to every [`Notices`] receiver
/// ([`AuditEventStream::notices`]).
///
/// The stream reads with Teleport's search API or its export API ([`Mode`]); the items, the
/// cursor and the stats work the same in both. Search delivers events in time order; export
/// does not (chunks are read in parallel, and their events are in no particular order).
///
/// ```no_run
/// # async fn run(client: teleport_audit::Client) -> Result<(), teleport_audit::Error> {
/// use futures::{StreamExt as _, TryStreamExt as _};
/// use teleport_audit::StreamConfig;
///
/// let mut events = client.audit_events(StreamConfig::default());
/// // Stalls and skipped events, read in a task of their own.
/// let mut notices = events.notices();
/// tokio::spawn(async move {
///     while let Some(notice) = notices.next().await {
///         eprintln!("{notice} ({}): {}", notice.code(), notice.advice());
///     }
/// });
/// while let Some(event) = events.try_next().await? {
///     println!("{}", event.as_json());
///     let _resume_point = events.cursor(); // store it after the event is handled
/// }
/// # Ok(()) }
/// ```
pub struct AuditEventStream {
    machine: Machine,
    /// The session recordings mode, when on.
    recordings: Option<Box<Recordings>>,
    /// Without it: the sessions part of the resumed cursor, kept as it was.
    sessions: SessionsPosition,
    /// The cluster the client is connected to, recorded in every cursor.
    cluster: String,
    event_types: Vec<String>,
    stats: StatsHandle,
    notifier: Notifier,
}

enum Machine {
    /// Asking the cluster whether it serves export ([`Mode::Auto`]).
    Probing {
        probe: ModeProbe,
        client: Client,
        config: Box<StreamConfig>,
        from: OffsetDateTime,
        start_now: bool,
    },
    Search(Box<SearchMachine>),
    Export(Box<ExportMachine>),
    /// Invalid settings or a fatal probe failure: the error (once), then the end.
    Ended {
        error: Option<Error>,
        cursor: Box<Cursor>,
    },
}

impl std::fmt::Debug for AuditEventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("AuditEventStream");
        match &self.machine {
            Machine::Probing { probe, .. } => out.field("probing", probe),
            Machine::Search(search) => out.field("search", search),
            Machine::Export(export) => out.field("export", export),
            Machine::Ended { .. } => out.field("ended", &true),
        };
        out.field("cursor", &self.cursor()).finish_non_exhaustive()
    }
}

impl Client {
    /// A stream of the cluster's audit events (see [`AuditEventStream`]).
    pub fn audit_events(&self, config: StreamConfig) -> AuditEventStream {
        AuditEventStream::new(self.clone(), config)
    }
}

impl AuditEventStream {
    fn new(client: Client, config: StreamConfig) -> Self {
        let stats = StatsHandle::with_identity_status({
            let client = client.clone();
            move || client.identity_status()
        });
        let notifier = Notifier::new(stats.clone());
        let event_types = config.event_types.clone();
        let now = utc(OffsetDateTime::now_utc());
        let (from, start_now) = match &config.start {
            Start::Now => (now, true),
            Start::At(time) => (utc(*time), false),
            Start::Resume(cursor) => (cursor.watermark(), false),
        };
        let cluster = client.cluster_name().to_owned();
        let recordings_settings = config.session_recordings.clone();
        let sessions = match &config.start {
            Start::Resume(cursor) => cursor.sessions.clone(),
            Start::Now | Start::At(_) => SessionsPosition::default(),
        };
        let source_client = client.clone();
        let machine = match config
            .validate()
            .and_then(|()| same_cluster(&config.start, &cluster))
            .and_then(|()| not_ahead(&config.start, client.server_clock_offset()))
        {
            Err(error) => {
                let cursor = match &config.start {
                    Start::Resume(cursor) => (**cursor).clone(),
                    _ => Cursor {
                        cluster: Some(cluster.clone()),
                        event_types: event_types.clone(),
                        position: Position::Search(SearchPosition::starting_at(from)),
                        sessions: SessionsPosition::default(),
                    },
                };
                Machine::Ended {
                    error: Some(error),
                    cursor: Box::new(cursor),
                }
            }
            Ok(()) => match &config.start {
                Start::Resume(cursor) => match &cursor.position {
                    Position::Search(position) => {
                        search(&client, config.clone(), position.clone(), false, &notifier)
                    }
                    Position::Export(position) => {
                        export(&client, &config, position.clone(), false, &notifier)
                    }
                },
                _ => match config.mode {
                    Mode::Search => search(
                        &client,
                        config,
                        SearchPosition::starting_at(from),
                        start_now,
                        &notifier,
                    ),
                    Mode::Export => export(
                        &client,
                        &config,
                        ExportPosition::starting_at(from),
                        start_now,
                        &notifier,
                    ),
                    _ => Machine::Probing {
                        probe: ModeProbe::new(&client, &config, notifier.clone()),
                        client,
                        config: Box::new(config),
                        from,
                        start_now,
                    },
                },
            },
        };
        let recordings = match (recordings_settings, &machine) {
            (Some(settings), Machine::Probing { .. } | Machine::Search(_) | Machine::Export(_)) => {
                let clock_offset = source_client.server_clock_offset();
                let source: Arc<dyn RecordingSource> = Arc::new(source_client);
                Some(Box::new(Recordings::new(
                    settings,
                    sessions.clone(),
                    source,
                    notifier.clone(),
                    clock_offset,
                )))
            }
            _ => None,
        };
        Self {
            machine,
            recordings,
            sessions,
            cluster,
            event_types,
            stats,
            notifier,
        }
    }

    /// The position right after the last event this stream yielded. Store it (for example with
    /// [`crate::FileCursorStore`]) once the events before it are safely handled; a stream
    /// resumed from it ([`StreamConfig::resume_from`]) yields exactly the events after them.
    ///
    /// Before [`Mode::Auto`] has decided, this is a search cursor at the stream's start (a
    /// stream resumed from it reads with search from there: nothing is missed).
    pub fn cursor(&self) -> Cursor {
        let position = match &self.machine {
            Machine::Probing { from, .. } => Position::Search(SearchPosition::starting_at(*from)),
            Machine::Search(search) => Position::Search(search.position().clone()),
            Machine::Export(export) => Position::Export(export.position().clone()),
            Machine::Ended { cursor, .. } => {
                let mut cursor = (**cursor).clone();
                if let Some(recordings) = &self.recordings {
                    cursor.sessions = recordings.position().clone();
                }
                return cursor;
            }
        };
        let sessions = match &self.recordings {
            Some(recordings) => recordings.position().clone(),
            None => self.sessions.clone(),
        };
        Cursor {
            cluster: Some(self.cluster.clone()),
            event_types: self.event_types.clone(),
            position,
            sessions,
        }
    }

    /// Session recordings mode ([`StreamConfig::session_recordings`]): the session id when the
    /// item yielded last is a recording event, `None` when it is an audit event (or the mode is
    /// off). A recording's events carry the session's `sid` too, but its `session.start` and
    /// `session.end` are also in the audit log with the same `uid`: this tells them apart.
    pub fn last_recording(&self) -> Option<&str> {
        self.recordings
            .as_ref()
            .and_then(|recordings| recordings.last_recording())
    }

    /// The API the stream reads with: [`Mode::Search`] or [`Mode::Export`], or [`Mode::Auto`]
    /// while it is still asking the cluster.
    pub fn mode(&self) -> Mode {
        match &self.machine {
            Machine::Search(_) => Mode::Search,
            Machine::Export(_) => Mode::Export,
            Machine::Probing { .. } | Machine::Ended { .. } => Mode::Auto,
        }
    }

    /// A snapshot of the stream's counters.
    pub fn stats(&self) -> StreamStats {
        self.stats.get()
    }

    /// A handle to read the stream's counters from another task.
    pub fn stats_handle(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// A receiver of the stream's [`crate::Notice`]s from now on (call it before polling the stream to
    /// miss none); as many receivers as wanted, each `Send`, to read in any task.
    ///
    /// The event stream never waits for a receiver: one that falls more than
    /// [`crate::NOTICE_BUFFER`] notices behind loses the oldest and gets a [`crate::Notice::Missed`]
    /// in their place. Every notice is also logged and counted in [`StreamStats`], whether or
    /// not anyone receives it. The receiver ends once this stream is dropped.
    pub fn notices(&self) -> Notices {
        self.notifier.subscribe()
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<AuditEvent, Error>>> {
        let Self {
            machine,
            recordings,
            cluster,
            event_types,
            notifier,
            ..
        } = self;
        let mut audit =
            |cx: &mut Context<'_>| poll_machine(machine, cx, cluster, event_types, notifier);
        match recordings {
            Some(recordings) => recordings.poll_next(cx, &mut audit),
            None => audit(cx),
        }
    }
}

/// The audit stream's next item: the search or export machine's, after the mode probe.
fn poll_machine(
    machine: &mut Machine,
    cx: &mut Context<'_>,
    cluster: &str,
    event_types: &[String],
    notifier: &Notifier,
) -> Poll<Option<Result<AuditEvent, Error>>> {
    {
        loop {
            match machine {
                Machine::Search(search) => return search.poll_next(cx),
                Machine::Export(export) => return export.poll_next(cx),
                Machine::Ended { error, .. } => return Poll::Ready(error.take().map(Err)),
                Machine::Probing {
                    probe,
                    client,
                    config,
                    from,
                    start_now,
                } => match std::task::ready!(probe.poll(cx)) {
                    Step::Fatal(error) => {
                        let cursor = Box::new(Cursor {
                            cluster: Some(cluster.to_owned()),
                            event_types: event_types.to_vec(),
                            position: Position::Search(SearchPosition::starting_at(*from)),
                            sessions: SessionsPosition::default(),
                        });
                        *machine = Machine::Ended {
                            error: None,
                            cursor,
                        };
                        return Poll::Ready(Some(Err(error)));
                    }
                    Step::Decided(Mode::Export) => {
                        let position = ExportPosition::starting_at(*from);
                        *machine = export(client, config, position, *start_now, notifier);
                    }
                    Step::Decided(_) => {
                        let position = SearchPosition::starting_at(*from);
                        let config = (**config).clone();
                        *machine = search(client, config, position, *start_now, notifier);
                    }
                },
            }
        }
    }
}

/// A resumed stream must be on the cluster its cursor was taken on (cursors written before the
/// cluster was recorded fit any cluster).
fn same_cluster(start: &Start, cluster: &str) -> Result<(), Error> {
    match start {
        Start::Resume(cursor) => match cursor.cluster() {
            Some(taken_on) if taken_on != cluster => {
                Err(Error::Cursor(CursorError::FromOtherCluster {
                    cursor: taken_on.to_owned(),
                    client: cluster.to_owned(),
                }))
            }
            _ => Ok(()),
        },
        Start::Now | Start::At(_) => Ok(()),
    }
}

/// A resumed cursor holds no time ahead of the server's clock (see
/// [`super::server_time::cursor_bound`]).
fn not_ahead(start: &Start, server_offset: Option<time::Duration>) -> Result<(), Error> {
    let Start::Resume(cursor) = start else {
        return Ok(());
    };
    let (field, time) = cursor.latest_time();
    let (server_now, tolerance) =
        super::server_time::cursor_bound(utc(OffsetDateTime::now_utc()), server_offset);
    if time > later(server_now, tolerance) {
        return Err(Error::Cursor(CursorError::Ahead {
            field,
            time,
            server_now,
            tolerance,
        }));
    }
    Ok(())
}

fn search(
    client: &Client,
    config: StreamConfig,
    position: SearchPosition,
    start_now: bool,
    notifier: &Notifier,
) -> Machine {
    notifier.stats().update(|s| s.mode = Some(Mode::Search));
    Machine::Search(Box::new(SearchMachine::new(
        client,
        &config,
        position,
        start_now,
        notifier.clone(),
    )))
}

fn export(
    client: &Client,
    config: &StreamConfig,
    position: ExportPosition,
    start_now: bool,
    notifier: &Notifier,
) -> Machine {
    notifier.stats().update(|s| s.mode = Some(Mode::Export));
    Machine::Export(Box::new(ExportMachine::new(
        client,
        config,
        position,
        start_now,
        notifier.clone(),
    )))
}

impl Stream for AuditEventStream {
    type Item = Result<AuditEvent, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = this.poll_item(cx);
        if let Poll::Ready(Some(Err(error))) = &item {
            // Every error ends the stream. For health checks: `StreamStats::fatal`.
            this.stats.update(|s| s.fatal = Some(error.code()));
        }
        item
    }
}
