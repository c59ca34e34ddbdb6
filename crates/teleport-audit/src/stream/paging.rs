//! The search mode's paging loop: [`SearchMachine`], a state machine over ascending searches.
//!
//! A *scan* is one ascending search over `[floor(watermark), min(watermark + window, now, end)]`,
//! followed page by page through Teleport's `last_key` until it comes back empty. Each event is
//! delivered unless it is before the watermark or already in the cursor's seen set. After each
//! page and each scan the watermark moves up as far as is provably safe (see [`crate::cursor`]):
//!
//! - after a page: to the start of the second of the page's newest event (pages ascend by time at
//!   least at second granularity), but never past `settled`;
//! - after a scan: to `min(scan end, settled)`;
//!
//! where `settled` is the newest event time the server had returned before the scan began, minus
//! `max_lateness`: the server's clock, not this machine's (see [`super::server_time`]). The first
//! scan of a stream is preceded by one newest-first search of one event from the watermark on,
//! which tells the server's time and refuses a watermark ahead of it.
//!
//! Then: scan again at once if there is more (the window ended before "now", or the last page
//! was full), else after the poll interval. The next page is fetched in the background while the
//! current one is consumed, so at most two pages are held. Failures are retried with backoff;
//! a stall is reported (a [`crate::Notice`]), not hidden; an event too large to receive is
//! skipped by id, not allowed to block the stream.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use teleport_audit_types::AuditEvent;
use time::OffsetDateTime;
use tokio::time::Sleep;
use tonic::transport::Channel;
use tracing::Instrument as _;

use super::config::StreamConfig;
use super::notify::Notifier;
use super::oversized;
use super::page::{self, Page, PageItem, PageRequest};
use super::retry::{Retrier, Verdict};
use super::server_time;
use super::task::Task;
use crate::cursor::{ScanPosition, SearchPosition};
use crate::stats::StatsHandle;
use crate::{Client, Error};

/// The search mode of an [`crate::AuditEventStream`].
pub(crate) struct SearchMachine {
    channel: Channel,
    config: StreamConfig,
    request_timeout: Duration,
    event_types: Arc<[String]>,
    /// The position after the last event yielded.
    cursor: SearchPosition,
    state: State,
    /// Events per page now (shrinks below the configured size around oversized events).
    page_limit: u32,
    /// Largest response accepted now (grows up to the configured limit for oversized events).
    receive_limit: usize,
    retrier: Retrier,
    /// Where the current scan last continued without its page key (see `reanchor`).
    reanchored_from: Option<OffsetDateTime>,
    /// The newest event time the server has returned: how far its clock is known to have gone.
    newest_seen: Option<OffsetDateTime>,
    /// Whether the server-time probe has run (once per stream).
    probed: bool,
    /// The stream starts from now: the probe moves the start to the server's newest event.
    start_now: bool,
    /// When the current scan began by this machine's clock (for the end time only).
    scan_began: Option<OffsetDateTime>,
    /// The last complete scan's end and when it began by this machine's clock.
    last_complete_scan: Option<(OffsetDateTime, OffsetDateTime)>,
    stats: StatsHandle,
    notifier: Notifier,
    /// The fatal error to yield (then the stream ends).
    pending: Option<Error>,
    scan_span: tracing::Span,
}

impl std::fmt::Debug for SearchMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchMachine")
            .field("state", &self.state.name())
            .field("page_limit", &self.page_limit)
            .field("receive_limit", &self.receive_limit)
            .finish_non_exhaustive()
    }
}

/// A spawned page fetch, aborted if the stream is dropped.
type PageTask = Task<Result<Page, Error>>;

enum State {
    /// Begin a scan, or resume the one in the cursor.
    Start,
    /// The server-time probe: the newest event from the watermark on.
    Probing {
        task: PageTask,
    },
    /// Waiting for a page.
    Fetching {
        request: PageRequest,
        task: PageTask,
    },
    /// Yielding a page's events; the next page may be on its way.
    Delivering {
        items: std::vec::IntoIter<PageItem>,
        end: PageEnd,
        next: Option<(PageRequest, PageTask)>,
    },
    /// Waiting before a retry or the next poll.
    Waiting {
        sleep: Pin<Box<Sleep>>,
        then: AfterWait,
    },
    Done,
}

enum AfterWait {
    Retry(PageRequest),
    Start,
}

/// What is needed once a page's events have all been considered.
struct PageEnd {
    /// The start of the second of the page's newest event.
    newest_second: Option<OffsetDateTime>,
    /// Teleport's key for the next page; empty when the search is complete.
    last_key: String,
    full: bool,
    /// Whether the page was asked for with a page key.
    keyed: bool,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Start => "start",
            State::Probing { .. } => "probing",
            State::Fetching { .. } => "fetching",
            State::Delivering { .. } => "delivering",
            State::Waiting { .. } => "waiting",
            State::Done => "done",
        }
    }
}

fn floor_second(time: OffsetDateTime) -> OffsetDateTime {
    time.replace_nanosecond(0).unwrap_or(time)
}

pub(crate) fn utc(time: OffsetDateTime) -> OffsetDateTime {
    time.to_offset(time::UtcOffset::UTC)
}

/// `time + by`, or the last representable time: settings such as a window or a lateness have no
/// upper bound, so the sum may not exist.
pub(crate) fn later(time: OffsetDateTime, by: Duration) -> OffsetDateTime {
    time::Duration::try_from(by)
        .ok()
        .and_then(|by| time.checked_add(by))
        .unwrap_or_else(|| time::PrimitiveDateTime::MAX.assume_utc())
}

/// `time - by`, or the first representable time.
pub(crate) fn earlier(time: OffsetDateTime, by: Duration) -> OffsetDateTime {
    time::Duration::try_from(by)
        .ok()
        .and_then(|by| time.checked_sub(by))
        .unwrap_or_else(|| time::PrimitiveDateTime::MIN.assume_utc())
}

impl SearchMachine {
    /// A search from `cursor` (the stream's settings are already checked).
    pub(crate) fn new(
        client: &Client,
        config: StreamConfig,
        cursor: SearchPosition,
        start_now: bool,
        notifier: Notifier,
    ) -> Self {
        let stats = notifier.stats().clone();
        let event_types: Arc<[String]> = Arc::from(config.event_types.clone());
        stats.update(|s| s.watermark = Some(cursor.watermark()));
        Self {
            channel: client.channel().clone(),
            request_timeout: config.request_timeout.unwrap_or(client.request_timeout()),
            page_limit: config.page_size,
            receive_limit: config.max_receive_size,
            retrier: Retrier::new(&config, notifier.clone()),
            config,
            event_types,
            cursor,
            state: State::Start,
            reanchored_from: None,
            newest_seen: None,
            probed: false,
            start_now,
            scan_began: None,
            last_complete_scan: None,
            stats,
            notifier,
            pending: None,
            scan_span: tracing::Span::none(),
        }
    }

    /// The position right after the last event yielded.
    pub(crate) fn position(&self) -> &SearchPosition {
        &self.cursor
    }

    /// Advances the state machine until it has an item to yield or must wait.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<AuditEvent, Error>>> {
        loop {
            if let Some(error) = self.pending.take() {
                return Poll::Ready(Some(Err(error)));
            }
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Poll::Ready(None),
                State::Start => self.start_scan(),
                State::Probing { mut task } => match task.poll(cx) {
                    Poll::Pending => {
                        self.state = State::Probing { task };
                        return Poll::Pending;
                    }
                    Poll::Ready(joined) => self.on_probe(joined.ok()),
                },
                State::Fetching { request, mut task } => match task.poll(cx) {
                    Poll::Pending => {
                        self.state = State::Fetching { request, task };
                        return Poll::Pending;
                    }
                    Poll::Ready(joined) => {
                        let result = joined.unwrap_or_else(|error| {
                            Err(Error::Rpc {
                                rpc: page::SEARCH_RPC,
                                code: tonic::Code::Internal,
                                message: format!("the page fetch task failed: {error}"),
                            })
                        });
                        match result {
                            Ok(page) => self.on_page(&request, page),
                            Err(error) => self.on_error(request, error),
                        }
                    }
                },
                State::Delivering {
                    mut items,
                    end,
                    next,
                } => {
                    for item in items.by_ref() {
                        if let Some(event) = self.admit(item) {
                            self.state = State::Delivering { items, end, next };
                            return Poll::Ready(Some(Ok(event)));
                        }
                    }
                    self.page_done(end, next);
                }
                State::Waiting { mut sleep, then } => match sleep.as_mut().poll(cx) {
                    Poll::Pending => {
                        self.state = State::Waiting { sleep, then };
                        return Poll::Pending;
                    }
                    Poll::Ready(()) => match then {
                        AfterWait::Retry(request) => self.fetch(request),
                        AfterWait::Start => self.state = State::Start,
                    },
                },
            }
        }
    }

    fn finished(&self) -> bool {
        self.config.end.is_some_and(|end| {
            server_time::reached_end(
                self.cursor.watermark(),
                end,
                self.last_complete_scan,
                self.config.max_lateness,
            )
        })
    }

    /// Asks for the newest event from the watermark on (any type): the server's clock has
    /// passed its time. Once per stream, before the first scan.
    fn probe_server_time(&mut self) {
        self.probed = true;
        let watermark = self.cursor.watermark();
        let now = utc(OffsetDateTime::now_utc());
        // From now: "now" is this machine's guess; look around it for the server's.
        let from = if self.start_now {
            earlier(watermark, server_time::MAX_CLOCK_SKEW)
        } else {
            floor_second(watermark)
        };
        let mut request = self.request(
            from,
            later(watermark.max(now), server_time::MAX_CLOCK_SKEW),
            String::new(),
        );
        request.limit = 1;
        request.newest_first = true;
        request.event_types = Arc::from(Vec::new());
        let task = self.spawn(&request, false);
        self.state = State::Probing { task };
    }

    /// The probe's answer: note the server's time (and, from now, start after its newest
    /// event), then scan. A failed probe only means less is known (the first scan then does not
    /// move the watermark).
    fn on_probe(&mut self, answer: Option<Result<Page, Error>>) {
        let newest = match answer {
            Some(Ok(page)) => page.items.iter().map(|item| item.time).max(),
            Some(Err(error)) => {
                tracing::debug!(%error, "the server-time probe failed; going on without it");
                self.state = State::Start;
                return;
            }
            None => None,
        };
        self.note_server_time(newest);
        // From now: right after the server's newest event (this machine's clock stays the start
        // only if the server has no event near it).
        if self.start_now
            && let Some(newest) = newest
        {
            let start = newest + time::Duration::NANOSECOND;
            tracing::debug!(%start, "starting after the server's newest event");
            self.cursor = SearchPosition::starting_at(start);
            self.publish_watermark();
        }
        self.state = State::Start;
    }

    fn note_server_time(&mut self, time: Option<OffsetDateTime>) {
        if let Some(time) = time {
            self.newest_seen = Some(self.newest_seen.map_or(time, |seen| seen.max(time)));
        }
    }

    /// Begins a scan from the watermark (or resumes the cursor's) and fetches its first page.
    fn start_scan(&mut self) {
        if self.finished() {
            self.state = State::Done;
            return;
        }
        if !self.probed {
            self.probe_server_time();
            return;
        }
        let now = utc(OffsetDateTime::now_utc());
        self.scan_began = Some(now);
        let window = self.config.window;
        let end = self.config.end;
        let watermark = self.cursor.watermark();
        let newest_seen = self.newest_seen;
        let scan = self.cursor.scan.get_or_insert_with(|| {
            let from = floor_second(watermark);
            ScanPosition {
                from,
                to: server_time::scan_end(from, window, now, end),
                // The server's time at the scan's start, as far as it is known.
                started: server_time::settle_base(newest_seen, watermark),
                key: String::new(),
                reached: None,
            }
        });
        self.scan_span = tracing::info_span!(
            "audit_scan",
            from = %scan.from,
            to = %scan.to,
            resumed = !scan.key.is_empty(),
        );
        let (from, to, key) = (scan.from, scan.to, scan.key.clone());
        let request = self.request(from, to, key);
        self.reanchored_from = None;
        self.fetch(request);
    }

    fn request(&self, from: OffsetDateTime, to: OffsetDateTime, key: String) -> PageRequest {
        PageRequest {
            from,
            to,
            key,
            limit: self.page_limit,
            event_types: Arc::clone(&self.event_types),
            max_receive: self.receive_limit,
            timeout: self.request_timeout,
            newest_first: false,
        }
    }

    fn spawn(&self, request: &PageRequest, probe: bool) -> PageTask {
        let span = tracing::debug_span!(
            parent: &self.scan_span,
            "audit_page",
            limit = request.limit,
            resumed = !request.key.is_empty(),
            probe,
        );
        let channel = self.channel.clone();
        let request = request.clone();
        Task::spawn(
            async move {
                if probe {
                    oversized::probe(channel, request).await
                } else {
                    page::fetch(channel, request).await
                }
            }
            .instrument(span),
        )
    }

    fn fetch(&mut self, request: PageRequest) {
        let task = self.spawn(&request, false);
        self.state = State::Fetching { request, task };
    }

    fn on_page(&mut self, request: &PageRequest, page: Page) {
        self.retrier.succeeded();
        // Grow back towards the configured page size after shrinking for an oversized event.
        if self.page_limit < self.config.page_size {
            self.page_limit = (self.page_limit.saturating_mul(2)).min(self.config.page_size);
        }
        self.stats.update(|s| s.pages += 1);
        self.note_server_time(page.items.iter().map(|item| item.time).max());
        tracing::debug!(
            parent: &self.scan_span,
            items = page.items.len(),
            full = page.full,
            more = !page.last_key.is_empty(),
            "page received"
        );
        let end = PageEnd {
            newest_second: page.items.iter().map(|item| floor_second(item.time)).max(),
            last_key: page.last_key.clone(),
            full: page.full,
            keyed: !request.key.is_empty(),
        };
        // Prefetch the next page while this one is consumed.
        let next = if page.last_key.is_empty() {
            None
        } else {
            let next = self.request(request.from, request.to, page.last_key.clone());
            let task = self.spawn(&next, false);
            Some((next, task))
        };
        self.state = State::Delivering {
            items: page.items.into_iter(),
            end,
            next,
        };
    }

    /// Decides whether `item` is new; if so records it in the cursor and returns what to yield.
    fn admit(&mut self, item: PageItem) -> Option<AuditEvent> {
        if item.time < self.cursor.watermark() || self.config.end.is_some_and(|end| item.time > end)
        {
            return None;
        }
        if !self.cursor.seen.insert(item.time, &item.id) {
            self.stats.update(|s| s.duplicates_dropped += 1);
            return None;
        }
        item.into_output(&self.notifier, &self.config.skip_event_types)
    }

    /// Every event of a page has been considered: move the watermark, then go on.
    fn page_done(&mut self, end: PageEnd, next: Option<(PageRequest, PageTask)>) {
        let lateness = self.config.max_lateness;
        let Some(scan) = self.cursor.scan.as_mut() else {
            self.state = State::Start;
            return;
        };
        let settled = server_time::settled(scan.started, lateness);
        if let Some(second) = end.newest_second {
            scan.reached = Some(scan.reached.map_or(second, |reached| reached.max(second)));
            // Everything before this second has been returned by this scan's pages.
            self.cursor.advance_watermark(second.min(settled));
        }
        let Some(scan) = self.cursor.scan.as_mut() else {
            self.state = State::Start;
            return;
        };
        let (from, to) = (scan.from, scan.to);
        if !end.last_key.is_empty() {
            scan.key.clone_from(&end.last_key);
            self.publish_watermark();
            match next {
                Some((request, task)) => self.state = State::Fetching { request, task },
                None => {
                    let request = self.request(from, to, end.last_key);
                    self.fetch(request);
                }
            }
            return;
        }
        // "Nothing more" in answer to a page key is also what Teleport answers to a key it cannot
        // find (the file backend: a stale or foreign key); check without the key before
        // believing it.
        if end.keyed && end.newest_second.is_none() && self.reanchor(false) {
            return;
        }
        // The scan is complete: everything in [from, to] visible at its start was returned.
        self.cursor.scan = None;
        self.cursor.advance_watermark(to.min(settled));
        if let Some(began) = self.scan_began {
            self.last_complete_scan = Some((to, began));
            // A scan that reached the present (not one window of a backfill): caught up as of
            // its start.
            if to >= began {
                self.stats.update(|s| s.caught_up_at = Some(began));
            }
        }
        self.publish_watermark();
        if let Some(end) = self.config.end.filter(|end| to >= *end && !self.finished()) {
            let until = later(end, self.config.max_lateness);
            self.stats
                .update(|s| s.waiting_for_late_events_until = Some(until));
        }
        if self.finished() {
            self.state = State::Done;
        } else if end.full || self.cursor.watermark() >= to {
            // More is waiting: the window ended before now, or the last page was full.
            self.state = State::Start;
        } else {
            self.state = State::Waiting {
                sleep: Box::pin(tokio::time::sleep(self.config.poll_interval)),
                then: AfterWait::Start,
            };
        }
    }

    /// Continues the current scan without a page key, from the start of the last second its
    /// pages reached, unless it already did from there. The pages before that second were
    /// received, so nothing is skipped; the seen set drops what comes again. Returns false when
    /// there is nothing to re-anchor (the caller then trusts the answer it had).
    fn reanchor(&mut self, refused: bool) -> bool {
        let Some(scan) = self.cursor.scan.as_mut() else {
            return false;
        };
        let from = scan
            .reached
            .map_or(scan.from, |reached| reached.max(scan.from));
        if self.reanchored_from == Some(from) {
            return false;
        }
        scan.from = from;
        scan.key.clear();
        let to = scan.to;
        self.reanchored_from = Some(from);
        // An empty last page is routine (DynamoDB and the file backend give a key with a full
        // final page); a refusal is worth a warning.
        if refused {
            tracing::warn!(
                parent: &self.scan_span,
                from = %from,
                "the server refused a page key; continuing the scan without it"
            );
        } else {
            tracing::debug!(
                parent: &self.scan_span,
                from = %from,
                "an empty last page answered a page key; checking without the key"
            );
        }
        let request = self.request(from, to, String::new());
        self.fetch(request);
        true
    }

    fn publish_watermark(&self) {
        let watermark = self.cursor.watermark();
        self.stats.update(|s| s.watermark = Some(watermark));
    }

    fn on_error(&mut self, request: PageRequest, error: Error) {
        if let Some(found) = oversized::too_large(&error) {
            self.adapt_to_large_response(request, found);
            return;
        }
        // A page key the server refuses (expired, or from another backend).
        if matches!(error, Error::InvalidArgument { .. })
            && !request.key.is_empty()
            && self.reanchor(true)
        {
            return;
        }
        match self.retrier.failed(error, "audit search") {
            Verdict::Fatal(error) => {
                self.pending = Some(error);
                self.state = State::Done;
            }
            Verdict::Retry { delay } => {
                self.state = State::Waiting {
                    sleep: Box::pin(tokio::time::sleep(delay)),
                    then: AfterWait::Retry(request),
                };
            }
        }
    }

    /// A response was over the receive limit: fewer events per page, then a higher limit, then
    /// skip the one event by id.
    fn adapt_to_large_response(&mut self, mut request: PageRequest, found: Option<usize>) {
        let ceiling = self.config.max_receive_size_limit;
        if request.limit > 1 {
            self.page_limit = (request.limit / 2).max(1);
            request.limit = self.page_limit;
            tracing::info!(
                limit = request.limit,
                "response too large; shrinking the page"
            );
            self.fetch(request);
        } else if request.max_receive < ceiling {
            self.receive_limit = oversized::raised_limit(request.max_receive, found, ceiling);
            request.max_receive = self.receive_limit;
            tracing::info!(
                limit = request.max_receive,
                "event too large; raising the receive limit"
            );
            self.fetch(request);
        } else {
            // The skip itself is a notice (and its one warning).
            tracing::debug!("event over the largest receive limit; skipping it by id");
            let task = self.spawn(&request, true);
            self.state = State::Fetching { request, task };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_with_unbounded_settings_saturate() {
        use time::macros::datetime;
        let t = datetime!(2025-12-02 07:14:36 UTC);
        assert_eq!(
            later(t, Duration::from_secs(60)),
            datetime!(2025-12-02 07:15:36 UTC)
        );
        assert_eq!(
            earlier(t, Duration::from_secs(60)),
            datetime!(2025-12-02 07:13:36 UTC)
        );
        let max = time::PrimitiveDateTime::MAX.assume_utc();
        let min = time::PrimitiveDateTime::MIN.assume_utc();
        assert_eq!(later(t, Duration::from_secs(400 * 365 * 86_400 * 100)), max);
        assert_eq!(later(t, Duration::MAX), max);
        assert_eq!(
            earlier(t, Duration::from_secs(400 * 365 * 86_400 * 100)),
            min
        );
        assert_eq!(earlier(t, Duration::MAX), min);
    }

    #[test]
    fn floor_second_drops_the_fraction() {
        use time::macros::datetime;
        assert_eq!(
            floor_second(datetime!(2025-12-02 07:14:36.999 UTC)),
            datetime!(2025-12-02 07:14:36 UTC)
        );
    }
}
