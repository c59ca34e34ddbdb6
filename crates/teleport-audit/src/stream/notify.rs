//! [`Notifier`]: where every part of a stream (the search loop, the mode probe, the export
//! driver and its chunk readers) sends its [`Notice`]s: one warning in the log, the counters in
//! [`crate::StreamStats`], and the broadcast channel behind [`crate::Notices`]. Also keeps
//! [`StallBook`], which of those parts are stalled now (for `StreamStats::stalled_since`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use time::OffsetDateTime;
use tokio::sync::broadcast;

use crate::notice::{NOTICE_BUFFER, Notice, Notices};
use crate::stats::{StatsHandle, StreamStats};

/// The parts of a stream that are stalled now, each with the time its failing began.
#[derive(Debug, Default)]
pub(crate) struct StallBook {
    next: u64,
    stalled: BTreeMap<u64, OffsetDateTime>,
}

impl StallBook {
    /// A number for a new sequence of calls (a retrier).
    pub(crate) fn register(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// `part` reported a stall that began at `since`.
    pub(crate) fn stalled(&mut self, part: u64, since: OffsetDateTime) {
        self.stalled.entry(part).or_insert(since);
    }

    /// `part` succeeded (or ended): no longer stalled.
    pub(crate) fn cleared(&mut self, part: u64) {
        self.stalled.remove(&part);
    }

    /// When the oldest stall still going on began; `None` when nothing is stalled.
    pub(crate) fn stalled_since(&self) -> Option<OffsetDateTime> {
        self.stalled.values().min().copied()
    }
}

/// A stream's notice sender, shared by all its parts (cheap to clone).
#[derive(Clone, Debug)]
pub(crate) struct Notifier {
    stats: StatsHandle,
    tx: broadcast::Sender<Notice>,
    stalls: Arc<Mutex<StallBook>>,
}

impl Notifier {
    pub(crate) fn new(stats: StatsHandle) -> Self {
        Self {
            stats,
            tx: broadcast::Sender::new(NOTICE_BUFFER),
            stalls: Arc::default(),
        }
    }

    pub(crate) fn stats(&self) -> &StatsHandle {
        &self.stats
    }

    /// A receiver of the notices sent from now on.
    pub(crate) fn subscribe(&self) -> Notices {
        Notices::new(self.tx.subscribe())
    }

    /// A number for a new sequence of calls that may stall.
    pub(crate) fn register(&self) -> u64 {
        self.book(StallBook::register)
    }

    /// Reports `notice`: one warning, the counters, and every receiver (never waits; with no
    /// receiver it only goes to the log and the counters). `part` is the sequence of calls a
    /// stall or a recovery belongs to.
    pub(crate) fn notice(&self, part: u64, notice: Notice) {
        let stalled_since = match &notice {
            Notice::Stalled { since, .. } => self.book(|book| {
                book.stalled(part, *since);
                book.stalled_since()
            }),
            Notice::Recovered { .. } => self.book(|book| {
                book.cleared(part);
                book.stalled_since()
            }),
            _ => None,
        };
        self.stats.update(|s| count(s, &notice, stalled_since));
        log(&notice);
        // An error here only means nobody listens.
        let _ = self.tx.send(notice);
    }

    /// `part` ends (a retrier dropped while stalled: its stream or chunk is gone).
    pub(crate) fn part_ended(&self, part: u64) {
        let since = self.book(|book| {
            book.cleared(part);
            book.stalled_since()
        });
        self.stats.update(|s| s.stalled_since = since);
    }

    fn book<T>(&self, f: impl FnOnce(&mut StallBook) -> T) -> T {
        // The book stays consistent whatever panicked while holding it.
        f(&mut self.stalls.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The counters a notice moves.
fn count(stats: &mut StreamStats, notice: &Notice, stalled_since: Option<OffsetDateTime>) {
    match notice {
        Notice::Stalled { .. } => {
            stats.stalls += 1;
            stats.stalled_since = stalled_since;
        }
        Notice::Recovered { .. } => stats.stalled_since = stalled_since,
        Notice::EventSkipped { .. } => stats.skipped_oversized += 1,
        Notice::MalformedEvent { .. } => stats.malformed += 1,
        Notice::ChunkSkipped { .. } => stats.chunks_skipped += 1,
        Notice::RecordingMissing { .. } | Notice::RecordingCorrupt { .. } => {
            stats.recordings_given_up += 1;
        }
        _ => {}
    }
}

/// One warning line per notice, with its code and the fields that tell which.
fn log(notice: &Notice) {
    let code = notice.code();
    match notice {
        Notice::Stalled { last_error, .. } => {
            tracing::warn!(code, last_error = %last_error, "{notice}");
        }
        Notice::Recovered { .. } => tracing::info!(code, "{notice}"),
        Notice::MalformedEvent { error, .. } => tracing::warn!(code, %error, "{notice}"),
        Notice::RecordingMissing { last_error, .. } => {
            tracing::warn!(code, last_error = %last_error, "{notice}");
        }
        Notice::RecordingCorrupt { error, .. } => tracing::warn!(code, %error, "{notice}"),
        _ => tracing::warn!(code, "{notice}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ServerError};
    use crate::rpc_name::Rpc;
    use std::time::Duration;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(secs)
    }

    #[test]
    fn stalled_since_is_the_oldest_stall_still_going_on() {
        let mut book = StallBook::default();
        let (a, b) = (book.register(), book.register());
        assert_ne!(a, b);
        assert_eq!(book.stalled_since(), None);
        book.stalled(a, at(20));
        book.stalled(b, at(10));
        // A repeated report keeps the first time.
        book.stalled(a, at(30));
        assert_eq!(book.stalled_since(), Some(at(10)));
        book.cleared(b);
        assert_eq!(book.stalled_since(), Some(at(20)));
        book.cleared(b);
        book.cleared(a);
        assert_eq!(book.stalled_since(), None);
    }

    #[test]
    fn notices_move_the_counters_and_reach_a_receiver() {
        use futures::StreamExt as _;
        let stats = StatsHandle::default();
        let notifier = Notifier::new(stats.clone());
        let mut notices = notifier.subscribe();
        let part = notifier.register();
        let last_error = Arc::new(Error::Server(ServerError::Timeout {
            rpc: Rpc::GetUnstructuredEvents,
            after: Duration::from_secs(1),
        }));
        for _ in 0..2 {
            notifier.notice(
                part,
                Notice::Stalled {
                    since: at(5),
                    stalled_for: Duration::from_secs(60),
                    attempts: 3,
                    last_error: Arc::clone(&last_error),
                },
            );
        }
        let s = stats.get();
        assert_eq!((s.stalls, s.stalled_since), (2, Some(at(5))));
        notifier.notice(
            part,
            Notice::Recovered {
                stalled_for: Duration::from_secs(61),
                attempts: 4,
            },
        );
        assert_eq!(stats.get().stalled_since, None);
        notifier.notice(
            0,
            Notice::ChunkSkipped {
                date: time::macros::date!(2025 - 12 - 02),
                chunk: "c".into(),
                reason: "gone".into(),
            },
        );
        assert_eq!(stats.get().chunks_skipped, 1);
        drop(notifier);
        let codes: Vec<&str> = futures::executor::block_on(notices.by_ref().collect::<Vec<_>>())
            .iter()
            .map(Notice::code)
            .collect();
        assert_eq!(
            codes,
            [
                "stalled",
                "stalled",
                "stall_recovered",
                "export_chunk_skipped"
            ]
        );
    }

    #[test]
    fn a_part_that_ends_while_stalled_clears_its_stall() {
        let stats = StatsHandle::default();
        let notifier = Notifier::new(stats.clone());
        let part = notifier.register();
        notifier.notice(
            part,
            Notice::Stalled {
                since: at(5),
                stalled_for: Duration::from_secs(60),
                attempts: 3,
                last_error: Arc::new(Error::Server(ServerError::Timeout {
                    rpc: Rpc::GetUnstructuredEvents,
                    after: Duration::from_secs(1),
                })),
            },
        );
        assert!(stats.get().stalled_since.is_some());
        notifier.part_ended(part);
        assert_eq!(stats.get().stalled_since, None);
        assert_eq!(stats.get().stalls, 1);
    }
}
