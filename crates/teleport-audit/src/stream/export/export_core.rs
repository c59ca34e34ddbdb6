//! The export mode's core: the rules that decide which dates are listed and when, which chunks
//! are read, and how the consumer's position follows (dates listed and dropped, the caught-up
//! time, the end), over plain data (no I/O, no clock, no async). The driver
//! ([`super::driver`]) asks [`ExportCore::next_action`] what to do, does it (starts readers,
//! lists dates, waits), and hands the outcome back ([`ExportCore::listed`],
//! [`ExportCore::listing_failed`], [`ExportCore::reader_done`]); the core answers with the
//! [`Progress`] to queue for the consumer. Times are arguments, never read here: this machine's
//! wall clock (`OffsetDateTime`; "today" is the server's UTC date at that time,
//! [`ExportCore::today`]) and the driver's monotonic clock for
//! polls and retries (a `Duration` since the core was made).
//!
//! The rules (`docs/cursor.md`, section "Export mode"):
//!
//! - **Order of listings.** A resumed cursor's followed dates are listed before anything else
//!   ([`Kind::Resume`]). Then dates are taken in order from the start date up to today (or the
//!   end time's date): the next date is listed once every chunk found so far has been started
//!   ([`Kind::First`]), so a long backfill holds one date's chunk names at a time. Every poll
//!   interval the followed dates inside the lookback window, up to today or the end's date, are
//!   listed again ([`Kind::Relist`]). After a failed listing nothing is listed before the retry
//!   time.
//! - **New chunks.** A chunk is known by the hash of its name: one seen before (read, being
//!   read, waiting, or taken as read) is not read again. At most `concurrency` chunks are read at
//!   once, in the order found.
//! - **Start from now.** The first listing of every date up to the server's today takes every
//!   chunk it finds as read, and the stream starts from the server's time of that listing
//!   ([`start_from`]), beginning a date early (this machine's date may not be the server's).
//! - **Caught up.** Every listing is a round covering its start (or the midnight of the next
//!   date to list, if earlier); the caught-up time is what the newest round covers such that it
//!   and every round before it has been read ([`super::rounds`]).
//! - **Dropping.** A date older than the lookback window, listed, with no chunk outstanding
//!   and not waiting for its resume listing is no longer followed.
//! - **End.** With an end time, the stream waits for late events once every date up to the
//!   end's date is listed and every chunk found read, and finishes once, moreover, every
//!   followed date inside the window up to the end's date was last listed at or after the end
//!   plus the lateness bound.

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use time::{Date, OffsetDateTime};

use super::rounds::Rounds;
use crate::cursor::{ExportPosition, chunk_hash};
use crate::stream::config::StreamConfig;
use crate::stream::server_time::MAX_CLOCK_SKEW;
use crate::stream::time_math::{earlier, later, utc};

/// The settings the rules read (from [`StreamConfig`] and the client).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// Chunks read at once ([`StreamConfig::export_concurrency`]).
    pub(crate) concurrency: usize,
    /// Past dates listed again at every poll.
    pub(crate) lookback_days: i64,
    /// How often the followed dates are listed again.
    pub(crate) poll_interval: Duration,
    /// How long after the end time chunks may still appear.
    pub(crate) lateness: Duration,
    /// The end time, in UTC.
    pub(crate) end: Option<OffsetDateTime>,
    /// The proxy's clock minus this machine's, if the proxy told it
    /// ([`crate::client::Client::server_clock_offset`]).
    pub(crate) clock_offset: Option<time::Duration>,
}

impl Settings {
    pub(crate) fn from_config(config: &StreamConfig, clock_offset: Option<time::Duration>) -> Self {
        Self {
            concurrency: config.export_concurrency,
            lookback_days: config.lookback_days(),
            poll_interval: config.export_poll_interval,
            lateness: config.export_lateness(),
            end: config.end.map(utc),
            clock_offset,
        }
    }
}

/// A chunk to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ChunkJob {
    pub(super) date: Date,
    pub(super) name: Arc<str>,
    /// Teleport's position to resume after ("" for the start of the chunk).
    pub(super) position: String,
    /// The listing round that found the chunk (for the caught-up time).
    pub(super) round: u64,
}

/// Why dates are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A date listed for the first time.
    First,
    /// Dates of a resumed cursor.
    Resume,
    /// The followed dates inside the lookback window, again.
    Relist,
}

impl Kind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::First => "first",
            Kind::Resume => "resume",
            Kind::Relist => "relist",
        }
    }
}

/// What the driver does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Action {
    /// Start reading these chunks (each is then reading until [`ExportCore::reader_done`]).
    Read(Vec<ChunkJob>),
    /// List these dates, one after another; answer with [`ExportCore::listed`] or
    /// [`ExportCore::listing_failed`].
    List { kind: Kind, dates: Vec<Date> },
    /// Nothing to do until a reader ends or the driver's clock reaches `until` (the retry of a
    /// failed listing, else the next poll, which also notices a new date at midnight).
    Wait {
        until: Duration,
        /// With an end time, once every date up to it is listed and read: how long the stream
        /// waits for late chunks.
        late_events_until: Option<OffsetDateTime>,
    },
    /// The end time was reached (after waiting for late chunks until `late_events_until`).
    Finished { late_events_until: OffsetDateTime },
}

/// A change of the consumer's position, queued behind the events it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Progress {
    /// A date was listed for the first time (`taken_as_done`: chunks that need no reading;
    /// `from`: the settled start of a stream that starts from now).
    Listed {
        date: Date,
        taken_as_done: Vec<u64>,
        from: Option<OffsetDateTime>,
    },
    /// A date older than the lookback window was read completely.
    Dropped { date: Date },
    /// Every chunk listed before this time has been sent.
    CaughtUp(OffsetDateTime),
}

/// What a listing led to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct TakenIn {
    /// Dates that had chunks not seen before (and how many), in the order listed; a start from
    /// now's chunks taken as read are not among them.
    pub(super) new_chunks: Vec<(Date, usize)>,
    /// What to queue for the consumer, in order.
    pub(super) progress: Vec<Progress>,
}

/// One listing being taken in.
#[derive(Clone, Copy, Debug)]
struct Listing {
    kind: Kind,
    /// The round it opened.
    round: u64,
    /// When it began, by this machine's clock.
    started: OffsetDateTime,
    /// When it ended, by this machine's clock.
    listed_at: OffsetDateTime,
    /// The server's date then ([`ExportCore::today`]).
    today: Date,
}

/// What the core knows of one followed date.
#[derive(Debug, Default)]
struct DateWork {
    /// Every chunk found (done, being read or waiting), hashed.
    known: HashSet<u64>,
    /// Chunks found and not read to the end yet.
    outstanding: usize,
    /// When the last listing of the date started.
    last_listed: Option<OffsetDateTime>,
}

/// Where a stream from now starts, given this machine's time of the first listing: the server's
/// time then (the proxy's `Date` is cut to the second, so this is up to a second early, never
/// late), or, if the server's clock is unknown, as early as this machine's clock may be ahead of
/// it.
pub(super) fn start_from(
    listed_at: OffsetDateTime,
    offset: Option<time::Duration>,
) -> OffsetDateTime {
    match offset.and_then(|offset| listed_at.checked_add(offset)) {
        Some(server_time) => server_time,
        None => earlier(listed_at, MAX_CLOCK_SKEW),
    }
}

/// The server's date at this machine's `now`: by the proxy's clock when it told it, else by this
/// machine's. The dates to list follow the server's calendar: its events are stamped by its
/// clock, so a client clock an hour behind must not keep the stream on yesterday for the first
/// hour of the server's day (with an end time there, the new date was never listed at all).
pub(super) fn server_date(now: OffsetDateTime, offset: Option<time::Duration>) -> Date {
    offset
        .and_then(|offset| now.checked_add(offset))
        .unwrap_or(now)
        .date()
}

fn next_day(date: Date) -> Date {
    date.next_day().unwrap_or(date)
}

/// The export mode's state as plain data, and its rules.
#[derive(Debug)]
pub(super) struct ExportCore {
    settings: Settings,
    /// The stream starts from now and the first listing of the server's today has not
    /// happened yet.
    start_now: bool,
    /// The next date to list for the first time.
    next_date: Date,
    /// The dates followed: listed and not yet dropped.
    dates: BTreeMap<Date, DateWork>,
    /// Followed dates of a resumed cursor, to list before anything else.
    needs_listing: BTreeSet<Date>,
    /// Chunks found and not started yet.
    pending: VecDeque<ChunkJob>,
    /// Chunks being read.
    reading: usize,
    rounds: Rounds,
    /// When the followed dates are listed again, on the driver's clock.
    relist_at: Duration,
    /// After a failed listing: nothing is listed before this, on the driver's clock.
    retry_at: Option<Duration>,
}

impl ExportCore {
    /// A stream at `position` (`start_now`: it starts from now, unless the position has listed
    /// a date already). The driver's clock is at zero now.
    pub(super) fn new(settings: Settings, position: &ExportPosition, start_now: bool) -> Self {
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
            relist_at: settings.poll_interval,
            settings,
            start_now,
            next_date,
            dates,
            needs_listing,
            pending,
            reading: 0,
            rounds,
            retry_at: None,
        }
    }

    /// What to do now, at `clock` on the driver's clock and on the server's date `today`:
    /// start the chunks that may start, else the listing that is due, else finish or wait.
    pub(super) fn next_action(&mut self, clock: Duration, today: Date) -> Action {
        let free = self.settings.concurrency.saturating_sub(self.reading);
        let start = free.min(self.pending.len());
        if start > 0 {
            self.reading += start;
            return Action::Read(self.pending.drain(..start).collect());
        }
        if let Some((kind, dates)) = self.due(clock, today) {
            return Action::List { kind, dates };
        }
        let late_events_until = self.waiting_for_late_events_until();
        if let Some(until) = late_events_until
            && self.listed_since(until, today)
        {
            return Action::Finished {
                late_events_until: until,
            };
        }
        let until = match self.retry_at {
            Some(at) if at > clock => at,
            _ => self.relist_at,
        };
        Action::Wait {
            until,
            late_events_until,
        }
    }

    /// The server's date at this machine's time `now` ([`server_date`] with the proxy's clock
    /// offset): what the driver passes as `today`.
    pub(super) fn today(&self, now: OffsetDateTime) -> Date {
        server_date(now, self.settings.clock_offset)
    }

    /// The newest date to list: today, or the end time's date.
    fn last_date(&self, today: Date) -> Date {
        self.settings.end.map_or(today, |end| end.date().min(today))
    }

    /// The oldest date inside the lookback window.
    fn oldest_followed(&self, today: Date) -> Date {
        today
            .checked_sub(time::Duration::days(self.settings.lookback_days))
            .unwrap_or(Date::MIN)
    }

    /// The listing to do now, if any.
    fn due(&self, clock: Duration, today: Date) -> Option<(Kind, Vec<Date>)> {
        if self.retry_at.is_some_and(|at| clock < at) {
            return None;
        }
        if !self.needs_listing.is_empty() {
            return Some((Kind::Resume, self.needs_listing.iter().copied().collect()));
        }
        let last = self.last_date(today);
        if self.pending.is_empty() && self.next_date <= last {
            return Some((Kind::First, vec![self.next_date]));
        }
        if clock >= self.relist_at {
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

    /// A listing of `kind` that began at `started` (this machine's time) and ended at
    /// `listed_at` (this machine's time; `clock` on the driver's; `today` its date) found these
    /// chunk names per date: new chunks wait to be read (or, at a start from now, are taken as
    /// read).
    pub(super) fn listed(
        &mut self,
        kind: Kind,
        found: Vec<(Date, Vec<String>)>,
        started: OffsetDateTime,
        listed_at: OffsetDateTime,
        clock: Duration,
        today: Date,
    ) -> TakenIn {
        self.retry_at = None;
        let listing = Listing {
            kind,
            round: self.rounds.begin(),
            started,
            listed_at,
            today,
        };
        let mut taken = TakenIn::default();
        for (date, names) in found {
            self.take_in(&listing, date, names, &mut taken);
        }
        if kind == Kind::Relist {
            self.relist_at = clock.saturating_add(self.settings.poll_interval);
        }
        // Everything listed now and everything before the next date to list is covered.
        let covers = started.min(self.next_date.midnight().assume_utc());
        self.rounds.set_covers(listing.round, covers);
        self.progress(today, &mut taken.progress);
        taken
    }

    /// Takes in what `listing` found for `date`.
    fn take_in(&mut self, listing: &Listing, date: Date, names: Vec<String>, taken: &mut TakenIn) {
        let Listing {
            kind,
            round,
            started,
            listed_at,
            today,
        } = *listing;
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
                // Every date up to the server's today is taken in this way.
                self.start_now = date < today;
                taken.progress.push(Progress::Listed {
                    date,
                    taken_as_done: new.iter().map(|(_, hash)| *hash).collect(),
                    from: Some(start_from(listed_at, self.settings.clock_offset)),
                });
                return;
            }
            taken.progress.push(Progress::Listed {
                date,
                taken_as_done: Vec::new(),
                from: None,
            });
        }
        if !new.is_empty() {
            taken.new_chunks.push((date, new.len()));
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
    }

    /// A listing failed and is retried: nothing is listed before `clock + delay`.
    pub(super) fn listing_failed(&mut self, clock: Duration, delay: Duration) {
        self.retry_at = Some(clock.saturating_add(delay));
    }

    /// A reader of a chunk of `date` found by listing round `round` read it to its end (on this
    /// server's date `today`).
    pub(super) fn reader_done(&mut self, date: Date, round: u64, today: Date) -> Vec<Progress> {
        self.reading = self.reading.saturating_sub(1);
        if let Some(work) = self.dates.get_mut(&date) {
            work.outstanding = work.outstanding.saturating_sub(1);
        }
        self.rounds.finish(round);
        let mut progress = Vec::new();
        self.progress(today, &mut progress);
        progress
    }

    /// A new caught-up time, and the dates older than the lookback window that have been read
    /// completely (no longer followed).
    fn progress(&mut self, today: Date, out: &mut Vec<Progress>) {
        if let Some(time) = self.rounds.advance() {
            out.push(Progress::CaughtUp(time));
        }
        let oldest = self.oldest_followed(today);
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
            out.push(Progress::Dropped { date });
        }
    }

    /// With an end time: once every date up to it has been listed and every chunk found read,
    /// the time until which the stream waits for late chunks (the end plus the lateness bound).
    fn waiting_for_late_events_until(&self) -> Option<OffsetDateTime> {
        let end = self.settings.end?;
        (self.next_date > end.date()
            && self.needs_listing.is_empty()
            && self.pending.is_empty()
            && self.reading == 0)
            .then(|| later(end, self.settings.lateness))
    }

    /// With an end time: every followed date inside the window up to the end's date was last
    /// listed at or after `settled`, the end plus the lateness bound (so chunks written late for
    /// it had time to appear). Once, moreover, every date up to the end's date has been listed
    /// and every chunk found read ([`Self::waiting_for_late_events_until`]), the stream is
    /// finished.
    fn listed_since(&self, settled: OffsetDateTime, today: Date) -> bool {
        let Some(end) = self.settings.end else {
            return false;
        };
        let oldest = self.oldest_followed(today);
        self.dates
            .iter()
            .filter(|(date, _)| **date >= oldest && **date <= end.date())
            .all(|(_, work)| work.last_listed.is_some_and(|at| at >= settled))
    }
}
