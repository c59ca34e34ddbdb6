//! A bounded cache of generated events, in blocks of consecutive indices, so pages served
//! again (or by a benchmark) are not generated and encoded again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::body::EventBody;

/// Indices per cached block.
pub(crate) const BLOCK: u64 = 128;

pub(crate) type Block = Arc<Vec<Arc<EventBody>>>;

#[derive(Debug)]
pub(crate) struct EventCache {
    budget: usize,
    state: Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    blocks: HashMap<(u64, u64), (Block, usize, u64)>,
    bytes: usize,
    tick: u64,
}

impl EventCache {
    /// A cache holding about `budget` bytes (0 disables it).
    pub(crate) fn new(budget: usize) -> EventCache {
        EventCache {
            budget,
            state: Mutex::new(CacheState::default()),
        }
    }

    /// The cached block `block` of series `salt`.
    pub(crate) fn get(&self, salt: u64, block: u64) -> Option<Block> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.tick += 1;
        let tick = state.tick;
        let entry = state.blocks.get_mut(&(salt, block))?;
        entry.2 = tick;
        Some(entry.0.clone())
    }

    /// Stores a block, evicting the least recently used ones beyond the budget.
    pub(crate) fn put(&self, salt: u64, block: u64, events: Block) {
        if self.budget == 0 {
            return;
        }
        let size: usize = events.iter().map(|e| e.footprint()).sum();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.tick += 1;
        let tick = state.tick;
        if let Some(old) = state.blocks.insert((salt, block), (events, size, tick)) {
            state.bytes -= old.1;
        }
        state.bytes += size;
        while state.bytes > self.budget && state.blocks.len() > 1 {
            let Some((&oldest, _)) = state.blocks.iter().min_by_key(|(_, v)| v.2) else {
                break;
            };
            if let Some(gone) = state.blocks.remove(&oldest) {
                state.bytes -= gone.1;
            }
        }
    }

    /// Forgets the blocks of series `salt`.
    pub(crate) fn forget(&self, salt: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let gone: usize = state
            .blocks
            .iter()
            .filter(|(k, _)| k.0 == salt)
            .map(|(_, v)| v.1)
            .sum();
        state.blocks.retain(|k, _| k.0 != salt);
        state.bytes -= gone;
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn block(size: usize) -> Block {
        Arc::new(vec![Arc::new(EventBody {
            event_type: "x".into(),
            uid_text: "y".into(),
            ei: 0,
            json_len: size,
            struct_bytes: Bytes::from(vec![0u8; size]),
        })])
    }

    #[test]
    fn evicts_least_recently_used_beyond_budget() {
        let cache = EventCache::new(3_000);
        cache.put(0, 0, block(1_000));
        cache.put(0, 1, block(1_000));
        assert!(cache.get(0, 0).is_some()); // 0 is now more recent than 1
        cache.put(0, 2, block(1_000));
        assert!(cache.get(0, 1).is_none());
        assert!(cache.get(0, 0).is_some());
        assert!(cache.get(0, 2).is_some());
        assert!(cache.bytes() <= 3_000);
        cache.forget(0);
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn zero_budget_caches_nothing() {
        let cache = EventCache::new(0);
        cache.put(1, 1, block(10));
        assert!(cache.get(1, 1).is_none());
    }
}
