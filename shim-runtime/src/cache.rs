//! A bounded cache of decompressed image chunks: least-recently-used slots, a file's dropped when its last fd closes.
//!
//! Keys are (node, chunk index) of image files; only compressed chunks are cached (raw chunks are
//! copied straight from the image). The slot count is the image header's cache budget divided by the
//! chunk size, at least one, so a chunk being read is always cached. Slots are scanned linearly: with
//! at most a few hundred of them that costs less than copying one 4 KiB read.

use alloc::vec::Vec;

use crate::overlay::R;
use crate::wasi::ENOMEM;

/// One decompressed chunk.
struct Slot {
    /// Image node id.
    node: u32,
    /// Chunk index within the file.
    idx: u32,
    /// Value of [`ChunkCache::tick`] at the last use.
    used: u64,
    /// The decompressed bytes; empty (and not matched) while being filled.
    data: Vec<u8>,
    /// True once `data` holds the chunk.
    valid: bool,
}

/// The cache: at most `max` slots.
pub struct ChunkCache {
    slots: Vec<Slot>,
    max: usize,
    tick: u64,
}

impl ChunkCache {
    /// A cache of `budget` decompressed bytes for chunks of `chunk_size` bytes (at least one slot).
    pub fn new(budget: u32, chunk_size: u64) -> Self {
        let max = (u64::from(budget) / chunk_size.max(1)).max(1);
        ChunkCache {
            slots: Vec::new(),
            max: usize::try_from(max).unwrap_or(usize::MAX),
            tick: 0,
        }
    }

    /// The slot holding chunk `idx` of `node`, marked as just used.
    pub fn find(&mut self, node: u32, idx: u32) -> Option<usize> {
        self.tick += 1;
        let tick = self.tick;
        let i = self
            .slots
            .iter()
            .position(|s| s.valid && s.node == node && s.idx == idx)?;
        if let Some(s) = self.slots.get_mut(i) {
            s.used = tick;
        }
        Some(i)
    }

    /// A slot for chunk `idx` of `node` with a buffer of `len` bytes to decompress into: a new slot
    /// while fewer than the maximum exist, else the least recently used one (its buffer reused).
    /// The slot counts only after [`ChunkCache::filled`].
    pub fn fill(&mut self, node: u32, idx: u32, len: usize) -> R<(usize, &mut Vec<u8>)> {
        let i = if self.slots.len() < self.max {
            self.slots.try_reserve(1).map_err(|_| ENOMEM)?;
            self.slots.push(Slot {
                node,
                idx,
                used: 0,
                data: Vec::new(),
                valid: false,
            });
            self.slots.len() - 1
        } else {
            self.slots
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| (s.valid, s.used))
                .map_or(0, |(i, _)| i)
        };
        let tick = self.tick;
        let s = self.slots.get_mut(i).ok_or(ENOMEM)?;
        s.node = node;
        s.idx = idx;
        s.used = tick;
        s.valid = false;
        s.data
            .try_reserve(len.saturating_sub(s.data.len()))
            .map_err(|_| ENOMEM)?;
        s.data.resize(len, 0);
        Ok((i, &mut s.data))
    }

    /// Marks slot `i` (from [`ChunkCache::fill`]) as holding its chunk.
    pub fn filled(&mut self, i: usize) {
        if let Some(s) = self.slots.get_mut(i) {
            s.valid = true;
        }
    }

    /// The bytes of slot `i`.
    pub fn data(&self, i: usize) -> &[u8] {
        self.slots.get(i).map_or(&[], |s| &s.data)
    }

    /// Drops every chunk of `node`, giving their memory back to the allocator.
    pub fn forget(&mut self, node: u32) {
        self.slots.retain(|s| s.node != node);
    }

    /// Bytes held by cached chunks.
    pub fn bytes(&self) -> usize {
        self.slots.iter().map(|s| s.data.capacity()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(c: &mut ChunkCache, node: u32, idx: u32) -> usize {
        let (i, buf) = c.fill(node, idx, 4).unwrap();
        buf.fill(idx as u8);
        c.filled(i);
        i
    }

    #[test]
    fn holds_budget_over_chunk_size_slots_and_evicts_the_least_recently_used() {
        let mut c = ChunkCache::new(3 * 4, 4);
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
        let mut c = ChunkCache::new(1, 4096);
        put(&mut c, 1, 0);
        assert!(c.find(1, 0).is_some());
        put(&mut c, 1, 1);
        assert!(c.find(1, 0).is_none());
        assert!(c.find(1, 1).is_some());
    }

    #[test]
    fn a_slot_not_marked_filled_is_never_found() {
        let mut c = ChunkCache::new(8, 4);
        let _ = c.fill(1, 0, 4).unwrap();
        assert!(c.find(1, 0).is_none());
    }

    #[test]
    fn forgetting_a_file_frees_only_its_chunks() {
        let mut c = ChunkCache::new(16, 4);
        put(&mut c, 1, 0);
        put(&mut c, 2, 0);
        put(&mut c, 1, 1);
        c.forget(1);
        assert_eq!(c.slots.len(), 1);
        assert!(c.find(2, 0).is_some());
        assert!(c.find(1, 0).is_none());
    }
}
