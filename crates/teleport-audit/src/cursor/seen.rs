//! [`SeenSet`]: the delivered events at or after a search cursor's watermark, by id.
//!
//! A cursor stores each id as the first 8 bytes of its SHA-256 ([`id_hash`]). Most ids never
//! reach a cursor, though: a backfill's page spans many seconds, and at the page's end the
//! watermark passes all but the last of them, so their ids are forgotten. Hashing each id as it
//! is recorded cost a SHA-256 per event (6% of the client's CPU in a backfill). So an id recorded
//! by this process is kept as text at first, and hashed only when it has to be:
//!
//! - when its second outlives the page it came in ([`SeenSet::hash_pending`], which the search
//!   core calls at the end of each page, after moving the watermark): from then on the set holds
//!   8 bytes per id, as before;
//! - when the set is written as a cursor, or compared with another;
//! - when an id is recorded in a second that already holds hashes (from a cursor being resumed,
//!   or an earlier page): it has to be hashed to be compared with them, and is kept hashed.
//!
//! What the set says is unchanged: an id is a duplicate when it was recorded in the same second
//! before (as text, compared exactly; or as a hash, compared by hash). Its memory stays bounded
//! by the events of one page beyond the 8 bytes per id it held before.

use std::borrow::Cow;
use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Hash of an event id as stored in the seen set (and of a chunk name in an export cursor).
pub(crate) fn id_hash(id: &str) -> u64 {
    let digest = Sha256::digest(id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// Delivered event ids, grouped by the Unix second of the event's time.
#[derive(Clone, Debug, Default)]
pub(crate) struct SeenSet {
    /// Second -> its ids.
    buckets: BTreeMap<i64, Bucket>,
    len: usize,
}

/// The ids of one second: hashed, and recorded as text but not hashed yet.
#[derive(Clone, Debug, Default)]
struct Bucket {
    /// Sorted [`id_hash`]es.
    hashes: Vec<u64>,
    pending: PendingIds,
}

/// Ids kept as text: one string holding them all, and an index ordered by their bytes.
#[derive(Clone, Debug, Default)]
struct PendingIds {
    text: String,
    index: Vec<PendingId>,
}

/// Ids a second's [`PendingIds`] makes room for when it gets its first.
const FIRST_IDS: usize = 16;

/// Where one pending id is in [`PendingIds::text`].
#[derive(Clone, Copy, Debug)]
struct PendingId {
    /// The id's first 8 bytes, big-endian, zero-padded: ordering by it, then by the bytes, reads
    /// the bytes only when the first 8 are equal.
    prefix: u64,
    start: usize,
    end: usize,
}

/// The first 8 bytes of `id`, big-endian, zero-padded.
fn prefix_of(id: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    let len = id.len().min(8);
    first[..len].copy_from_slice(&id[..len]);
    u64::from_be_bytes(first)
}

impl PendingIds {
    fn len(&self) -> usize {
        self.index.len()
    }

    fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn id(&self, entry: PendingId) -> &str {
        self.text.get(entry.start..entry.end).unwrap_or_default()
    }

    /// Where `id` is in the index, or where it would go.
    fn find(&self, id: &str) -> Result<usize, usize> {
        let prefix = prefix_of(id.as_bytes());
        self.index.binary_search_by(|entry| {
            entry
                .prefix
                .cmp(&prefix)
                .then_with(|| self.id(*entry).cmp(id))
        })
    }

    /// Records `id` at `at`, the place [`Self::find`] gave for it.
    fn insert(&mut self, at: usize, id: &str) {
        if self.index.is_empty() {
            // Room for a few ids at once, rather than growing through 8, 16, 32... bytes.
            self.text.reserve(id.len() * FIRST_IDS);
            self.index.reserve(FIRST_IDS);
        }
        let start = self.text.len();
        self.text.push_str(id);
        let entry = PendingId {
            prefix: prefix_of(id.as_bytes()),
            start,
            end: self.text.len(),
        };
        self.index.insert(at, entry);
    }

    fn hashes(&self) -> impl Iterator<Item = u64> + '_ {
        self.index.iter().map(|entry| id_hash(self.id(*entry)))
    }
}

impl Bucket {
    fn len(&self) -> usize {
        self.hashes.len() + self.pending.len()
    }

    /// Every id as its hash, sorted, without duplicates.
    fn all_hashes(&self) -> Cow<'_, [u64]> {
        if self.pending.is_empty() {
            return Cow::Borrowed(&self.hashes);
        }
        let mut all = self.hashes.clone();
        all.extend(self.pending.hashes());
        all.sort_unstable();
        all.dedup();
        Cow::Owned(all)
    }

    /// Hashes the pending ids; returns how many fewer ids the bucket holds (two ids of one
    /// second whose hashes collide become one, as if hashed when recorded).
    fn hash_pending(&mut self) -> usize {
        if self.pending.is_empty() {
            return 0;
        }
        let before = self.len();
        let hashes = self.all_hashes().into_owned();
        self.hashes = hashes;
        self.pending = PendingIds::default();
        before - self.hashes.len()
    }
}

impl SeenSet {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, time: OffsetDateTime, id: &str) -> bool {
        self.buckets
            .get(&time.unix_timestamp())
            .is_some_and(|bucket| {
                bucket.pending.find(id).is_ok() || bucket.hashes.binary_search(&id_hash(id)).is_ok()
            })
    }

    /// Whether some recorded ids are not hashed yet.
    #[cfg(test)]
    pub(crate) fn has_pending(&self) -> bool {
        self.buckets
            .values()
            .any(|bucket| !bucket.pending.is_empty())
    }

    /// Records a delivered event; returns false if it was already there.
    pub(crate) fn insert(&mut self, time: OffsetDateTime, id: &str) -> bool {
        let bucket = self.buckets.entry(time.unix_timestamp()).or_default();
        let at = match bucket.pending.find(id) {
            Ok(_) => return false,
            Err(at) => at,
        };
        if bucket.hashes.is_empty() {
            bucket.pending.insert(at, id);
        } else {
            let hash = id_hash(id);
            match bucket.hashes.binary_search(&hash) {
                Ok(_) => return false,
                Err(slot) => bucket.hashes.insert(slot, hash),
            }
        }
        self.len += 1;
        true
    }

    /// Hashes every id still kept as text (see the [module docs](self)).
    pub(crate) fn hash_pending(&mut self) {
        for bucket in self.buckets.values_mut() {
            self.len -= bucket.hash_pending();
        }
    }

    /// Drops every second that ends at or before `time`.
    pub(crate) fn forget_before(&mut self, time: OffsetDateTime) {
        // Second `s` covers [s, s + 1); keep it if any of it is at or after `time`.
        let keep_from = time.unix_timestamp();
        let kept = self.buckets.split_off(&keep_from);
        let dropped: usize = self.buckets.values().map(Bucket::len).sum();
        self.buckets = kept;
        self.len -= dropped;
    }

    /// Adds the hashes of a second read from a cursor (sorted, without duplicates); false if
    /// the second is there already (nothing is changed then).
    pub(crate) fn insert_hashed(&mut self, second: i64, hashes: Vec<u64>) -> bool {
        if self.buckets.contains_key(&second) {
            return false;
        }
        self.len += hashes.len();
        self.buckets.insert(
            second,
            Bucket {
                hashes,
                pending: PendingIds::default(),
            },
        );
        true
    }

    /// Each second with its ids' hashes, sorted, as a cursor stores them.
    pub(crate) fn hashed(&self) -> impl Iterator<Item = (i64, Cow<'_, [u64]>)> + '_ {
        self.buckets
            .iter()
            .map(|(second, bucket)| (*second, bucket.all_hashes()))
    }
}

/// Equal when a cursor would store the same: the same seconds with the same hashes, whether
/// the ids were hashed yet or not.
impl PartialEq for SeenSet {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len
            && self.buckets.len() == other.buckets.len()
            && self.hashed().eq(other.hashed())
    }
}

impl Eq for SeenSet {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    /// The set as it was before ids were kept as text: every id hashed when recorded.
    #[derive(Default)]
    struct Hashed(BTreeMap<i64, Vec<u64>>);

    impl Hashed {
        fn insert(&mut self, second: i64, id: &str) -> bool {
            let bucket = self.0.entry(second).or_default();
            let hash = id_hash(id);
            match bucket.binary_search(&hash) {
                Ok(_) => false,
                Err(at) => {
                    bucket.insert(at, hash);
                    true
                }
            }
        }

        fn len(&self) -> usize {
            self.0.values().map(Vec::len).sum()
        }
    }

    fn at(second: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(second).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn ids_are_kept_as_text_until_hashed_and_found_either_way() {
        let mut seen = SeenSet::default();
        assert!(seen.insert(at(7), "b"));
        assert!(seen.insert(at(7), "a"));
        assert!(seen.insert(at(8), "a"));
        assert!(!seen.insert(at(7), "a"));
        assert!(seen.has_pending());
        assert_eq!(seen.len(), 3);
        seen.hash_pending();
        assert!(!seen.has_pending());
        assert_eq!(seen.len(), 3);
        assert!(seen.contains(at(7), "a") && seen.contains(at(7), "b"));
        // Recorded in a second that holds hashes: compared by hash, kept hashed.
        assert!(!seen.insert(at(7), "b"));
        assert!(seen.insert(at(7), "c"));
        assert!(!seen.has_pending());
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn ids_sharing_their_first_eight_bytes_are_told_apart() {
        let mut seen = SeenSet::default();
        for id in ["abcdefgh", "abcdefghi", "abcdefgh1", "abc", "abc\0", ""] {
            assert!(seen.insert(at(1), id), "{id:?}");
        }
        for id in ["abcdefgh", "abcdefghi", "abcdefgh1", "abc", "abc\0", ""] {
            assert!(!seen.insert(at(1), id), "{id:?}");
            assert!(seen.contains(at(1), id), "{id:?}");
        }
        assert!(!seen.contains(at(1), "abcdefgh2"));
        assert_eq!(seen.len(), 6);
    }

    #[test]
    fn equality_and_the_stored_form_do_not_depend_on_when_ids_were_hashed() {
        let mut text = SeenSet::default();
        let mut hashed = SeenSet::default();
        for (second, id) in [(5, "x"), (5, "y"), (6, "z")] {
            text.insert(at(second), id);
            hashed.insert(at(second), id);
        }
        hashed.hash_pending();
        assert_eq!(text, hashed);
        let stored: Vec<(i64, Vec<u64>)> =
            text.hashed().map(|(s, h)| (s, h.into_owned())).collect();
        let mut five = vec![id_hash("x"), id_hash("y")];
        five.sort_unstable();
        assert_eq!(stored, vec![(5, five), (6, vec![id_hash("z")])]);
        hashed.insert(at(6), "w");
        assert_ne!(text, hashed);
    }

    #[test]
    fn forgetting_counts_ids_in_either_form() {
        let mut seen = SeenSet::default();
        seen.insert(at(1), "a");
        seen.hash_pending();
        seen.insert(at(1), "b");
        seen.insert(at(2), "c");
        seen.insert(at(2), "d");
        assert_eq!(seen.len(), 4);
        seen.forget_before(at(2));
        assert_eq!(seen.len(), 2);
        assert!(!seen.contains(at(1), "a") && seen.contains(at(2), "d"));
        seen.forget_before(datetime!(1970-01-01 00:00:02.5 UTC));
        assert_eq!(seen.len(), 2);
        seen.forget_before(at(3));
        assert_eq!(seen.len(), 0);
    }

    #[test]
    fn a_second_read_from_a_cursor_is_added_once() {
        let mut seen = SeenSet::default();
        assert!(seen.insert_hashed(3, vec![id_hash("a")]));
        assert!(!seen.insert_hashed(3, vec![id_hash("b")]));
        assert_eq!(seen.len(), 1);
        assert!(!seen.insert(at(3), "a"));
        assert!(seen.insert(at(3), "b"));
    }

    proptest! {
        /// Against the set that hashes every id when it is recorded: the same answers, the same
        /// length and the same stored form, whenever the pending ids are hashed and the
        /// watermark moves.
        #[test]
        fn answers_as_hashing_every_id_at_once_does(
            steps in proptest::collection::vec(
                (0i64..6, "[a-d]{0,3}|[0-9a-f]{8}-[0-9a-f]{2}", 0u8..8),
                0..300,
            ),
        ) {
            let mut seen = SeenSet::default();
            let mut model = Hashed::default();
            for (second, id, action) in &steps {
                match action {
                    0 => {
                        seen.hash_pending();
                    }
                    1 => {
                        seen.forget_before(at(*second));
                        let kept = model.0.split_off(second);
                        model.0 = kept;
                    }
                    _ => {
                        prop_assert_eq!(seen.insert(at(*second), id), model.insert(*second, id));
                    }
                }
                prop_assert_eq!(seen.len(), model.len());
            }
            let stored: BTreeMap<i64, Vec<u64>> =
                seen.hashed().map(|(s, h)| (s, h.into_owned())).collect();
            prop_assert_eq!(stored, model.0);
        }
    }
}
