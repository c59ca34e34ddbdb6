//! [`Notice`]: what an [`crate::AuditEventStream`] reports besides its events (a stall and its
//! end, an event or export chunk it had to skip), and [`Notices`], the stream of them.
//!
//! A notice is not an item of the event stream: the event stream yields only events and, once,
//! a fatal error. Each notice is also logged (one `tracing` warning) and counted in
//! [`crate::StreamStats`], so a caller that never asks for notices still sees them.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use teleport_audit_types::EventError;
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::error::Error;

/// How many notices wait for a slow [`Notices`] receiver before the oldest are dropped (and
/// reported as [`Notice::Missed`]).
pub const NOTICE_BUFFER: usize = 256;

/// Something an [`crate::AuditEventStream`] reports while it goes on: nothing to handle for the
/// stream's sake, but worth an operator's attention.
///
/// `Display` is one line in our words; the underlying failure, if any, is the
/// [`std::error::Error::source`]. [`Notice::code`] is stable for logs and alerts (the same
/// codes as `docs/troubleshooting.md`), [`Notice::advice`] says what to do about it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Notice {
    /// The stream has been failing for a while (no successful call since `since`); it keeps
    /// retrying. Repeated every [`crate::StreamConfig::stall_report_after`] while it lasts;
    /// [`Notice::Recovered`] follows when it ends.
    #[non_exhaustive]
    Stalled {
        /// When the failing began (this machine's clock).
        since: OffsetDateTime,
        /// How long it has been failing.
        stalled_for: Duration,
        /// Failed attempts since the last successful call.
        attempts: u32,
        /// The most recent failure.
        last_error: Arc<Error>,
    },

    /// A call succeeded after a stall had been reported: the stream reads again.
    #[non_exhaustive]
    Recovered {
        /// How long it had been failing.
        stalled_for: Duration,
        /// Failed attempts before the success.
        attempts: u32,
    },

    /// One event is larger than the largest message the stream may receive; it was skipped (the
    /// cursor moves past it). Its id and time say which event to fetch by other means.
    #[non_exhaustive]
    EventSkipped {
        /// The event's id.
        id: String,
        /// The event's time.
        time: OffsetDateTime,
        /// Its encoded size.
        size: usize,
        /// The largest message the stream accepts
        /// ([`crate::StreamConfig::max_receive_size_limit`]).
        limit: usize,
    },

    /// One event arrived but could not be decoded into JSON; it was skipped (the cursor moves
    /// past it).
    #[non_exhaustive]
    MalformedEvent {
        /// The event's id.
        id: String,
        /// The event's time.
        time: OffsetDateTime,
        /// Why it could not be decoded.
        error: Arc<EventError>,
    },

    /// Export mode: the rest of one chunk cannot be read (the server no longer has it, or an
    /// event in it is too large to receive and the server gave no position after it). The
    /// stream goes on with the other chunks.
    #[non_exhaustive]
    ChunkSkipped {
        /// The chunk's UTC date.
        date: time::Date,
        /// The chunk's name.
        chunk: String,
        /// Why.
        reason: String,
    },

    /// Session recordings mode: a session's recording was still not there
    /// [`crate::SessionRecordings::recording_wait`] after its `session.upload` event (the upload
    /// failed, or is slower than the wait); the session was given up (the cursor forgets it) and
    /// the stream goes on.
    #[non_exhaustive]
    RecordingMissing {
        /// The session id.
        session_id: String,
        /// How long after the upload event the recording was last asked for.
        waited: Duration,
        /// The server's answer to the last ask.
        last_error: Arc<Error>,
    },

    /// Session recordings mode: a session's recording cannot be read past some point
    /// (truncated, damaged, or an event that cannot be decoded). The events before the damage
    /// were delivered; the session was given up and the stream goes on.
    #[non_exhaustive]
    RecordingCorrupt {
        /// The session id.
        session_id: String,
        /// The recording index the stream had reached (every event before it was delivered or
        /// skipped).
        next_index: i64,
        /// Why it cannot be read.
        error: Arc<Error>,
    },

    /// Session recordings mode: a `session.upload` audit event without a usable session id
    /// (`sid` missing, empty, or not a session id); it was delivered, but there is no recording
    /// to read for it.
    #[non_exhaustive]
    UploadWithoutSession {
        /// The event's id.
        id: String,
        /// The event's time.
        time: OffsetDateTime,
    },

    /// This [`Notices`] receiver fell behind and the `count` oldest notices were dropped for it
    /// (the event stream is never slowed down to wait for a receiver). They were still logged
    /// and counted in [`crate::StreamStats`].
    #[non_exhaustive]
    Missed {
        /// Notices dropped at this point.
        count: u64,
    },
}

impl Notice {
    /// A stable identifier, for logs, metrics and alerts (each has an entry in
    /// `docs/troubleshooting.md`).
    pub fn code(&self) -> &'static str {
        match self {
            Notice::Stalled { .. } => "stalled",
            Notice::Recovered { .. } => "stall_recovered",
            Notice::EventSkipped { .. } => "event_skipped",
            Notice::MalformedEvent { .. } => "event_malformed",
            Notice::ChunkSkipped { .. } => "export_chunk_skipped",
            Notice::RecordingMissing { .. } => "recording_missing",
            Notice::RecordingCorrupt { .. } => "recording_corrupt",
            Notice::UploadWithoutSession { .. } => "upload_without_session",
            Notice::Missed { .. } => "notices_missed",
        }
    }

    /// What to do about it, in a sentence (also in `docs/troubleshooting.md`).
    pub fn advice(&self) -> &'static str {
        match self {
            Notice::Stalled { last_error, .. } if last_error.is_auth() => {
                "The stream keeps retrying, but the failure looks like the identity or its role: check them (see the last error)."
            }
            Notice::Stalled { .. } => {
                "Transient: the stream retries by itself; if it persists, check the Auth Service's health and logs."
            }
            Notice::Recovered { .. } => "Nothing: the stream reads again.",
            Notice::EventSkipped { .. } => {
                "Raise StreamConfig::max_receive_size_limit if such events must be delivered, or fetch the event by id."
            }
            Notice::MalformedEvent { .. } => {
                "The server sent an event that is not valid JSON-in-protobuf; report it with the event id."
            }
            Notice::ChunkSkipped { .. } => {
                "Read the chunk's events by other means (search mode over its date), or raise StreamConfig::max_receive_size_limit if an event was too large."
            }
            Notice::RecordingMissing { .. } => {
                "Check the session's upload on the node or in the recordings storage (tsh play <session id>); raise SessionRecordings::recording_wait if uploads are slow."
            }
            Notice::RecordingCorrupt { .. } => {
                "The recording in Teleport's storage is damaged or has an event this client cannot decode; check it with tsh play <session id> and report it with the session id."
            }
            Notice::UploadWithoutSession { .. } => {
                "Nothing to do for the stream; report the event id to Teleport if it recurs."
            }
            Notice::Missed { .. } => {
                "Read notices faster (a task of their own), or rely on the log and StreamStats, which have them all."
            }
        }
    }
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::Stalled {
                stalled_for,
                attempts,
                ..
            } => write!(
                f,
                "no successful call for {} ({attempts} attempts); still retrying",
                whole_seconds(*stalled_for)
            ),
            Notice::Recovered {
                stalled_for,
                attempts,
            } => write!(
                f,
                "a call succeeded again after {} of failures ({attempts} attempts)",
                whole_seconds(*stalled_for)
            ),
            Notice::EventSkipped {
                id,
                time,
                size,
                limit,
            } => write!(
                f,
                "event {id} at {time} is {size} bytes, over the receive limit of {limit} bytes; skipped"
            ),
            Notice::MalformedEvent { id, time, .. } => {
                write!(f, "event {id} at {time} could not be decoded; skipped")
            }
            Notice::ChunkSkipped {
                date,
                chunk,
                reason,
            } => write!(f, "export chunk {chunk} of {date}: {reason}; skipped"),
            Notice::RecordingMissing {
                session_id, waited, ..
            } => write!(
                f,
                "the recording of session {session_id} is still missing {} after its upload; given up",
                whole_seconds(*waited)
            ),
            Notice::RecordingCorrupt {
                session_id,
                next_index,
                ..
            } => write!(
                f,
                "the recording of session {session_id} cannot be read past index {next_index}; the rest is given up"
            ),
            Notice::UploadWithoutSession { id, time } => write!(
                f,
                "session.upload event {id} at {time} names no session; no recording to read"
            ),
            Notice::Missed { count } => {
                write!(f, "{count} notices dropped: this receiver fell behind")
            }
        }
    }
}

/// The failure behind the notice, if any (the last error of a stall, the decoding error of a
/// malformed event).
impl std::error::Error for Notice {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Notice::Stalled { last_error, .. } => Some(&**last_error),
            Notice::MalformedEvent { error, .. } => Some(&**error),
            Notice::RecordingMissing { last_error, .. } => Some(&**last_error),
            Notice::RecordingCorrupt { error, .. } => Some(&**error),
            _ => None,
        }
    }
}

/// A duration to the second, as `humantime` writes it (`1m 30s`; below a second, `0s`).
fn whole_seconds(duration: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_secs(duration.as_secs()))
}

/// The notices of one [`crate::AuditEventStream`], from the moment this receiver was made
/// ([`crate::AuditEventStream::notices`]): a [`Stream`] of [`Notice`]s, `Send`, to read in any
/// task.
///
/// Backed by a bounded broadcast channel ([`NOTICE_BUFFER`]): the event stream never waits for
/// this receiver. A receiver that falls behind loses the oldest notices and gets one
/// [`Notice::Missed`] in their place ([`Notices::missed`] counts them all). Ends when the event
/// stream is dropped (and its tasks have stopped).
pub struct Notices {
    inner: BroadcastStream<Notice>,
    missed: u64,
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notices")
            .field("missed", &self.missed)
            .finish_non_exhaustive()
    }
}

impl Notices {
    pub(crate) fn new(receiver: broadcast::Receiver<Notice>) -> Self {
        Self {
            inner: BroadcastStream::new(receiver),
            missed: 0,
        }
    }

    /// Notices this receiver lost by falling behind, so far.
    pub fn missed(&self) -> u64 {
        self.missed
    }
}

impl Stream for Notices {
    type Item = Notice;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Notice>> {
        let this = self.get_mut();
        Poll::Ready(
            match std::task::ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                None => None,
                Some(Ok(notice)) => Some(notice),
                Some(Err(BroadcastStreamRecvError::Lagged(count))) => {
                    this.missed = this.missed.saturating_add(count);
                    Some(Notice::Missed { count })
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AuthError;
    use crate::error::ServerError;
    use crate::rpc_name::Rpc;
    use futures::StreamExt as _;

    fn skipped(n: usize) -> Notice {
        Notice::EventSkipped {
            id: format!("e-{n}"),
            time: OffsetDateTime::UNIX_EPOCH,
            size: 10,
            limit: 5,
        }
    }

    #[tokio::test]
    async fn a_receiver_that_falls_behind_gets_one_missed_notice_and_the_newest() {
        let (tx, rx) = broadcast::channel(4);
        let mut notices = Notices::new(rx);
        for n in 0..10 {
            // Never blocks, whatever the receiver does.
            tx.send(skipped(n)).unwrap();
        }
        drop(tx);
        let got: Vec<Notice> = notices.by_ref().collect().await;
        assert!(
            matches!(got[0], Notice::Missed { count: 6 }),
            "{:?}",
            got[0]
        );
        let ids: Vec<&str> = got[1..]
            .iter()
            .map(|n| match n {
                Notice::EventSkipped { id, .. } => id.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, ["e-6", "e-7", "e-8", "e-9"]);
        assert_eq!(notices.missed(), 6);
        assert_eq!(got[0].code(), "notices_missed");
    }

    #[test]
    fn display_is_our_words_and_the_cause_is_the_source() {
        use std::error::Error as _;
        let last = Error::Server(ServerError::Timeout {
            rpc: Rpc::GetUnstructuredEvents,
            after: Duration::from_secs(30),
        });
        let stalled = Notice::Stalled {
            since: OffsetDateTime::UNIX_EPOCH,
            stalled_for: Duration::from_millis(90_500),
            attempts: 7,
            last_error: Arc::new(last),
        };
        assert_eq!(
            stalled.to_string(),
            "no successful call for 1m 30s (7 attempts); still retrying"
        );
        assert_eq!(
            stalled.source().unwrap().to_string(),
            "GetUnstructuredEvents: no answer within 30s"
        );
        assert_eq!(stalled.code(), "stalled");
        assert!(stalled.advice().starts_with("Transient"));
        let denied = Notice::Stalled {
            since: OffsetDateTime::UNIX_EPOCH,
            stalled_for: Duration::from_secs(60),
            attempts: 2,
            last_error: Arc::new(Error::Auth(AuthError::Unauthenticated {
                rpc: Rpc::GetUnstructuredEvents,
                message: "expired".into(),
            })),
        };
        assert!(denied.advice().contains("identity"), "{}", denied.advice());
        let chunk = Notice::ChunkSkipped {
            date: time::macros::date!(2025 - 12 - 02),
            chunk: "c-1".into(),
            reason: "gone".into(),
        };
        assert_eq!(chunk.code(), "export_chunk_skipped");
        assert_eq!(
            chunk.to_string(),
            "export chunk c-1 of 2025-12-02: gone; skipped"
        );
        assert!(chunk.source().is_none());
        let missing = Notice::RecordingMissing {
            session_id: "s-1".into(),
            waited: Duration::from_secs(600),
            last_error: Arc::new(Error::Server(ServerError::Timeout {
                rpc: Rpc::GetUnstructuredEvents,
                after: Duration::from_secs(30),
            })),
        };
        assert_eq!(missing.code(), "recording_missing");
        assert_eq!(
            missing.to_string(),
            "the recording of session s-1 is still missing 10m after its upload; given up"
        );
        assert!(missing.source().is_some());
        assert!(missing.advice().contains("recording_wait"));
        let corrupt = Notice::RecordingCorrupt {
            session_id: "s-2".into(),
            next_index: 42,
            error: Arc::new(Error::Server(ServerError::Timeout {
                rpc: Rpc::GetUnstructuredEvents,
                after: Duration::from_secs(30),
            })),
        };
        assert_eq!(corrupt.code(), "recording_corrupt");
        assert_eq!(
            corrupt.to_string(),
            "the recording of session s-2 cannot be read past index 42; the rest is given up"
        );
        let no_sid = Notice::UploadWithoutSession {
            id: "u-1".into(),
            time: OffsetDateTime::UNIX_EPOCH,
        };
        assert_eq!(no_sid.code(), "upload_without_session");
        assert!(no_sid.source().is_none());
        assert_eq!(
            skipped(1).to_string(),
            "event e-1 at 1970-01-01 0:00:00.0 +00:00:00 is 10 bytes, over the receive limit of 5 bytes; skipped"
        );
    }
}
