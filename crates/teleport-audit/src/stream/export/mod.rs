//! The export mode of an [`crate::AuditEventStream`]: Teleport's bulk export API
//! (`GetEventExportChunks` + `ExportUnstructuredEvents`, Teleport 16.4+ with Athena, and Cloud).
//!
//! Two sides joined by a bounded queue:
//!
//! - a spawned **driver** ([`driver`]) lists the chunks of the active UTC dates and runs at most
//!   `export_concurrency` **chunk readers** ([`chunk`]), each streaming one chunk from its start
//!   or from a stored per-event position, retrying by itself; what to list and when, which
//!   chunks are new and how the position's dates and caught-up time move are decided by its
//!   pure **core** ([`export_core`]);
//! - the **consumer** ([`ExportMachine`], polled by the caller) takes [`Msg`]s off the queue in
//!   order ([`msg`]) and folds them into the [`ExportPosition`] that [`crate::AuditEventStream::cursor`]
//!   returns. Because every change of the position travels through the queue behind the events
//!   it covers, the position describes exactly what was yielded: an event read ahead but still
//!   queued is not in it, a chunk is done only once its last event was yielded.
//!
//! The algorithm and its guarantees are described in `docs/cursor.md` (section "Export mode").

mod chunk;
mod driver;
mod export_core;
mod listing;
mod msg;
mod rounds;

use std::sync::Arc;
use std::task::{Context, Poll};

use teleport_audit_types::AuditEvent;
use tokio::sync::mpsc;

use export_core::Progress;
use msg::Msg;

use super::config::StreamConfig;
use super::delivery;
use super::notify::Notifier;
use super::task::Task;
use crate::client::Client;
use crate::cursor::ExportPosition;
use crate::error::{Error, ServerError};
use crate::rpc_name::Rpc;
use crate::stats::StatsHandle;

pub(crate) use listing::list_chunks;

/// Messages between the driver and its readers and the consumer, at most this many queued.
/// Memory: this many events read ahead, plus one message per open chunk stream in tonic's
/// buffers.
const QUEUE: usize = 256;

/// The consumer side of an export stream.
pub(crate) struct ExportMachine {
    position: ExportPosition,
    /// The driver, until the first poll spawns it (a runtime is needed).
    driver: Option<driver::Driver>,
    task: Option<Task<()>>,
    rx: mpsc::Receiver<Msg>,
    stats: StatsHandle,
    notifier: Notifier,
    /// [`StreamConfig::skip_event_types`].
    skip_event_types: Arc<[String]>,
    ended: bool,
}

impl std::fmt::Debug for ExportMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportMachine")
            .field("started", &self.driver.is_none())
            .field("ended", &self.ended)
            .field("queued", &self.rx.len())
            .finish_non_exhaustive()
    }
}

impl ExportMachine {
    /// An export from `position`; `start_now` when the stream starts from now (the chunks of
    /// the first listing are then taken as read).
    pub(crate) fn new(
        client: &Client,
        config: &StreamConfig,
        position: ExportPosition,
        start_now: bool,
        notifier: Notifier,
    ) -> Self {
        let stats = notifier.stats().clone();
        let (tx, rx) = mpsc::channel(QUEUE);
        stats.update(|s| s.watermark = Some(position.caught_up));
        let driver =
            driver::Driver::new(client, config, &position, start_now, notifier.clone(), tx);
        Self {
            position,
            driver: Some(driver),
            task: None,
            rx,
            stats,
            notifier,
            skip_event_types: Arc::clone(&config.skip_event_types),
            ended: false,
        }
    }

    /// The position right after the last item yielded.
    pub(crate) fn position(&self) -> &ExportPosition {
        &self.position
    }

    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<AuditEvent, Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Some(driver) = self.driver.take() {
            self.task = Some(Task::spawn(driver.run()));
        }
        loop {
            let Some(msg) = std::task::ready!(self.rx.poll_recv(cx)) else {
                // The driver always says why it stops; a closed queue without that is a bug.
                self.end();
                return Poll::Ready(Some(Err(Error::Server(ServerError::Status {
                    rpc: Rpc::ExportUnstructuredEvents,
                    code: tonic::Code::Internal,
                    message: "the export task ended without a reason".to_owned(),
                }))));
            };
            if let Some(output) = self.apply(msg) {
                return Poll::Ready(output);
            }
        }
    }

    fn end(&mut self) {
        self.ended = true;
        self.task = None;
        self.rx.close();
    }

    /// Folds one message into the position; returns what to yield, if anything.
    fn apply(&mut self, msg: Msg) -> Option<Option<Result<AuditEvent, Error>>> {
        match msg {
            Msg::Item {
                date,
                chunk,
                position,
                item,
            } => {
                self.position.delivered(date, &chunk, position);
                // A skipped type is consumed (the position moves past it) but not yielded.
                return delivery::output(item, &self.notifier, &self.skip_event_types)
                    .map(|event| Some(Ok(event)));
            }
            Msg::ChunkDone { date, chunk } => {
                self.position.chunk_done(date, &chunk);
                self.stats.update(|s| s.chunks_done += 1);
            }
            Msg::Progress(Progress::Listed {
                date,
                taken_as_done,
                from,
            }) => self.position.listed(date, &taken_as_done, from),
            Msg::Progress(Progress::Dropped { date }) => self.position.drop_date(date),
            Msg::Progress(Progress::CaughtUp(time)) => {
                self.position.caught_up_to(time);
                let caught_up = self.position.caught_up;
                self.stats.update(|s| s.watermark = Some(caught_up));
            }
            Msg::Fatal(error) => {
                self.end();
                return Some(Some(Err(error)));
            }
            Msg::Finished => {
                self.end();
                return Some(None);
            }
        }
        None
    }
}
