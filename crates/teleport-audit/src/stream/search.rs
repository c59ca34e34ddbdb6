//! The search mode's driver: [`SearchMachine`], which does the I/O for [`SearchCore`].
//!
//! One [`State`], one [`SearchMachine::step`]: the driver asks the core what to fetch
//! ([`SearchCore::plan`]), fetches it in a spawned task ([`page::fetch`], decoded there), hands
//! each event to the core ([`SearchCore::admit`]: delivered, out of range or a duplicate) and
//! yields the delivered ones ([`delivery::output`]), then tells the core the page is consumed
//! ([`SearchCore::page_consumed`]) and does what it answers. The rules themselves (scan ranges,
//! the watermark, dedupe, keys the server does not honour, the end time) are in
//! [`super::search_core`].
//!
//! The next page is fetched in the background while the current one is consumed, so at most two
//! pages are held. Failures are retried with backoff; a stall is reported (a [`crate::Notice`]),
//! not hidden; an event too large to receive is skipped by id, not allowed to block the stream.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use teleport_audit_types::AuditEvent;
use time::OffsetDateTime;
use tokio::time::Sleep;
use tonic::transport::Channel;
use tracing::Instrument as _;

use super::config::StreamConfig;
use super::delivery;
use super::notify::Notifier;
use super::oversized;
use super::page::{self, Page, PageItem, PageRequest};
use super::retry::{Retrier, Verdict};
use super::search_core::{
    Admission, AfterPage, Fetch, LargeResponse, PageEnd, Plan, SearchCore, Settings, Then,
};
use super::task::{self, Task};
use super::time_math::utc;
use crate::client::Client;
use crate::cursor::SearchPosition;
use crate::error::{Error, ServerError};
use crate::stats::StatsHandle;

/// The search mode of an [`crate::AuditEventStream`].
pub(crate) struct SearchMachine {
    channel: Channel,
    request_timeout: Duration,
    event_types: Arc<[String]>,
    skip_event_types: Arc<[String]>,
    poll_interval: Duration,
    core: SearchCore,
    state: State,
    retrier: Retrier,
    stats: StatsHandle,
    notifier: Notifier,
    scan_span: tracing::Span,
}

impl std::fmt::Debug for SearchMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchMachine")
            .field("state", &self.state.name())
            .field("page_limit", &self.core.page_limit())
            .field("receive_limit", &self.core.receive_limit())
            .finish_non_exhaustive()
    }
}

/// A spawned page fetch, aborted if the stream is dropped.
type PageTask = Task<Result<Page, Error>>;

enum State {
    /// Ask the core what to fetch next.
    Plan,
    /// Learning the server's time: the newest event from the watermark on.
    ServerTime {
        task: PageTask,
    },
    /// Waiting for a page, since `since` (when it was asked for, or, for a page fetched ahead,
    /// when the page before it was consumed).
    Fetching {
        request: PageRequest,
        task: PageTask,
        since: Instant,
    },
    /// Yielding a page's events; the next page may be on its way.
    Delivering {
        items: std::vec::IntoIter<PageItem>,
        end: PageEnd,
        next: Option<(PageRequest, PageTask)>,
    },
    /// Waiting before a retry or the next scan.
    Waiting {
        sleep: Pin<Box<Sleep>>,
        then: AfterWait,
    },
    /// A fatal error: yielded once, then the end.
    Failed(Error),
    Done,
}

enum AfterWait {
    Retry(PageRequest),
    Plan,
}

/// What one step leads to.
enum Step {
    /// Go on with this state.
    Next(State),
    /// Nothing to do until woken; this state stays.
    Pending(State),
    /// Yield this item, then go on with this state.
    Yield(State, Option<Result<AuditEvent, Error>>),
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Plan => "plan",
            State::ServerTime { .. } => "server_time",
            State::Fetching { .. } => "fetching",
            State::Delivering { .. } => "delivering",
            State::Waiting { .. } => "waiting",
            State::Failed(_) => "failed",
            State::Done => "done",
        }
    }
}

impl SearchMachine {
    /// A search from `cursor` (the stream's settings are already checked).
    pub(crate) fn new(
        client: &Client,
        config: &StreamConfig,
        cursor: SearchPosition,
        start_now: bool,
        notifier: Notifier,
    ) -> Self {
        let stats = notifier.stats().clone();
        stats.update(|s| s.watermark = Some(cursor.watermark()));
        Self {
            channel: client.channel().clone(),
            request_timeout: config.request_timeout.unwrap_or(client.request_timeout()),
            event_types: Arc::from(config.event_types.clone()),
            skip_event_types: Arc::clone(&config.skip_event_types),
            poll_interval: config.poll_interval,
            core: SearchCore::new(Settings::from_config(config), cursor, start_now),
            state: State::Plan,
            retrier: Retrier::new(config, notifier.clone()),
            stats,
            notifier,
            scan_span: tracing::Span::none(),
        }
    }

    /// The position right after the last event yielded.
    pub(crate) fn position(&self) -> &SearchPosition {
        self.core.position()
    }

    /// Steps the state machine until it has an item to yield or must wait.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<AuditEvent, Error>>> {
        loop {
            let state = std::mem::replace(&mut self.state, State::Done);
            match self.step(state, cx) {
                Step::Next(state) => self.state = state,
                Step::Pending(state) => {
                    self.state = state;
                    return Poll::Pending;
                }
                Step::Yield(state, item) => {
                    self.state = state;
                    return Poll::Ready(item);
                }
            }
        }
    }

    /// One transition.
    fn step(&mut self, state: State, cx: &mut Context<'_>) -> Step {
        match state {
            State::Done => Step::Yield(State::Done, None),
            State::Failed(error) => Step::Yield(State::Done, Some(Err(error))),
            State::Plan => Step::Next(self.plan()),
            State::ServerTime { mut task } => match task.poll(cx) {
                Poll::Pending => Step::Pending(State::ServerTime { task }),
                Poll::Ready(Ok(answer)) => Step::Next(self.on_server_time(Some(answer))),
                Poll::Ready(Err(error)) => {
                    Step::Next(State::Failed(task::failed("server time", &error)))
                }
            },
            State::Fetching {
                request,
                mut task,
                since,
            } => match task.poll(cx) {
                Poll::Pending => Step::Pending(State::Fetching {
                    request,
                    task,
                    since,
                }),
                Poll::Ready(joined) => {
                    let result = match joined {
                        Ok(result) => result,
                        Err(error) => {
                            return Step::Next(State::Failed(task::failed("page fetch", &error)));
                        }
                    };
                    Step::Next(match result {
                        Ok(page) => self.on_page(&request, page),
                        Err(error) => self.on_error(request, error, since),
                    })
                }
            },
            State::Delivering {
                mut items,
                end,
                next,
            } => {
                for item in items.by_ref() {
                    match self.core.admit(item.time, &item.id) {
                        Admission::Deliver => {
                            if let Some(event) =
                                delivery::output(item, &self.notifier, &self.skip_event_types)
                            {
                                let state = State::Delivering { items, end, next };
                                return Step::Yield(state, Some(Ok(event)));
                            }
                        }
                        Admission::Duplicate => self.stats.update(|s| s.duplicates_dropped += 1),
                        Admission::OutOfRange => {}
                    }
                }
                Step::Next(self.on_page_consumed(end, next))
            }
            State::Waiting { mut sleep, then } => match sleep.as_mut().poll(cx) {
                Poll::Pending => Step::Pending(State::Waiting { sleep, then }),
                Poll::Ready(()) => Step::Next(match then {
                    AfterWait::Retry(request) => self.fetch(request),
                    AfterWait::Plan => State::Plan,
                }),
            },
        }
    }

    /// Asks the core what to fetch, and starts fetching it.
    fn plan(&mut self) -> State {
        match self.core.plan(utc(OffsetDateTime::now_utc())) {
            Plan::Done => State::Done,
            Plan::ServerTime { from, to } => {
                let mut request = self.request(Fetch {
                    from,
                    to,
                    key: String::new(),
                });
                request.limit = 1;
                request.newest_first = true;
                request.event_types = Arc::from(Vec::new());
                State::ServerTime {
                    task: self.spawn(&request, false),
                }
            }
            Plan::Scan(fetch) => {
                self.scan_span = tracing::info_span!(
                    "audit_scan",
                    from = %fetch.from,
                    to = %fetch.to,
                    resumed = !fetch.key.is_empty(),
                );
                let request = self.request(fetch);
                self.fetch(request)
            }
        }
    }

    /// The server's time: its newest event (from now, the stream starts right after it). A
    /// failed request (or a failed task) only means less is known; it is not an answer.
    fn on_server_time(&mut self, answer: Option<Result<Page, Error>>) -> State {
        let newest = match answer {
            Some(Ok(page)) => page.items.iter().map(|item| item.time).max(),
            Some(Err(error)) => {
                tracing::debug!(%error, "the server-time request failed; going on without it");
                return State::Plan;
            }
            None => {
                tracing::debug!("the server-time task failed; going on without it");
                return State::Plan;
            }
        };
        if let Some(start) = self.core.server_time_answered(newest) {
            tracing::debug!(%start, "starting after the server's newest event");
            self.publish_watermark();
        }
        State::Plan
    }

    fn request(&self, fetch: Fetch) -> PageRequest {
        PageRequest {
            from: fetch.from,
            to: fetch.to,
            key: fetch.key,
            limit: self.core.page_limit(),
            event_types: Arc::clone(&self.event_types),
            max_receive: self.core.receive_limit(),
            timeout: self.request_timeout,
            newest_first: false,
        }
    }

    /// `skip_oversized`: fetch one event too large to receive as a skipped-event notice.
    fn spawn(&self, request: &PageRequest, skip_oversized: bool) -> PageTask {
        let span = tracing::debug_span!(
            parent: &self.scan_span,
            "audit_page",
            limit = request.limit,
            resumed = !request.key.is_empty(),
            skip_oversized,
        );
        let channel = self.channel.clone();
        let request = request.clone();
        Task::spawn(
            async move {
                if skip_oversized {
                    oversized::skipped_search_page(channel, request).await
                } else {
                    page::fetch(channel, request).await
                }
            }
            .instrument(span),
        )
    }

    fn fetch(&self, request: PageRequest) -> State {
        let task = self.spawn(&request, false);
        State::Fetching {
            request,
            task,
            since: Instant::now(),
        }
    }

    fn on_page(&mut self, request: &PageRequest, page: Page) -> State {
        self.retrier.succeeded();
        self.stats.update(|s| s.pages += 1);
        let newest = page.items.iter().map(|item| item.time).max();
        self.core.page_received(newest);
        tracing::debug!(
            parent: &self.scan_span,
            items = page.items.len(),
            full = page.full,
            more = !page.last_key.is_empty(),
            "page received"
        );
        // Prefetch the next page while this one is consumed.
        let next = (!page.last_key.is_empty()).then(|| {
            let next = self.request(Fetch {
                from: request.from,
                to: request.to,
                key: page.last_key.clone(),
            });
            let task = self.spawn(&next, false);
            (next, task)
        });
        State::Delivering {
            items: page.items.into_iter(),
            end: PageEnd {
                newest,
                last_key: page.last_key,
                full: page.full,
                keyed: !request.key.is_empty(),
            },
            next,
        }
    }

    /// Every event of a page has been considered: the core moves the watermark; do what follows.
    fn on_page_consumed(&mut self, end: PageEnd, next: Option<(PageRequest, PageTask)>) -> State {
        let after = self.core.page_consumed(end);
        match after {
            AfterPage::Replan => State::Plan,
            AfterPage::NextPage(fetch) => {
                self.publish_watermark();
                match next {
                    Some((request, task)) => State::Fetching {
                        request,
                        task,
                        since: Instant::now(),
                    },
                    None => self.fetch(self.request(fetch)),
                }
            }
            AfterPage::Recheck(fetch) => {
                // An empty last page is routine (DynamoDB and the file backend give a key with a
                // full final page).
                tracing::debug!(
                    parent: &self.scan_span,
                    from = %fetch.from,
                    "an empty last page answered a page key; checking without the key"
                );
                self.fetch(self.request(fetch))
            }
            AfterPage::ScanComplete(complete) => {
                if let Some(began) = complete.caught_up_at {
                    self.stats.update(|s| s.caught_up_at = Some(began));
                }
                self.publish_watermark();
                if let Some(until) = complete.waiting_for_late_events_until {
                    self.stats
                        .update(|s| s.waiting_for_late_events_until = Some(until));
                }
                match complete.then {
                    Then::Finish => State::Done,
                    Then::ScanAgain => State::Plan,
                    Then::Poll => State::Waiting {
                        sleep: Box::pin(tokio::time::sleep(self.poll_interval)),
                        then: AfterWait::Plan,
                    },
                }
            }
        }
    }

    fn publish_watermark(&self) {
        let watermark = self.core.watermark();
        self.stats.update(|s| s.watermark = Some(watermark));
    }

    fn on_error(&mut self, request: PageRequest, error: Error, since: Instant) -> State {
        if let Some(found) = oversized::too_large(&error) {
            return self.on_too_large(request, found);
        }
        // A page key the server refuses (expired, or from another backend).
        if matches!(error, Error::Server(ServerError::InvalidArgument { .. }))
            && !request.key.is_empty()
            && let Some(fetch) = self.core.continue_without_key()
        {
            tracing::warn!(
                parent: &self.scan_span,
                from = %fetch.from,
                "the server refused a page key; continuing the scan without it"
            );
            return self.fetch(self.request(fetch));
        }
        match self.retrier.failed(error, "audit search", since) {
            Verdict::Fatal(error) => State::Failed(error),
            Verdict::Retry { delay } => State::Waiting {
                sleep: Box::pin(tokio::time::sleep(delay)),
                then: AfterWait::Retry(request),
            },
        }
    }

    /// A response was over the receive limit: the core says how to ask again.
    fn on_too_large(&mut self, mut request: PageRequest, found: Option<usize>) -> State {
        match self
            .core
            .too_large(request.limit, request.max_receive, found)
        {
            LargeResponse::Shrink { limit } => {
                request.limit = limit;
                tracing::info!(limit, "response too large; shrinking the page");
                self.fetch(request)
            }
            LargeResponse::Raise { max_receive } => {
                request.max_receive = max_receive;
                tracing::info!(
                    limit = max_receive,
                    "event too large; raising the receive limit"
                );
                self.fetch(request)
            }
            LargeResponse::Skip => {
                // The skip itself is a notice (and its one warning).
                tracing::debug!("event over the largest receive limit; skipping it by id");
                let task = self.spawn(&request, true);
                State::Fetching {
                    request,
                    task,
                    since: Instant::now(),
                }
            }
        }
    }
}
