//! A bounded cache of decompressed image chunks: least-recently-used slots, a file's dropped when its last fd closes.
//!
//! Keys are (node, chunk index) of image files; only compressed chunks are cached (raw chunks are
//! copied straight from the image). Files have chunks of different sizes, so the cache is bounded in
//! bytes: the slots' buffers together stay within the image header's cache budget, except that one
//! slot is always kept, so a chunk being read is always cached. Slots are scanned linearly: with at
//! most a few hundred of them that costs less than copying one 4 KiB read.

use alloc::vec::Vec;

use crate::fallible::{push, reserve, resize};
use crate::overlay::{remove_at, R};
use crate::wasi::ENOMEM;

/// Chunk index of a slot being filled (never matched; chunk indexes are below the chunk count).
const FILLING: u32 = u32::MAX;

/// The cache: slots whose buffers add up to at most `budget` bytes (or one slot). (Its vectors reuse
/// element types the shim already has, which keeps the shim's code small.)
pub struct ChunkCache {
    /// Per slot: (image node id, decompressed bytes).
    slots: Vec<(u32, Vec<u8>)>,
    /// Per slot, two words: chunk index ([`FILLING`] until filled) and the tick of its last use.
    meta: Vec<u32>,
    budget: usize,
    tick: u32,
}

impl ChunkCache {
    /// A cache of at most `budget` decompressed bytes (at least one chunk).
    pub fn new(budget: u32) -> Self {
        ChunkCache {
            slots: Vec::new(),
            meta: Vec::new(),
            budget: budget as usize,
            tick: 0,
        }
    }

    /// The next use tick; on wrap-around every slot's age is reset (one round of misordering).
    fn next_tick(&mut self) -> u32 {
        if self.tick == u32::MAX {
            self.tick = 0;
            for (i, m) in self.meta.iter_mut().enumerate() {
                if i % 2 == 1 {
                    *m = 0;
                }
            }
        }
        self.tick += 1;
        self.tick
    }

    /// The slot holding chunk `idx` of `node`, marked as just used.
    pub fn find(&mut self, node: u32, idx: u32) -> Option<usize> {
        let tick = self.next_tick();
        for (i, s) in self.slots.iter().enumerate() {
            if s.0 == node && self.meta.get(2 * i) == Some(&idx) {
                if let Some(u) = self.meta.get_mut(2 * i + 1) {
                    *u = tick;
                }
                return Some(i);
            }
        }
        None
    }

    /// A slot for a chunk of `node` with a buffer of `len` bytes to decompress into: a new slot
    /// while the budget has room (or no slot exists), else the least recently used one when its
    /// buffer is as long (reused), else that one is dropped and the budget checked again.
    /// It holds nothing until [`ChunkCache::filled`] names the chunk.
    pub fn fill(&mut self, node: u32, len: usize) -> R<(usize, &mut Vec<u8>)> {
        let tick = self.tick;
        let i = loop {
            let used: usize = self.slots.iter().map(|s| s.1.len()).sum();
            if self.slots.is_empty() || used.saturating_add(len) <= self.budget {
                reserve(&mut self.slots, 1)?;
                reserve(&mut self.meta, 2)?;
                push(&mut self.slots, (node, Vec::new()))?;
                push(&mut self.meta, FILLING)?;
                push(&mut self.meta, tick)?;
                break self.slots.len() - 1;
            }
            let mut lru = 0;
            let mut oldest = u32::MAX;
            for (i, m) in self.meta.chunks_exact(2).enumerate() {
                let &[cidx, used] = m else { continue };
                let used = if cidx == FILLING { 0 } else { used };
                if used < oldest {
                    (lru, oldest) = (i, used);
                }
            }
            if self.slots.get(lru).map(|s| s.1.len()) == Some(len) {
                break lru;
            }
            self.drop_slot(lru);
        };
        if let Some([c, u]) = self.meta.get_mut(2 * i..2 * i + 2) {
            (*c, *u) = (FILLING, tick);
        }
        let s = self.slots.get_mut(i).ok_or(ENOMEM)?;
        s.0 = node;
        resize(&mut s.1, len)?;
        Ok((i, &mut s.1))
    }

    /// Marks slot `i` (from [`ChunkCache::fill`]) as holding chunk `idx`.
    pub fn filled(&mut self, i: usize, idx: u32) {
        if let Some(m) = self.meta.get_mut(2 * i) {
            *m = idx;
        }
    }

    /// The bytes of slot `i`.
    pub fn data(&self, i: usize) -> &[u8] {
        self.slots.get(i).map_or(&[], |s| &s.1)
    }

    /// Drops slot `i`, giving its memory back to the allocator.
    fn drop_slot(&mut self, i: usize) {
        remove_at(&mut self.slots, i);
        remove_at(&mut self.meta, 2 * i + 1);
        remove_at(&mut self.meta, 2 * i);
    }

    /// Drops every chunk of `node`, giving their memory back to the allocator.
    pub fn forget(&mut self, node: u32) {
        let mut i = self.slots.len();
        while i > 0 {
            i -= 1;
            if self.slots.get(i).is_some_and(|s| s.0 == node) {
                self.drop_slot(i);
            }
        }
    }

    /// Bytes held by cached chunks.
    pub fn bytes(&self) -> usize {
        self.slots.iter().map(|s| s.1.capacity()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(c: &mut ChunkCache, node: u32, idx: u32) -> usize {
        put_len(c, node, idx, 4)
    }

    fn put_len(c: &mut ChunkCache, node: u32, idx: u32, len: usize) -> usize {
        let (i, buf) = c.fill(node, len).unwrap();
        buf.fill(idx as u8);
        c.filled(i, idx);
        i
    }

    fn held(c: &ChunkCache) -> usize {
        c.slots.iter().map(|s| s.1.len()).sum()
    }

    #[test]
    fn holds_budget_over_chunk_size_slots_and_evicts_the_least_recently_used() {
        let mut c = ChunkCache::new(3 * 4);
        for idx in 0..3 {
            put(&mut c, 1, idx);
        }
        assert!(c.find(1, 0).is_some(), "chunk 0 used again");
        put(&mut c, 1, 3);
        assert!(c.find(1, 1).is_none(), "chunk 1 was least recently used");
        for idx in [0, 2, 3] {
            let i = c.find(1, idx).unwrap();
            assert_eq!(c.data(i), [idx as u8; 4]);
        }
        assert_eq!(c.slots.len(), 3);
    }

    #[test]
    fn a_budget_below_one_chunk_still_caches_one() {
        let mut c = ChunkCache::new(1);
        put(&mut c, 1, 0);
        assert!(c.find(1, 0).is_some());
        put(&mut c, 1, 1);
        assert!(c.find(1, 0).is_none());
        assert!(c.find(1, 1).is_some());
    }

    #[test]
    fn a_slot_not_marked_filled_is_never_found() {
        let mut c = ChunkCache::new(8);
        let _ = c.fill(1, 4).unwrap();
        assert!(c.find(1, 0).is_none());
    }

    #[test]
    fn forgetting_a_file_frees_only_its_chunks() {
        let mut c = ChunkCache::new(16);
        put(&mut c, 1, 0);
        put(&mut c, 2, 0);
        put(&mut c, 1, 1);
        c.forget(1);
        assert_eq!(c.slots.len(), 1);
        assert!(c.find(2, 0).is_some());
        assert!(c.find(1, 0).is_none());
    }

    #[test]
    fn chunks_of_mixed_sizes_stay_within_the_byte_budget_dropping_the_least_recently_used() {
        let mut c = ChunkCache::new(32);
        for idx in 0..4 {
            put_len(&mut c, 1, idx, 8);
        }
        assert!(c.find(1, 0).is_some(), "chunk 0 used again");
        put_len(&mut c, 2, 0, 16);
        assert_eq!(held(&c), 32);
        assert!(
            c.find(1, 1).is_none() && c.find(1, 2).is_none(),
            "two oldest dropped"
        );
        assert!(c.find(1, 0).is_some() && c.find(1, 3).is_some());
        let i = c.find(2, 0).unwrap();
        assert_eq!(c.data(i), [0; 16]);
        put_len(&mut c, 3, 0, 32);
        assert_eq!(
            (c.slots.len(), held(&c)),
            (1, 32),
            "one chunk as large as the budget"
        );
        put_len(&mut c, 3, 1, 40);
        assert_eq!(
            (c.slots.len(), held(&c)),
            (1, 40),
            "a larger one still gets one slot"
        );
        put_len(&mut c, 3, 2, 8);
        assert_eq!((c.slots.len(), held(&c)), (1, 8));
    }
}
