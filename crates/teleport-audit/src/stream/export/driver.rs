//! The export driver: which dates to list and when, which chunks are new, at most
//! `export_concurrency` chunk readers at a time, and the bookkeeping that lets the consumer's
//! position follow (dates listed and dropped, the caught-up time, the end).
//!
//! Dates are taken in order from the start date ("progression": the next date is listed as soon
//! as every chunk found so far has been started), so a long backfill holds one date's chunk
//! names at a time. Every `export_poll_interval`, the followed dates inside the lookback window
//! are listed again for chunks that appeared since. A date older than the window is dropped
//! once every chunk found for it has been read.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use time::{Date, OffsetDateTime};
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;
use tracing::Instrument as _;

use super::Msg;
use super::chunk::{self, ChunkJob, Ending, Filter, Shared};
use super::listing::list_chunks;
use crate::client::Client;
use crate::cursor::{ExportPosition, chunk_hash, date_text};
use crate::error::Error;
use crate::stream::config::StreamConfig;
use crate::stream::notify::Notifier;
use crate::stream::retry::{Retrier, Verdict};
use crate::stream::server_time::MAX_CLOCK_SKEW;
use crate::stream::task;
use crate::stream::time_math::{earlier, later, utc};

/// The driver of one export stream (spawned on the stream's first poll).
pub(super) struct Driver {
    shared: Arc<Shared>,
    filter: Arc<Filter>,
    /// The stream starts from now and its first listing has not happened yet.
    start_now: bool,
    concurrency: usize,
    lookback_days: i64,
    poll_interval: Duration,
    lateness: Duration,
    /// The proxy's clock minus this machine's, if the proxy told it
    /// ([`Client::server_clock_offset`]).
    clock_offset: Option<time::Duration>,
    /// The next date to list for the first time.
    next_date: Date,
    /// The dates followed: listed and not yet dropped.
    dates: BTreeMap<Date, DateWork>,
    /// Followed dates of a resumed cursor, to list before anything else.
    needs_listing: BTreeSet<Date>,
    /// Chunks found and not started yet.
    pending: VecDeque<ChunkJob>,
    readers: JoinSet<(Date, u64, Ending)>,
    rounds: Rounds,
    relist_at: Instant,
    retry_at: Option<Instant>,
    retrier: Retrier,
}

/// What the driver knows of one followed date.
#[derive(Debug, Default)]
struct DateWork {
    /// Every chunk found (done, being read or waiting), hashed.
    known: HashSet<u64>,
    /// Chunks found and not read to the end yet.
    outstanding: usize,
    /// When the last listing of the date started.
    last_listed: Option<OffsetDateTime>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A date listed for the first time.
    First,
    /// Dates of a resumed cursor.
    Resume,
    /// The followed dates inside the lookback window, again.
    Relist,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::First => "first",
            Kind::Resume => "resume",
            Kind::Relist => "relist",
        }
    }
}

/// Whether the driver goes on (false: a fatal error was queued, or the consumer is gone).
type Go = bool;

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

/// Where a stream from now starts, given this machine's time of the first listing: the server's
/// time then (the proxy's `Date` is cut to the second, so this is up to a second early, never
/// late), or, if the server's clock is unknown, as early as this machine's clock may be ahead of
/// it.
fn start_from(listed_at: OffsetDateTime, offset: Option<time::Duration>) -> OffsetDateTime {
    match offset.and_then(|offset| listed_at.checked_add(offset)) {
        Some(server_time) => server_time,
        None => earlier(listed_at, MAX_CLOCK_SKEW),
    }
}

fn next_day(date: Date) -> Date {
    date.next_day().unwrap_or(date)
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
        let filter = Filter {
            from: position.from,
            end: config.end.map(utc),
            types: config.event_types.clone(),
        };
        let mut rounds = Rounds::new(position.caught_up);
        let mut dates = BTreeMap::new();
        let mut needs_listing = BTreeSet::new();
        let mut pending = VecDeque::new();
        for (date, followed) in &position.dates {
            let mut work = DateWork::default();
            work.known.extend(followed.done.hashes());
            for (name, at) in &followed.reading {
                work.known.insert(chunk_hash(name));
                work.outstanding += 1;
                rounds.add(0);
                pending.push_back(ChunkJob {
                    date: *date,
                    name: Arc::from(name.as_str()),
                    position: at.clone(),
                    round: 0,
                });
            }
            dates.insert(*date, work);
            needs_listing.insert(*date);
        }
        let start_now = start_now && position.listed_through.is_none();
        // From now: this machine's date may not be the server's (a clock off by up to
        // MAX_CLOCK_SKEW around midnight), so the chunks of the day before are taken as read too.
        let first_date = if start_now {
            earlier(position.from, MAX_CLOCK_SKEW).date()
        } else {
            position.from.date()
        };
        let next_date = position.listed_through.map_or(first_date, next_day);
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
            filter: Arc::new(filter),
            start_now,
            concurrency: config.export_concurrency,
            lookback_days: config.lookback_days(),
            poll_interval: config.export_poll_interval,
            lateness: config.export_lateness(),
            clock_offset: client.server_clock_offset(),
            next_date,
            dates,
            needs_listing,
            pending,
            readers: JoinSet::new(),
            rounds,
            relist_at: Instant::now() + config.export_poll_interval,
            retry_at: None,
        }
    }

    pub(super) async fn run(mut self) {
        loop {
            self.start_readers();
            if let Some((kind, dates)) = self.due(Instant::now()) {
                if !self.list(kind, dates).await {
                    return;
                }
                continue;
            }
            if let Some(until) = self.waiting_for_late_events_until() {
                self.shared
                    .stats
                    .update(|s| s.waiting_for_late_events_until = Some(until));
            }
            if self.finished() {
                tracing::info!("export reached the end time");
                let _ = self.shared.tx.send(Msg::Finished).await;
                return;
            }
            // Nothing is due: the next listing is the retry of a failed one, if waiting, else
            // the next poll (which also notices a new date at midnight).
            let wake = match self.retry_at {
                Some(at) if at > Instant::now() => at,
                _ => self.relist_at,
            };
            tokio::select! {
                Some(joined) = self.readers.join_next(), if !self.readers.is_empty() => {
                    if !self.reader_finished(joined).await {
                        return;
                    }
                }
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// The newest date to list: today, or the end time's date.
    fn last_date(&self, today: Date) -> Date {
        self.filter.end.map_or(today, |end| end.date().min(today))
    }

    /// The oldest date inside the lookback window.
    fn oldest_followed(&self, today: Date) -> Date {
        today
            .checked_sub(time::Duration::days(self.lookback_days))
            .unwrap_or(Date::MIN)
    }

    /// The listing to do now, if any.
    fn due(&self, now: Instant) -> Option<(Kind, Vec<Date>)> {
        if self.retry_at.is_some_and(|at| now < at) {
            return None;
        }
        if !self.needs_listing.is_empty() {
            return Some((Kind::Resume, self.needs_listing.iter().copied().collect()));
        }
        let today = today();
        let last = self.last_date(today);
        if self.pending.is_empty() && self.next_date <= last {
            return Some((Kind::First, vec![self.next_date]));
        }
        if now >= self.relist_at {
            let oldest = self.oldest_followed(today);
            let dates = self
                .dates
                .keys()
                .copied()
                .filter(|date| *date >= oldest && *date <= last)
                .collect();
            return Some((Kind::Relist, dates));
        }
        None
    }

    /// Lists `dates`, then takes in what was found.
    async fn list(&mut self, kind: Kind, dates: Vec<Date>) -> Go {
        let started = OffsetDateTime::now_utc();
        let mut found = Vec::with_capacity(dates.len());
        for date in dates {
            let span = tracing::info_span!(
                "audit_export_listing",
                date = %date_text(date),
                kind = kind.name(),
            );
            let timeout = self.shared.request_timeout;
            match list_chunks(self.shared.channel.clone(), date, timeout)
                .instrument(span)
                .await
            {
                Ok(names) => found.push((date, names)),
                Err(error) => return self.listing_failed(error).await,
            }
        }
        if !found.is_empty() {
            self.retrier.succeeded();
        }
        self.retry_at = None;
        let listings = found.len() as u64;
        self.shared.stats.update(|s| s.chunk_listings += listings);
        let listed_at = OffsetDateTime::now_utc();
        let round = self.rounds.begin();
        for (date, names) in found {
            if !self
                .take_in(kind, date, names, started, listed_at, round)
                .await
            {
                return false;
            }
        }
        if kind == Kind::Relist {
            self.relist_at = Instant::now() + self.poll_interval;
        }
        // Everything listed now and everything before the next date to list is covered.
        let covers = started.min(self.next_date.midnight().assume_utc());
        self.rounds.set_covers(round, covers);
        self.progress().await
    }

    async fn listing_failed(&mut self, error: Error) -> Go {
        match self.retrier.failed(error, "export chunk listing") {
            Verdict::Fatal(error) => {
                let _ = self.shared.tx.send(Msg::Fatal(error)).await;
                false
            }
            Verdict::Retry { delay } => {
                self.retry_at = Some(Instant::now() + delay);
                true
            }
        }
    }

    /// Takes in a listing of `date`: new chunks wait to be read (or, at a start from now, are
    /// taken as read).
    async fn take_in(
        &mut self,
        kind: Kind,
        date: Date,
        names: Vec<String>,
        started: OffsetDateTime,
        listed_at: OffsetDateTime,
        round: u64,
    ) -> Go {
        let work = self.dates.entry(date).or_default();
        work.last_listed = Some(started);
        let new: Vec<(String, u64)> = names
            .into_iter()
            .filter_map(|name| {
                let hash = chunk_hash(&name);
                work.known.insert(hash).then_some((name, hash))
            })
            .collect();
        if kind == Kind::Resume {
            self.needs_listing.remove(&date);
        }
        if kind == Kind::First {
            self.next_date = next_day(date);
            if self.start_now {
                // Every chunk listed now was written before now, so it needs no reading: the
                // stream starts with the chunks written after this listing. Their events are
                // new to the log; the time filter only keeps out what is clearly older, and
                // allows for this machine's clock being off the server's (events are stamped by
                // the server's), so that a clock ahead does not drop the first new events.
                // Every date up to this machine's today is taken in this way.
                self.start_now = date < today();
                let from = start_from(listed_at, self.clock_offset);
                self.filter = Arc::new(Filter {
                    from,
                    end: self.filter.end,
                    types: self.filter.types.clone(),
                });
                tracing::info!(
                    date = %date_text(date),
                    chunks = new.len(),
                    %from,
                    "export starts from now: the chunks written so far are taken as read"
                );
                let msg = Msg::Listed {
                    date,
                    taken_as_done: new.iter().map(|(_, hash)| *hash).collect(),
                    from: Some(from),
                };
                return self.shared.tx.send(msg).await.is_ok();
            }
            let msg = Msg::Listed {
                date,
                taken_as_done: Vec::new(),
                from: None,
            };
            if self.shared.tx.send(msg).await.is_err() {
                return false;
            }
        }
        if !new.is_empty() {
            tracing::debug!(
                date = %date_text(date),
                new = new.len(),
                kind = kind.name(),
                "new export chunks"
            );
        }
        if let Some(work) = self.dates.get_mut(&date) {
            work.outstanding += new.len();
        }
        for (name, _) in new {
            self.rounds.add(round);
            self.pending.push_back(ChunkJob {
                date,
                name: Arc::from(name),
                position: String::new(),
                round,
            });
        }
        true
    }

    fn start_readers(&mut self) {
        while self.readers.len() < self.concurrency {
            let Some(job) = self.pending.pop_front() else {
                break;
            };
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
    }

    async fn reader_finished(&mut self, joined: Result<(Date, u64, Ending), JoinError>) -> Go {
        match joined {
            Ok((date, round, Ending::Done)) => {
                if let Some(work) = self.dates.get_mut(&date) {
                    work.outstanding = work.outstanding.saturating_sub(1);
                }
                self.rounds.finish(round);
                self.progress().await
            }
            Ok((_, _, Ending::Stop)) => false,
            Err(error) => {
                let error = task::failed("export chunk reader", &error);
                let _ = self.shared.tx.send(Msg::Fatal(error)).await;
                false
            }
        }
    }

    /// Reports a new caught-up time, and drops the dates older than the lookback window that
    /// have been read completely.
    async fn progress(&mut self) -> Go {
        if let Some(time) = self.rounds.advance()
            && self.shared.tx.send(Msg::CaughtUp(time)).await.is_err()
        {
            return false;
        }
        let oldest = self.oldest_followed(today());
        let read: Vec<Date> = self
            .dates
            .iter()
            .filter(|(date, work)| {
                **date < oldest
                    && work.last_listed.is_some()
                    && work.outstanding == 0
                    && !self.needs_listing.contains(date)
            })
            .map(|(date, _)| *date)
            .collect();
        for date in read {
            self.dates.remove(&date);
            tracing::info!(
                date = %date_text(date),
                "export date read completely and out of the lookback window; no longer followed"
            );
            if self.shared.tx.send(Msg::Dropped { date }).await.is_err() {
                return false;
            }
        }
        true
    }

    /// With an end time: once every date up to it has been listed and every chunk found read,
    /// the time until which the stream waits for late chunks (the end plus the lateness bound).
    fn waiting_for_late_events_until(&self) -> Option<OffsetDateTime> {
        let end = self.filter.end?;
        (self.next_date > end.date()
            && self.needs_listing.is_empty()
            && self.pending.is_empty()
            && self.readers.is_empty())
        .then(|| later(end, self.lateness))
    }

    /// With an end time: every date up to it has been listed, every chunk found has been read,
    /// and every followed date inside the window up to it was last listed after the end plus
    /// the lateness bound (so chunks written late for it had time to appear).
    fn finished(&self) -> bool {
        let Some(end) = self.filter.end else {
            return false;
        };
        let end_date = end.date();
        if self.next_date <= end_date
            || !self.needs_listing.is_empty()
            || !self.pending.is_empty()
            || !self.readers.is_empty()
        {
            return false;
        }
        let settled = later(end, self.lateness);
        let oldest = self.oldest_followed(today());
        self.dates
            .iter()
            .filter(|(date, _)| **date >= oldest && **date <= end_date)
            .all(|(_, work)| work.last_listed.is_some_and(|at| at >= settled))
    }
}

/// Listing rounds and their chunks still being read: the caught-up time is what the newest
/// round covers such that it and every round before it has been read completely.
#[derive(Debug)]
struct Rounds {
    next: u64,
    open: BTreeMap<u64, Round>,
}

#[derive(Debug)]
struct Round {
    /// What the round covers (set once its listing is taken in).
    covers: Option<OffsetDateTime>,
    outstanding: usize,
}

impl Rounds {
    /// Round 0 stands for the resumed chunks, covering the cursor's caught-up time.
    fn new(caught_up: OffsetDateTime) -> Self {
        let mut open = BTreeMap::new();
        open.insert(
            0,
            Round {
                covers: Some(caught_up),
                outstanding: 0,
            },
        );
        Self { next: 1, open }
    }

    fn begin(&mut self) -> u64 {
        let id = self.next;
        self.next += 1;
        self.open.insert(
            id,
            Round {
                covers: None,
                outstanding: 0,
            },
        );
        id
    }

    fn add(&mut self, id: u64) {
        if let Some(round) = self.open.get_mut(&id) {
            round.outstanding += 1;
        }
    }

    fn finish(&mut self, id: u64) {
        if let Some(round) = self.open.get_mut(&id) {
            round.outstanding = round.outstanding.saturating_sub(1);
        }
    }

    fn set_covers(&mut self, id: u64, covers: OffsetDateTime) {
        if let Some(round) = self.open.get_mut(&id) {
            round.covers = Some(covers);
        }
    }

    /// Closes the oldest rounds that are read completely; returns what the newest of them
    /// covers.
    fn advance(&mut self) -> Option<OffsetDateTime> {
        let mut reached = None;
        while let Some(entry) = self.open.first_entry() {
            match entry.get() {
                Round {
                    covers: Some(covers),
                    outstanding: 0,
                } => {
                    reached = Some(*covers);
                    entry.remove();
                }
                _ => break,
            }
        }
        reached
    }
}

#[cfg(test)]
mod start_tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_stream_from_now_starts_at_the_servers_time_when_known() {
        let listed_at = datetime!(2025-12-02 12:00 UTC);
        assert_eq!(
            start_from(listed_at, Some(time::Duration::hours(-1))),
            datetime!(2025-12-02 11:00 UTC)
        );
        assert_eq!(start_from(listed_at, Some(time::Duration::ZERO)), listed_at);
        assert_eq!(start_from(listed_at, None), datetime!(2025-12-02 10:00 UTC));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn caught_up_waits_for_every_older_round() {
        let mut rounds = Rounds::new(datetime!(2025-12-02 09:00 UTC));
        rounds.add(0);
        let first = rounds.begin();
        rounds.add(first);
        rounds.set_covers(first, datetime!(2025-12-02 10:00 UTC));
        let second = rounds.begin();
        rounds.set_covers(second, datetime!(2025-12-02 10:15 UTC));
        // Round 0 still has a chunk being read: nothing is caught up beyond it.
        assert_eq!(rounds.advance(), None);
        rounds.finish(0);
        assert_eq!(rounds.advance(), Some(datetime!(2025-12-02 09:00 UTC)));
        rounds.finish(first);
        assert_eq!(rounds.advance(), Some(datetime!(2025-12-02 10:15 UTC)));
        assert_eq!(rounds.advance(), None);
        // A round whose listing is not taken in yet holds the ones after it.
        let third = rounds.begin();
        let fourth = rounds.begin();
        rounds.set_covers(fourth, datetime!(2025-12-02 10:45 UTC));
        assert_eq!(rounds.advance(), None);
        rounds.set_covers(third, datetime!(2025-12-02 10:30 UTC));
        assert_eq!(rounds.advance(), Some(datetime!(2025-12-02 10:45 UTC)));
    }
}
