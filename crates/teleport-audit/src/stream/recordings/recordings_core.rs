//! The session recordings mode's core: the sessions in progress and every rule about them, over
//! plain data (no I/O, no clock, no async). The driver ([`super::Recordings`]) tells it what was
//! delivered and how each recording ended, and asks it which recordings to open and whether the
//! audit stream may be read; "now" is an argument.
//!
//! The rules (`docs/cursor.md`, "Session recordings"):
//!
//! - **Uploads.** A delivered audit event of type `session.upload` with a valid `sid` adds a
//!   pending session (resume index 0, its event time as the upload time), unless the session is
//!   pending already or among the [`crate::cursor::FINISHED_SESSIONS_KEPT`] finished last (a duplicate upload
//!   event). No `sid`, or one that is not a session id (a UUID):
//!   [`Upload::InvalidSessionId`], nothing added.
//! - **Opening.** At most `concurrency` recordings open at once, the pending sessions in upload
//!   order, skipping those waiting to retry a recording not found yet.
//! - **Backpressure.** The audit stream is read only while fewer than `max_pending` sessions
//!   are pending.
//! - **Recording events.** An event with index `ei >= next` is delivered (if its type is
//!   yielded) and `next` becomes `ei + 1`; a skipped one moves `next` the same way. An event
//!   below `next` that this recording stream already delivered (a resend) or that is below the
//!   index the stream was opened at is a duplicate; any other (out of order within the file) is
//!   delivered without moving `next`. An event without an index is delivered, `next` unmoved.
//! - **Ends.** The end of a recording finishes its session. A recording not found is retried
//!   (5 s doubling to 60 s) until `recording_wait` after its upload, then given up; a corrupt one
//!   is given up at once. A given-up session is finished too (the driver reports a notice).

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use time::OffsetDateTime;

use super::super::session_recordings::SessionRecordings;
use crate::cursor::{MAX_START_INDEX, PendingSession, SessionsPosition, valid_session_id};

/// The audit event type that announces an uploaded recording.
pub(crate) const SESSION_UPLOAD: &str = "session.upload";
/// Delivered indices an open recording remembers to drop a resend.
const RECENT_KEPT: usize = 64;
/// First wait before a recording not found is asked for again.
const FIRST_RETRY: Duration = Duration::from_secs(5);
/// Longest wait between two asks for a recording not found.
const MAX_RETRY: Duration = Duration::from_secs(60);

/// What a delivered audit event did to the sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Upload {
    /// Not a `session.upload`.
    Unrelated,
    /// A new pending session.
    Added,
    /// The session is pending or finished already.
    Duplicate,
    /// A `session.upload` without a usable `sid`: nothing to read.
    InvalidSessionId,
}

/// A recording to open now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Open {
    pub(crate) sid: String,
    /// The first recording index to ask for (inclusive).
    pub(crate) start_index: i64,
}

/// What to do with one recording event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Yield it.
    Deliver,
    /// Consume it without yielding it (its type is not yielded).
    Skip,
    /// Delivered before: drop it.
    Duplicate,
}

/// How a recording stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// Read to the end.
    Complete,
    /// The server has no recording for the session (yet).
    NotFound,
    /// The recording cannot be read past some point (truncated, garbage, an undecodable event).
    Corrupt,
}

/// What the end of a recording stream means for its session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Every event delivered: finished.
    Finished,
    /// Not found yet: asked for again at this time (server time).
    RetryAt(OffsetDateTime),
    /// Not found, and the wait is over: given up (finished), after waiting this long since the
    /// upload.
    Missing { waited: Duration },
    /// Corrupt: given up (finished) after delivering the events before the damage.
    Corrupt,
    /// The session was not open (nothing changes).
    NotOpen,
}

/// One open recording stream.
#[derive(Debug)]
struct OpenSession {
    /// The index it was opened at.
    start: i64,
    /// Indices it delivered lately, oldest first.
    recent: VecDeque<i64>,
}

/// A session whose recording was not found yet.
#[derive(Clone, Copy, Debug)]
struct Retry {
    at: OffsetDateTime,
    attempts: u32,
}

/// The sessions in progress and the rules over them.
#[derive(Debug)]
pub(crate) struct RecordingsCore {
    settings: SessionRecordings,
    position: SessionsPosition,
    open: BTreeMap<String, OpenSession>,
    retries: BTreeMap<String, Retry>,
}

impl RecordingsCore {
    pub(crate) fn new(settings: SessionRecordings, position: SessionsPosition) -> Self {
        Self {
            settings,
            position,
            open: BTreeMap::new(),
            retries: BTreeMap::new(),
        }
    }

    pub(crate) fn settings(&self) -> &SessionRecordings {
        &self.settings
    }

    /// The sessions part of the cursor: covers exactly what was delivered.
    pub(crate) fn position(&self) -> &SessionsPosition {
        &self.position
    }

    /// Sessions in progress (open, waiting for a slot, or waiting to retry).
    pub(crate) fn pending_len(&self) -> usize {
        self.position.pending.len()
    }

    /// Whether nothing is in progress.
    pub(crate) fn is_idle(&self) -> bool {
        self.position.pending.is_empty()
    }

    /// Whether the audit stream may be read (backpressure).
    pub(crate) fn may_read_audit(&self) -> bool {
        self.position.pending.len() < self.settings.max_pending
    }

    /// An audit event of type `event_type` with session id `sid`, at `time`, was delivered.
    pub(crate) fn audit_delivered(
        &mut self,
        event_type: &str,
        sid: Option<&str>,
        time: OffsetDateTime,
    ) -> Upload {
        if event_type != SESSION_UPLOAD {
            return Upload::Unrelated;
        }
        let Some(sid) = sid.filter(|sid| valid_session_id(sid)) else {
            return Upload::InvalidSessionId;
        };
        if self.position.is_known(sid) {
            return Upload::Duplicate;
        }
        self.position.pending.push(PendingSession {
            sid: sid.to_owned(),
            next: 0,
            uploaded: time,
        });
        Upload::Added
    }

    /// The next recording to open at `now`, if a slot is free (marked open).
    pub(crate) fn open_next(&mut self, now: OffsetDateTime) -> Option<Open> {
        if self.open.len() >= self.settings.concurrency {
            return None;
        }
        let session = self.position.pending.iter().find(|p| {
            !self.open.contains_key(&p.sid)
                && self.retries.get(&p.sid).is_none_or(|retry| retry.at <= now)
        })?;
        let open = Open {
            sid: session.sid.clone(),
            start_index: session.next,
        };
        self.open.insert(
            open.sid.clone(),
            OpenSession {
                start: open.start_index,
                recent: VecDeque::new(),
            },
        );
        Some(open)
    }

    /// When a recording waiting to retry may be opened next, if a slot is free for it.
    pub(crate) fn next_retry(&self) -> Option<OffsetDateTime> {
        if self.open.len() >= self.settings.concurrency {
            return None;
        }
        self.retries
            .iter()
            .filter(|(sid, _)| !self.open.contains_key(*sid))
            .map(|(_, retry)| retry.at)
            .min()
    }

    /// One event of session `sid`'s open recording, with index `ei` and type `event_type`.
    pub(crate) fn recording_event(
        &mut self,
        sid: &str,
        ei: Option<i64>,
        event_type: &str,
    ) -> Verdict {
        let yields = self.settings.yields(event_type);
        let verdict = if yields {
            Verdict::Deliver
        } else {
            Verdict::Skip
        };
        let (Some(open), Some(session)) = (
            self.open.get_mut(sid),
            self.position.pending.iter_mut().find(|p| p.sid == sid),
        ) else {
            // Not open: nothing can be told about it; a stream only yields for open sessions.
            return Verdict::Duplicate;
        };
        let Some(ei) = ei.filter(|ei| *ei >= 0) else {
            return verdict;
        };
        if ei >= session.next {
            session.next = ei.saturating_add(1).min(MAX_START_INDEX);
        } else if ei < open.start || open.recent.contains(&ei) {
            return Verdict::Duplicate;
        }
        open.recent.push_back(ei);
        if open.recent.len() > RECENT_KEPT {
            open.recent.pop_front();
        }
        verdict
    }

    /// Session `sid`'s recording stream ended as `end`, at `now`.
    pub(crate) fn recording_ended(&mut self, sid: &str, end: End, now: OffsetDateTime) -> Ended {
        if self.open.remove(sid).is_none() {
            return Ended::NotOpen;
        }
        let Some(uploaded) = self.position.pending(sid).map(|p| p.uploaded) else {
            return Ended::NotOpen;
        };
        let ended = match end {
            End::Complete => Ended::Finished,
            End::Corrupt => Ended::Corrupt,
            End::NotFound => {
                let deadline = uploaded + self.settings.recording_wait;
                if now >= deadline {
                    Ended::Missing {
                        waited: Duration::try_from(now - uploaded).unwrap_or(Duration::ZERO),
                    }
                } else {
                    let attempts = self.retries.get(sid).map_or(0, |retry| retry.attempts);
                    let wait = FIRST_RETRY
                        .saturating_mul(1u32 << attempts.min(8))
                        .min(MAX_RETRY);
                    let at = (now + wait).min(deadline);
                    self.retries.insert(
                        sid.to_owned(),
                        Retry {
                            at,
                            attempts: attempts.saturating_add(1),
                        },
                    );
                    return Ended::RetryAt(at);
                }
            }
        };
        self.retries.remove(sid);
        self.position.finish(sid);
        ended
    }
}
