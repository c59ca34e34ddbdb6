//! The export driver: [`Driver`], which does the I/O for [`ExportCore`].
//!
//! One [`State`], one [`Driver::step`]: the driver asks the core what to do
//! ([`ExportCore::next_action`]), does it (spawns chunk readers into a `JoinSet`, lists dates,
//! waits for a reader or a time), hands the outcome back ([`ExportCore::listed`],
//! [`ExportCore::listing_failed`], [`ExportCore::reader_done`]) and queues the [`Progress`] the
//! core answers for the consumer. The rules themselves (which dates to list and when, which
//! chunks are new, the caught-up time, dropping dates, the end) are in [`super::export_core`].
//!
//! Unlike search's `step`, which is polled inside the caller's `poll_next`, this `step` is an
//! `async fn` returning the next state: the driver runs as its own spawned task (the consumer
//! only drains the queue), and every message it queues must wait for room in the bounded queue,
//! which an `await` says plainly. Listings are awaited in the step (while the readers go on in
//! their tasks), so a reader's end is taken in between listings, never during one.

use std::sync::Arc;
use std::time::Duration;

use time::{Date, OffsetDateTime};
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;
use tracing::Instrument as _;

use super::chunk::{self, Ending, Filter, Shared};
use super::export_core::{Action, ChunkJob, ExportCore, Kind, Progress, Settings};
use super::listing::list_chunks;
use super::msg::Msg;
use crate::client::Client;
use crate::cursor::{ExportPosition, date_text};
use crate::error::Error;
use crate::stream::config::StreamConfig;
use crate::stream::notify::Notifier;
use crate::stream::retry::{Retrier, Verdict};
use crate::stream::task;
use crate::stream::time_math::utc;

/// The driver of one export stream (spawned on the stream's first poll).
pub(super) struct Driver {
    shared: Arc<Shared>,
    filter: Arc<Filter>,
    core: ExportCore,
    readers: JoinSet<(Date, u64, Ending)>,
    retrier: Retrier,
    /// Where the core's clock is at zero.
    origin: Instant,
}

enum State {
    /// Ask the core what to do next.
    Plan,
    /// List these dates, one after another.
    Listing { kind: Kind, dates: Vec<Date> },
    /// Wait for a reader to end, or until this time.
    Waiting { until: Instant },
    /// A fatal error: queue it, then stop.
    Failed(Error),
    /// The end time was reached: say so, then stop.
    Finished,
    /// Stopped: the consumer was told why, or is gone.
    Done,
}

/// This machine's time.
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

impl Driver {
    pub(super) fn new(
        client: &Client,
        config: &StreamConfig,
        position: &ExportPosition,
        start_now: bool,
        notifier: Notifier,
        tx: mpsc::Sender<Msg>,
    ) -> Self {
        let settings = Settings::from_config(config, client.server_clock_offset());
        Self {
            retrier: Retrier::new(config, notifier.clone()),
            shared: Arc::new(Shared {
                channel: client.channel().clone(),
                config: config.clone(),
                request_timeout: config.request_timeout.unwrap_or(client.request_timeout()),
                stats: notifier.stats().clone(),
                notifier,
                tx,
            }),
            filter: Arc::new(Filter {
                from: position.from,
                end: config.end.map(utc),
                types: config.event_types.clone(),
            }),
            core: ExportCore::new(settings, position, start_now),
            readers: JoinSet::new(),
            origin: Instant::now(),
        }
    }

    pub(super) async fn run(mut self) {
        let mut state = State::Plan;
        while !matches!(state, State::Done) {
            state = self.step(state).await;
        }
    }

    /// One transition.
    async fn step(&mut self, state: State) -> State {
        match state {
            State::Plan => self.plan(),
            State::Listing { kind, dates } => self.list(kind, dates).await,
            State::Waiting { until } => {
                tokio::select! {
                    Some(joined) = self.readers.join_next(), if !self.readers.is_empty() => {
                        self.reader_finished(joined).await
                    }
                    () = tokio::time::sleep_until(until) => State::Plan,
                }
            }
            State::Failed(error) => {
                let _ = self.shared.tx.send(Msg::Fatal(error)).await;
                State::Done
            }
            State::Finished => {
                tracing::info!("export reached the end time");
                let _ = self.shared.tx.send(Msg::Finished).await;
                State::Done
            }
            State::Done => State::Done,
        }
    }

    /// The server's date now ([`ExportCore::today`]).
    fn today(&self) -> Date {
        self.core.today(now())
    }

    /// The core's clock now.
    fn clock(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }

    /// Asks the core what to do, and starts doing it.
    fn plan(&mut self) -> State {
        match self.core.next_action(self.clock(), self.today()) {
            Action::Read(jobs) => {
                for job in jobs {
                    self.start_reader(job);
                }
                State::Plan
            }
            Action::List { kind, dates } => State::Listing { kind, dates },
            Action::Wait {
                until,
                late_events_until,
            } => {
                self.publish_late_events_until(late_events_until);
                State::Waiting {
                    until: self.origin + until,
                }
            }
            Action::Finished { late_events_until } => {
                self.publish_late_events_until(Some(late_events_until));
                State::Finished
            }
        }
    }

    fn publish_late_events_until(&self, until: Option<OffsetDateTime>) {
        if let Some(until) = until {
            self.shared
                .stats
                .update(|s| s.waiting_for_late_events_until = Some(until));
        }
    }

    fn start_reader(&mut self, job: ChunkJob) {
        let span = tracing::info_span!(
            "audit_export_chunk",
            date = %date_text(job.date),
            chunk = %job.name,
            resumed = !job.position.is_empty(),
        );
        let (date, round) = (job.date, job.round);
        let read = chunk::read(Arc::clone(&self.shared), Arc::clone(&self.filter), job);
        self.readers
            .spawn(async move { (date, round, read.await) }.instrument(span));
    }

    /// Lists `dates`, then hands what was found to the core.
    async fn list(&mut self, kind: Kind, dates: Vec<Date>) -> State {
        let started = now();
        let sent_at = std::time::Instant::now();
        let found = match self.list_dates(kind, dates).await {
            Ok(found) => found,
            Err(error) => {
                return match self.retrier.failed(error, "export chunk listing", sent_at) {
                    Verdict::Fatal(error) => State::Failed(error),
                    Verdict::Retry { delay } => {
                        self.core.listing_failed(self.clock(), delay);
                        State::Plan
                    }
                };
            }
        };
        if !found.is_empty() {
            self.retrier.succeeded();
        }
        let listings = found.len() as u64;
        self.shared.stats.update(|s| s.chunk_listings += listings);
        let listed_at = now();
        let taken = self.core.listed(
            kind,
            found,
            started,
            listed_at,
            self.clock(),
            self.core.today(listed_at),
        );
        for (date, new) in taken.new_chunks {
            tracing::debug!(
                date = %date_text(date),
                new,
                kind = kind.name(),
                "new export chunks"
            );
        }
        self.report(taken.progress).await
    }

    /// The chunk names of each of `dates`, listed one after another; the first failure ends it.
    async fn list_dates(
        &self,
        kind: Kind,
        dates: Vec<Date>,
    ) -> Result<Vec<(Date, Vec<String>)>, Error> {
        let mut found = Vec::with_capacity(dates.len());
        for date in dates {
            let span = tracing::info_span!(
                "audit_export_listing",
                date = %date_text(date),
                kind = kind.name(),
            );
            let timeout = self.shared.request_timeout;
            let names = list_chunks(self.shared.channel.clone(), date, timeout)
                .instrument(span)
                .await?;
            found.push((date, names));
        }
        Ok(found)
    }

    async fn reader_finished(&mut self, joined: Result<(Date, u64, Ending), JoinError>) -> State {
        match joined {
            Ok((date, round, Ending::Done)) => {
                let progress = self.core.reader_done(date, round, self.today());
                self.report(progress).await
            }
            Ok((_, _, Ending::Stop)) => State::Done,
            Err(error) => State::Failed(task::failed("export chunk reader", &error)),
        }
    }

    /// Queues the core's progress for the consumer (a stream from now starts at the `from` its
    /// first listing gives).
    async fn report(&mut self, progress: Vec<Progress>) -> State {
        for progress in progress {
            match &progress {
                Progress::Listed {
                    date,
                    taken_as_done,
                    from: Some(from),
                } => {
                    self.filter = Arc::new(Filter {
                        from: *from,
                        end: self.filter.end,
                        types: self.filter.types.clone(),
                    });
                    tracing::info!(
                        date = %date_text(*date),
                        chunks = taken_as_done.len(),
                        %from,
                        "export starts from now: the chunks written so far are taken as read"
                    );
                }
                Progress::Dropped { date } => tracing::info!(
                    date = %date_text(*date),
                    "export date read completely and out of the lookback window; no longer followed"
                ),
                Progress::Listed { from: None, .. } | Progress::CaughtUp(_) => {}
            }
            if self.shared.tx.send(Msg::Progress(progress)).await.is_err() {
                return State::Done;
            }
        }
        State::Plan
    }
}
