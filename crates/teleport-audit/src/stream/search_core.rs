//! The search mode's core: the rules that decide what to fetch next, which events of a page are
//! delivered and where the watermark moves, over plain data (no I/O, no clock, no async). The
//! driver ([`super::search`]) asks [`SearchCore::plan`] what to fetch, fetches it, and hands the
//! page back ([`SearchCore::page_received`], [`SearchCore::admit`] per event,
//! [`SearchCore::page_consumed`]); this machine's "now" is an argument, never read here.
//!
//! The rules (`docs/cursor.md`; the time rules themselves are in [`super::server_time`]):
//!
//! - **Scan planning.** A stream first learns the server's time: one newest-first search of one
//!   event from the watermark on ([`Plan::ServerTime`]). A *scan* is then one ascending search
//!   over `[floor(watermark), scan_end]`, followed through Teleport's `last_key`; a resumed
//!   cursor's scan continues at its stored key. Right after an answer, a scan whose window would
//!   end past where the watermark can settle reaches the present instead
//!   ([`server_time::scan_window`]).
//! - **Asking again.** A complete scan that left the watermark short of its end while the
//!   watermark is more than a window behind this machine's now (the server's time, known only
//!   from events returned, went stale: a quiet cluster, a rare event type) makes the stream ask
//!   the server's time again before its next scan ([`server_time::ask_again`]); without it such a
//!   stream would repeat the same empty window forever.
//! - **Acceptance and dedupe.** An event is delivered unless it is before the watermark, after
//!   the end time, or already in the seen set ([`SearchCore::admit`]).
//! - **Watermark.** After a page: to the start of the second of the page's newest event, capped
//!   at `settled` (the scan's `started` minus `max_lateness`); after a complete scan: to
//!   `min(scan end, settled)`. It never moves backwards.
//! - **A key the server does not honour** (refused, or answered with an empty last page): the scan
//!   continues without the key from the second its pages `reached`, once per place.
//! - **Then.** Scan again at once if there is more (the last page was full, or the window ended
//!   before the watermark caught up), else after the poll interval; stop at the end time.
//! - **Page limits.** Around an event too large to receive: fewer events per page, then a larger
//!   receive limit, then skipping the event by id; pages grow back once answered.

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::time::Duration;

use time::OffsetDateTime;

use super::config::StreamConfig;
use super::oversized;
use super::server_time;
use super::time_math::{earlier, floor_second, later};
use crate::cursor::{ScanPosition, SearchPosition};

/// The settings the rules read (from [`StreamConfig`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) window: Duration,
    pub(crate) end: Option<OffsetDateTime>,
    pub(crate) max_lateness: Duration,
    pub(crate) page_size: u32,
    pub(crate) max_receive_size: usize,
    pub(crate) max_receive_size_limit: usize,
}

impl Settings {
    pub(crate) fn from_config(config: &StreamConfig) -> Self {
        Self {
            window: config.window,
            end: config.end,
            max_lateness: config.max_lateness,
            page_size: config.page_size,
            max_receive_size: config.max_receive_size,
            max_receive_size_limit: config.max_receive_size_limit,
        }
    }
}

/// A range to search, and Teleport's page key in it ("" for its first page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fetch {
    pub(crate) from: OffsetDateTime,
    pub(crate) to: OffsetDateTime,
    pub(crate) key: String,
}

/// What the stream does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// The stream is at its end time.
    Done,
    /// Learn the server's time: the newest event of any type in `[from, to]` (one, newest
    /// first). Answer with [`SearchCore::server_time_answered`].
    ServerTime {
        from: OffsetDateTime,
        to: OffsetDateTime,
    },
    /// Fetch this page of the scan (its first page, or a resumed scan's page).
    Scan(Fetch),
}

/// Whether an event of a page is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// New: recorded in the seen set; deliver it.
    Deliver,
    /// Before the watermark or after the end time: not this stream's.
    OutOfRange,
    /// Already delivered (in the seen set).
    Duplicate,
}

/// What the rules need of a page once every event of it has been considered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PageEnd {
    /// The newest event time of the page (`None`: an empty page).
    pub(crate) newest: Option<OffsetDateTime>,
    /// Teleport's key for the next page; empty when the search is complete.
    pub(crate) last_key: String,
    /// Whether the page held as many events as asked for.
    pub(crate) full: bool,
    /// Whether the page was asked for with a page key.
    pub(crate) keyed: bool,
}

/// What follows a consumed page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AfterPage {
    /// The scan's next page (the key is the one just received).
    NextPage(Fetch),
    /// An empty last page answered a page key: check without the key (Teleport's file backend
    /// answers a key it cannot find that way).
    Recheck(Fetch),
    /// The scan is complete.
    ScanComplete(ScanComplete),
    /// No scan is in progress: plan again.
    Replan,
}

/// The outcome of a complete scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ScanComplete {
    /// The scan reached the present: caught up as of its start (by this machine's clock).
    pub(crate) caught_up_at: Option<OffsetDateTime>,
    /// The scan covered the end time, but the stream waits for events that may still appear.
    pub(crate) waiting_for_late_events_until: Option<OffsetDateTime>,
    pub(crate) then: Then,
}

/// When the next scan begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Then {
    /// Never: the end time is reached.
    Finish,
    /// At once: more is waiting.
    ScanAgain,
    /// After the poll interval.
    Poll,
}

/// How to get past a response over the receive limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LargeResponse {
    /// Ask again for this many events per page.
    Shrink { limit: u32 },
    /// Ask again for one event, accepting this many bytes.
    Raise { max_receive: usize },
    /// Skip the event by id (at the largest limit already).
    Skip,
}

/// The search mode's state as plain data, and its rules.
#[derive(Clone, Debug)]
pub(crate) struct SearchCore {
    settings: Settings,
    /// The position after the last event delivered.
    position: SearchPosition,
    /// The newest event time the server has returned: how far its clock is known to have gone.
    newest_seen: Option<OffsetDateTime>,
    /// Whether the next plan asks the server's time (first, and again when it went stale).
    server_time_due: bool,
    /// The server's time was answered since the last scan began.
    server_time_fresh: bool,
    /// The stream starts from now: the first answer of the server's time moves the start to its
    /// newest event (until the first scan begins).
    start_now: bool,
    /// When the current scan began by this machine's clock (for the end time only).
    scan_began: Option<OffsetDateTime>,
    /// The last complete scan's end and when it began by this machine's clock.
    last_complete_scan: Option<(OffsetDateTime, OffsetDateTime)>,
    /// Where the current scan last continued without its page key.
    reanchored_from: Option<OffsetDateTime>,
    /// Events per page now (shrinks below the configured size around oversized events).
    page_limit: u32,
    /// Largest response accepted now (grows up to the configured limit for oversized events).
    receive_limit: usize,
}

impl SearchCore {
    /// A stream at `position` (`start_now`: its start is this machine's guess of "now").
    pub(crate) fn new(settings: Settings, position: SearchPosition, start_now: bool) -> Self {
        Self {
            page_limit: settings.page_size,
            receive_limit: settings.max_receive_size,
            settings,
            position,
            newest_seen: None,
            server_time_due: true,
            server_time_fresh: false,
            start_now,
            scan_began: None,
            last_complete_scan: None,
            reanchored_from: None,
        }
    }

    /// The position right after the last event delivered.
    pub(crate) fn position(&self) -> &SearchPosition {
        &self.position
    }

    /// Every event with a time before this has been delivered.
    pub(crate) fn watermark(&self) -> OffsetDateTime {
        self.position.watermark()
    }

    /// Events per page to ask for now.
    pub(crate) fn page_limit(&self) -> u32 {
        self.page_limit
    }

    /// The largest response to accept now.
    pub(crate) fn receive_limit(&self) -> usize {
        self.receive_limit
    }

    /// Whether the stream has reached its end time (see [`server_time::reached_end`]).
    pub(crate) fn finished(&self) -> bool {
        self.settings.end.is_some_and(|end| {
            server_time::reached_end(
                self.position.watermark(),
                end,
                self.last_complete_scan,
                self.settings.max_lateness,
            )
        })
    }

    /// What to fetch next, at this machine's `client_now`: the server's time (first, and again
    /// after a scan that found it stale), else the current scan's page (beginning a scan from the
    /// watermark if none is in progress).
    pub(crate) fn plan(&mut self, client_now: OffsetDateTime) -> Plan {
        if self.finished() {
            return Plan::Done;
        }
        let watermark = self.position.watermark();
        if self.server_time_due {
            self.server_time_due = false;
            // From now: "now" is this machine's guess; look around it for the server's.
            let from = if self.start_now {
                earlier(watermark, server_time::MAX_CLOCK_SKEW)
            } else {
                floor_second(watermark)
            };
            let to = later(watermark.max(client_now), server_time::MAX_CLOCK_SKEW);
            return Plan::ServerTime { from, to };
        }
        // A scan resumed from a cursor began before this stream, at a time unknown here: its
        // completion neither shows the stream caught up nor lets the end time's lateness pass.
        self.scan_began = self.position.scan.is_none().then_some(client_now);
        self.reanchored_from = None;
        // Once a scan began, the start is fixed: a later answer of the server's time only tells
        // how far its clock has gone.
        self.start_now = false;
        let fresh = std::mem::take(&mut self.server_time_fresh);
        let Settings {
            window,
            end,
            max_lateness,
            ..
        } = self.settings;
        let newest_seen = self.newest_seen;
        let scan = self.position.scan.get_or_insert_with(|| {
            let from = floor_second(watermark);
            // The server's time at the scan's start, as far as it is known.
            let started = server_time::settle_base(newest_seen, watermark);
            let settled = server_time::settled(started, max_lateness);
            let window = server_time::scan_window(from, window, settled, fresh);
            ScanPosition {
                from,
                to: server_time::scan_end(from, window, client_now, end),
                started,
                key: String::new(),
                reached: None,
            }
        });
        Plan::Scan(Fetch {
            from: scan.from,
            to: scan.to,
            key: scan.key.clone(),
        })
    }

    /// The server's time was learnt: `newest` is its newest event (`None`: it has none there).
    /// Starting from now (the first answer, before any scan), the stream starts right after it;
    /// returns the new start then. (A failed request is not answered: less is known, and the
    /// next scan neither moves the watermark further nor reaches further.)
    pub(crate) fn server_time_answered(
        &mut self,
        newest: Option<OffsetDateTime>,
    ) -> Option<OffsetDateTime> {
        self.note_server_time(newest);
        self.server_time_fresh = true;
        let newest = newest.filter(|_| self.start_now)?;
        self.start_now = false;
        let start = later(newest, Duration::from_nanos(1));
        self.position = SearchPosition::starting_at(start);
        Some(start)
    }

    /// A page arrived (`newest`: its newest event time): the server's clock has passed it, and
    /// the page size grows back towards the configured one after shrinking.
    pub(crate) fn page_received(&mut self, newest: Option<OffsetDateTime>) {
        if self.page_limit < self.settings.page_size {
            self.page_limit = self
                .page_limit
                .saturating_mul(2)
                .min(self.settings.page_size);
        }
        self.note_server_time(newest);
    }

    fn note_server_time(&mut self, time: Option<OffsetDateTime>) {
        if let Some(time) = time {
            self.newest_seen = Some(self.newest_seen.map_or(time, |seen| seen.max(time)));
        }
    }

    /// Whether the event `id` with `time` is delivered; if so it is recorded in the seen set.
    pub(crate) fn admit(&mut self, time: OffsetDateTime, id: &str) -> Admission {
        if time < self.position.watermark() || self.settings.end.is_some_and(|end| time > end) {
            return Admission::OutOfRange;
        }
        if self.position.seen.insert(time, id) {
            Admission::Deliver
        } else {
            Admission::Duplicate
        }
    }

    /// Every event of a page has been considered: move the watermark, and say what follows.
    /// The ids of the page's events that the watermark did not pass are hashed then (the seen
    /// set keeps them as text until then: most are passed, and never need hashing).
    pub(crate) fn page_consumed(&mut self, page: PageEnd) -> AfterPage {
        let after = self.move_past_page(page);
        self.position.seen.hash_pending();
        after
    }

    fn move_past_page(&mut self, page: PageEnd) -> AfterPage {
        let lateness = self.settings.max_lateness;
        let Some(scan) = self.position.scan.as_mut() else {
            return AfterPage::Replan;
        };
        let settled = server_time::settled(scan.started, lateness);
        let (from, to) = (scan.from, scan.to);
        let newest_second = page.newest.map(floor_second);
        if let Some(second) = newest_second {
            scan.reached = Some(scan.reached.map_or(second, |reached| reached.max(second)));
        }
        if !page.last_key.is_empty() {
            scan.key.clone_from(&page.last_key);
        }
        if let Some(second) = newest_second {
            // Everything before this second has been returned by this scan's pages.
            self.position.advance_watermark(second.min(settled));
        }
        if !page.last_key.is_empty() {
            return AfterPage::NextPage(Fetch {
                from,
                to,
                key: page.last_key,
            });
        }
        // "Nothing more" in answer to a page key is also what Teleport answers to a key it
        // cannot find (the file backend: a stale or foreign key); check without the key before
        // believing it.
        if page.keyed
            && newest_second.is_none()
            && let Some(fetch) = self.continue_without_key()
        {
            return AfterPage::Recheck(fetch);
        }
        // The scan is complete: everything in [from, to] visible at its start was returned.
        self.position.scan = None;
        self.position.advance_watermark(to.min(settled));
        let mut caught_up_at = None;
        if let Some(began) = self.scan_began {
            self.last_complete_scan = Some((to, began));
            self.server_time_due = server_time::ask_again(
                self.position.watermark(),
                self.settings.window,
                to,
                began,
                self.settings.end,
            );
            // A scan that reached the present (not one window of a backfill).
            if to >= began {
                caught_up_at = Some(began);
            }
        }
        let finished = self.finished();
        let waiting_for_late_events_until = self
            .settings
            .end
            .filter(|end| to >= *end && !finished)
            .map(|end| later(end, lateness));
        let then = if finished {
            Then::Finish
        } else if page.full || self.position.watermark() >= to {
            // More is waiting: the window ended before now, or the last page was full.
            Then::ScanAgain
        } else {
            Then::Poll
        };
        AfterPage::ScanComplete(ScanComplete {
            caught_up_at,
            waiting_for_late_events_until,
            then,
        })
    }

    /// Continues the current scan without a page key, from the start of the last second its
    /// pages reached, unless it already did from there. The pages before that second were
    /// received, so nothing is skipped; the seen set drops what comes again. `None` when there is
    /// nothing to continue (the answer received is then trusted).
    pub(crate) fn continue_without_key(&mut self) -> Option<Fetch> {
        let scan = self.position.scan.as_mut()?;
        let from = scan
            .reached
            .map_or(scan.from, |reached| reached.max(scan.from));
        if self.reanchored_from == Some(from) {
            return None;
        }
        scan.from = from;
        scan.key.clear();
        self.reanchored_from = Some(from);
        Some(Fetch {
            from,
            to: scan.to,
            key: String::new(),
        })
    }

    /// A response asked for with `limit` events and `max_receive` bytes was over the receive
    /// limit (`found`: its size, when tonic said): fewer events per page, then a higher limit,
    /// then skip the one event by id.
    pub(crate) fn too_large(
        &mut self,
        limit: u32,
        max_receive: usize,
        found: Option<usize>,
    ) -> LargeResponse {
        let ceiling = self.settings.max_receive_size_limit;
        if limit > 1 {
            self.page_limit = (limit / 2).max(1);
            LargeResponse::Shrink {
                limit: self.page_limit,
            }
        } else if max_receive < ceiling {
            self.receive_limit = oversized::raised_limit(max_receive, found, ceiling);
            LargeResponse::Raise {
                max_receive: self.receive_limit,
            }
        } else {
            LargeResponse::Skip
        }
    }
}
