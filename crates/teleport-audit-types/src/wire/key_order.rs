//! The order of an object's keys in the output: by their bytes, each key first ordered by its
//! first 8 bytes as one number (its prefix), so that most comparisons read no key bytes.

/// A byte range `[start, end)` of the input.
type Span = (usize, usize);

/// What an object's entries are sorted by: the key's prefix ([`key_prefix`]), then the entry's
/// place (its order on the wire). Small, so that sorting moves 16 bytes per
/// entry rather than the entry itself; keys whose prefixes tie are then ordered by their bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct SortKey {
    pub(super) prefix: u64,
    pub(super) index: usize,
}

/// [`key_prefix`] of the key at `span` of `input`: when `input` holds 8 bytes from the key's
/// start (nearly always: the value follows the key), they are read as one word and the bytes
/// past the key cleared.
#[inline(always)]
pub(super) fn key_prefix_at(input: &[u8], (start, end): Span) -> u64 {
    let len = end - start;
    match input.get(start..).and_then(|rest| rest.first_chunk::<8>()) {
        Some(word) if len < 8 => u64::from_be_bytes(*word) & !(u64::MAX >> (8 * len)),
        Some(word) => u64::from_be_bytes(*word),
        None => key_prefix(&input[start..end]),
    }
}

/// The key's first 8 bytes as a big-endian number, zero-padded: ordering two keys by it orders
/// them by their bytes whenever it differs.
#[inline]
fn key_prefix(key: &[u8]) -> u64 {
    if let Some(first) = key.first_chunk::<8>() {
        return u64::from_be_bytes(*first);
    }
    // Shorter keys byte by byte: a copy into a zeroed array stalls the load that follows it.
    key.iter()
        .zip((0..8).rev())
        .fold(0, |prefix, (&byte, place)| {
            prefix | u64::from(byte) << (8 * place)
        })
}

/// Objects with at most this many entries (nearly all) are sorted by [`insertion_sort_by_prefix`].
const INSERTION_SORT_MAX: usize = 32;

/// Sorts `order`, pushed in place order, by prefix then place: a stable insertion sort that
/// compares prefixes alone (place order among equal prefixes is kept, being the pushed order).
/// For the few entries of an object, cheaper than the general sort, which compares both.
#[inline]
fn insertion_sort_by_prefix(order: &mut [SortKey]) {
    for next in 1..order.len() {
        let key = order[next];
        let mut at = next;
        while at > 0 && order[at - 1].prefix > key.prefix {
            order[at] = order[at - 1];
            at -= 1;
        }
        order[at] = key;
    }
}

/// Sorts an object's entries (`order`, as pushed: by place) into output order: by key bytes,
/// then by place, so that of two entries with the same key the last on the wire comes last.
/// `key_of` gives the key bytes of the entry at a place.
pub(super) fn sort_entries<'k>(order: &mut [SortKey], key_of: impl Fn(usize) -> &'k [u8]) {
    if order.len() <= INSERTION_SORT_MAX {
        insertion_sort_by_prefix(order);
    } else {
        order.sort_unstable();
    }
    if !order
        .windows(2)
        .any(|pair| pair[0].prefix == pair[1].prefix)
    {
        return;
    }
    // Keys that share their first 8 bytes are in place order; order them by their bytes. A
    // stable sort keeps place order among equal keys.
    let mut rest = order;
    while let Some(first) = rest.first() {
        let prefix = first.prefix;
        let run = rest.iter().take_while(|key| key.prefix == prefix).count();
        let (tied, after) = rest.split_at_mut(run);
        if tied.len() > 1 {
            tied.sort_by(|a, b| key_of(a.index).cmp(key_of(b.index)));
        }
        rest = after;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn the_insertion_sort_orders_as_the_general_sort(
            prefixes in prop::collection::vec(0u64..6, 0..=INSERTION_SORT_MAX),
        ) {
            // Few distinct prefixes, so that many tie; places as pushed: ascending.
            let pushed: Vec<SortKey> = prefixes
                .iter()
                .enumerate()
                .map(|(index, &prefix)| SortKey { prefix, index })
                .collect();
            let mut expected = pushed.clone();
            expected.sort_unstable();
            let mut sorted = pushed;
            insertion_sort_by_prefix(&mut sorted);
            prop_assert_eq!(sorted, expected);
        }
    }

    #[test]
    fn a_key_prefix_read_in_place_is_the_prefix_of_the_key_alone() {
        let key = b"\x01addr.local\xffserver_hostname";
        for len in 0..=key.len() {
            for after in [&b""[..], b"\xff\xff\xff\xff\xff\xff\xff\xff", b"\x00"] {
                let mut input = b"ab".to_vec();
                input.extend_from_slice(&key[..len]);
                input.extend_from_slice(after);
                let span = (2, 2 + len);
                assert_eq!(
                    key_prefix_at(&input, span),
                    key_prefix(&key[..len]),
                    "length {len}, then {after:?}"
                );
            }
        }
        assert_eq!(key_prefix(b"ab"), 0x6162 << 48);
    }
}
