//! The session recordings mode of an [`crate::AuditEventStream`]
//! ([`crate::StreamConfig::session_recordings`]): [`Recordings`], a thin driver around the audit
//! stream's machine that interleaves the recording events of up to `concurrency` open sessions
//! with the audit events. Its rules (which uploads add a session, which recordings to open,
//! when the audit stream may be read, which recording events are delivered, what a failure
//! means) are in [`recordings_core`]; where a recording is read from is a [`RecordingSource`].
//!
//! Memory: the driver holds no queue. Each poll polls the open recording streams in turn and
//! yields the first event one of them has ready, so at most one event per open stream is in
//! hand (inside the stream); the audit stream is polled only while fewer than `max_pending`
//! sessions are in progress.

mod recordings_core;
pub(crate) mod source;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use teleport_audit_types::AuditEvent;
use time::OffsetDateTime;

use super::notify::Notifier;
use super::session_recordings::SessionRecordings;
use crate::cursor::SessionsPosition;
use crate::error::{Error, ServerError};
use crate::notice::Notice;
use recordings_core::{End, Ended, RecordingsCore, Upload, Verdict};
use source::{Failure, RecordingSource, RecordingStream, SourceError};

/// The recordings mode's state: the core, the open recording streams, the retry timer.
pub(crate) struct Recordings {
    core: RecordingsCore,
    source: Arc<dyn RecordingSource>,
    /// Open recording streams, in the order they were opened.
    open: Vec<(String, RecordingStream)>,
    /// Which open stream is polled first next time (fairness).
    turn: usize,
    /// Wakes the stream when a recording not found yet may be asked for again.
    retry_timer: Option<(OffsetDateTime, Pin<Box<tokio::time::Sleep>>)>,
    notifier: Notifier,
    /// The server's clock minus this machine's (upload times are the server's).
    clock_offset: time::Duration,
    /// The session of the item yielded last, when it was a recording event.
    last_recording: Option<String>,
    /// The audit stream ended (an end time): finish the sessions in progress, then end.
    audit_done: bool,
    /// A fatal error was yielded: nothing more.
    failed: bool,
}

impl std::fmt::Debug for Recordings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recordings")
            .field("core", &self.core)
            .field("open", &self.open.len())
            .finish_non_exhaustive()
    }
}

/// Polls the audit stream's next item.
pub(crate) type PollAudit<'a> =
    &'a mut dyn FnMut(&mut Context<'_>) -> Poll<Option<Result<AuditEvent, Error>>>;

impl Recordings {
    pub(crate) fn new(
        settings: SessionRecordings,
        position: SessionsPosition,
        source: Arc<dyn RecordingSource>,
        notifier: Notifier,
        clock_offset: Option<time::Duration>,
    ) -> Self {
        let pending = position.pending.len() as u64;
        notifier.stats().update(|s| s.sessions_pending = pending);
        Self {
            core: RecordingsCore::new(settings, position),
            source,
            open: Vec::new(),
            turn: 0,
            retry_timer: None,
            notifier,
            clock_offset: clock_offset.unwrap_or_default(),
            last_recording: None,
            audit_done: false,
            failed: false,
        }
    }

    /// The sessions part of the cursor.
    pub(crate) fn position(&self) -> &SessionsPosition {
        self.core.position()
    }

    /// The session of the item yielded last, if it was a recording event.
    pub(crate) fn last_recording(&self) -> Option<&str> {
        self.last_recording.as_deref()
    }

    /// The server's now, as far as this machine can tell.
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.clock_offset
    }

    /// The next item: a recording event of an open session, else an audit event (while the
    /// backpressure allows), else pending.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        audit: PollAudit<'_>,
    ) -> Poll<Option<Result<AuditEvent, Error>>> {
        self.last_recording = None;
        if self.failed {
            return Poll::Ready(None);
        }
        let mut fired = None;
        loop {
            self.open_due(fired.take());
            let mut changed = false;
            if let Some(item) = self.poll_open(cx, &mut changed) {
                return Poll::Ready(Some(item));
            }
            if !self.audit_done && self.core.may_read_audit() {
                match audit(cx) {
                    Poll::Ready(Some(Ok(event))) => {
                        self.audit_delivered(&event);
                        return Poll::Ready(Some(Ok(event)));
                    }
                    Poll::Ready(Some(Err(error))) => {
                        self.failed = true;
                        return Poll::Ready(Some(Err(error)));
                    }
                    Poll::Ready(None) => {
                        self.audit_done = true;
                        changed = true;
                    }
                    Poll::Pending => {}
                }
            }
            if self.audit_done && self.core.is_idle() {
                return Poll::Ready(None);
            }
            if changed {
                continue;
            }
            if let Some(at) = self.poll_retry_timer(cx) {
                fired = Some(at);
                continue;
            }
            return Poll::Pending;
        }
    }

    /// Opens every recording the core says is due (at the retry time `fired` at the earliest:
    /// the timer and the clock may disagree by a little).
    fn open_due(&mut self, fired: Option<OffsetDateTime>) {
        let now = fired.map_or(self.now(), |fired| fired.max(self.now()));
        while let Some(open) = self.core.open_next(now) {
            let stream = self.source.open(
                &open.sid,
                open.start_index,
                &self.core.settings().skip_types,
            );
            self.open.push((open.sid, stream));
        }
    }

    /// Polls the open recording streams in turn: the first event to yield, or a fatal error.
    /// Sets `changed` when a stream ended (a slot is free).
    fn poll_open(
        &mut self,
        cx: &mut Context<'_>,
        changed: &mut bool,
    ) -> Option<Result<AuditEvent, Error>> {
        let count = self.open.len();
        let mut k = 0;
        while k < count && !self.open.is_empty() {
            let at = (self.turn + k) % self.open.len();
            k += 1;
            loop {
                let (sid, stream) = &mut self.open[at];
                match stream.as_mut().poll_next(cx) {
                    Poll::Pending => break,
                    Poll::Ready(Some(Ok(event))) => {
                        let ei = event.index();
                        match self.core.recording_event(sid, ei, event.event_type()) {
                            Verdict::Deliver => {
                                self.notifier
                                    .stats()
                                    .update(|s| s.recording_events_delivered += 1);
                                self.last_recording = Some(sid.clone());
                                self.turn = at + 1;
                                return Some(Ok(event));
                            }
                            Verdict::Skip => {
                                self.notifier.stats().update(|s| s.events_filtered += 1);
                            }
                            Verdict::Duplicate => {
                                self.notifier.stats().update(|s| s.duplicates_dropped += 1);
                            }
                        }
                    }
                    Poll::Ready(Some(Err(SourceError { failure, error }))) => {
                        let end = match failure {
                            Failure::Fatal => {
                                self.failed = true;
                                return Some(Err(error));
                            }
                            Failure::NotFound => End::NotFound,
                            Failure::Corrupt => End::Corrupt,
                        };
                        self.ended(at, end, Some(error));
                        *changed = true;
                        break;
                    }
                    Poll::Ready(None) => {
                        self.ended(at, End::Complete, None);
                        *changed = true;
                        break;
                    }
                }
            }
        }
        None
    }

    /// The open stream at `at` ended as `end`.
    fn ended(&mut self, at: usize, end: End, error: Option<Error>) {
        let (sid, _) = self.open.remove(at);
        let next_index = self.core.position().pending(&sid).map_or(0, |p| p.next);
        let now = self.now();
        let notice = match (self.core.recording_ended(&sid, end, now), error) {
            (Ended::Finished, _) => {
                self.notifier.stats().update(|s| s.sessions_finished += 1);
                None
            }
            (Ended::RetryAt(at), _) => {
                tracing::debug!(session_id = %sid, retry_at = %at, "recording not found yet");
                None
            }
            (Ended::Missing { waited }, Some(error)) => Some(Notice::RecordingMissing {
                session_id: sid,
                waited,
                last_error: Arc::new(error),
            }),
            (Ended::Corrupt, Some(error)) => Some(Notice::RecordingCorrupt {
                session_id: sid,
                // Where the session stream stopped (past the events it skipped by type), else
                // the cursor's next index.
                next_index: match &error {
                    Error::Server(ServerError::RecordingCorrupt { next_index, .. }) => *next_index,
                    _ => next_index,
                },
                error: Arc::new(error),
            }),
            (Ended::Missing { .. } | Ended::Corrupt | Ended::NotOpen, _) => None,
        };
        if let Some(notice) = notice {
            self.notifier.notice(0, notice);
        }
        self.pending_changed();
    }

    /// A delivered audit event: a `session.upload` adds a session.
    fn audit_delivered(&mut self, event: &AuditEvent) {
        let sid = event.session_id();
        match self
            .core
            .audit_delivered(event.event_type(), sid, event.time())
        {
            Upload::Added => self.pending_changed(),
            Upload::InvalidSessionId => self.notifier.notice(
                0,
                Notice::UploadWithoutSession {
                    id: event.uid().unwrap_or_default().to_owned(),
                    time: event.time(),
                },
            ),
            Upload::Unrelated | Upload::Duplicate => {}
        }
    }

    fn pending_changed(&self) {
        let pending = self.core.pending_len() as u64;
        self.notifier
            .stats()
            .update(|s| s.sessions_pending = pending);
    }

    /// Arms the timer for the next retry of a recording not found yet, and polls it: the retry
    /// time once it has fired (a recording may be opened).
    fn poll_retry_timer(&mut self, cx: &mut Context<'_>) -> Option<OffsetDateTime> {
        let Some(at) = self.core.next_retry() else {
            self.retry_timer = None;
            return None;
        };
        let now = self.now();
        let timer = match &mut self.retry_timer {
            Some((armed, timer)) if *armed == at => timer,
            slot => {
                let wait = std::time::Duration::try_from(at - now).unwrap_or_default();
                let timer = Box::pin(tokio::time::sleep(wait));
                &mut slot.insert((at, timer)).1
            }
        };
        if timer.as_mut().poll(cx).is_ready() {
            self.retry_timer = None;
            return Some(at);
        }
        None
    }
}

#[cfg(test)]
mod tests;
