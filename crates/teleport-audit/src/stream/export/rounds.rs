//! The caught-up time of an export stream: listing rounds and their chunks still being read
//! (plain data, no I/O).

use std::collections::BTreeMap;

use time::OffsetDateTime;

/// Listing rounds and their chunks still being read: the caught-up time is what the newest
/// round covers such that it and every round before it has been read completely.
#[derive(Debug)]
pub(super) struct Rounds {
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
    pub(super) fn new(caught_up: OffsetDateTime) -> Self {
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

    pub(super) fn begin(&mut self) -> u64 {
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

    pub(super) fn add(&mut self, id: u64) {
        if let Some(round) = self.open.get_mut(&id) {
            round.outstanding += 1;
        }
    }

    pub(super) fn finish(&mut self, id: u64) {
        if let Some(round) = self.open.get_mut(&id) {
            round.outstanding = round.outstanding.saturating_sub(1);
        }
    }

    pub(super) fn set_covers(&mut self, id: u64, covers: OffsetDateTime) {
        if let Some(round) = self.open.get_mut(&id) {
            round.covers = Some(covers);
        }
    }

    /// Closes the oldest rounds that are read completely; returns what the newest of them
    /// covers.
    pub(super) fn advance(&mut self) -> Option<OffsetDateTime> {
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
