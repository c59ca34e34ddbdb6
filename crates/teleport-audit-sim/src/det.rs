//! Deterministic pseudo-randomness: every generated value is a pure function of the seed and
//! a few integers, so a backlog of millions of events costs nothing until it is queried and the
//! same query always returns the same events.

/// SplitMix64's finaliser: a fast, well-mixed bijection on `u64`.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hashes a sequence of integers into one well-mixed value.
pub(crate) fn hash_words(words: &[u64]) -> u64 {
    let mut h = 0x243f_6a88_85a3_08d3_u64;
    for &w in words {
        h = mix64(h.wrapping_add(0x9e37_79b9_7f4a_7c15) ^ w);
    }
    h
}

/// A small deterministic stream of draws (SplitMix64) started from a hash of its inputs.
#[derive(Debug, Clone)]
pub(crate) struct Draw {
    state: u64,
}

impl Draw {
    /// A stream for `words` (seed, salt, index, purpose...).
    pub(crate) fn new(words: &[u64]) -> Draw {
        Draw {
            state: hash_words(words),
        }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.state)
    }

    /// A value in `0..n` (`0` when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift: unbiased enough for test data, and branch-free.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// `true` with probability `p` (clamped to `[0, 1]`).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < p
    }

    /// One element of a non-empty slice (the first for an empty one is impossible: callers pass
    /// constant, non-empty tables).
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        let i = self.below(items.len() as u64) as usize;
        items[i.min(items.len().saturating_sub(1))]
    }

    /// 16 random bytes.
    pub(crate) fn bytes16(&mut self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        out[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_deterministic_and_input_sensitive() {
        let a: Vec<u64> = {
            let mut d = Draw::new(&[1, 2, 3]);
            (0..4).map(|_| d.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut d = Draw::new(&[1, 2, 3]);
            (0..4).map(|_| d.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut d = Draw::new(&[1, 2, 4]);
            (0..4).map(|_| d.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn below_and_range_stay_in_bounds() {
        let mut d = Draw::new(&[42]);
        for _ in 0..10_000 {
            assert!(d.below(7) < 7);
            let r = d.range(3, 5);
            assert!((3..=5).contains(&r));
        }
        assert_eq!(d.below(0), 0);
    }

    #[test]
    fn chance_roughly_matches_probability() {
        let mut d = Draw::new(&[7]);
        let hits = (0..20_000).filter(|_| d.chance(0.25)).count();
        assert!((4_000..6_000).contains(&hits), "{hits}");
        assert!(!Draw::new(&[1]).chance(0.0));
        assert!(Draw::new(&[1]).chance(1.0));
    }
}
