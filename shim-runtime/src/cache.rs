//! A bounded cache of decompressed image chunks: a hash index to find them, CLOCK to evict them, a file's dropped when its last fd closes.
//!
//! Keys are (node, chunk index) of image files, and (a node id no file has, stored offset) of the
//! shared blocks small files are packed in (`file.rs`), so every file of a block reads it from one
//! slot; only compressed chunks are cached (raw chunks are copied straight from the image). Files
//! have chunks of different sizes, so the cache is bounded in bytes: the slots' buffers (their
//! capacity: a block decoded in part has room for all of it) together stay within the image
//! header's cache budget, except that one slot is always kept, so a chunk being read is always
//! cached. Lookups go through an open-addressing index and eviction is CLOCK (second chance), so
//! a hit and a miss cost the same with 32 slots or 8,000 (a cache of many MiB in 4 KiB chunks).
//!
//! A random read (neither from offset 0 nor where the last read of that file ended) of a file that
//! fits in the budget fills the cache freely up to it: read long enough, all of it is cached. Other
//! reads fill up to 1 MiB (`GROW_FREELY`), and past that take more only when a miss is for a chunk
//! evicted not long ago (a "ghost": a larger cache would have hit), reusing their own slots
//! otherwise. So files read through once (a tree of small files in shared blocks, large files start
//! to end) and files many times the budget read uniformly at random (where a full cache would hit
//! budget / size of the time) do not touch every page of a budget they would barely reuse (2,048
//! page faults for 8 MiB, ~1.8 µs each on a VM), while a database read at random keeps what it
//! reads: its hot pages are missed again soon after eviction, as ghosts.

use alloc::vec::Vec;

use crate::fallible::{push, reserve};
use crate::overlay::R;
use crate::wasi::ENOMEM;

/// Chunk index of a slot being filled (never matched; chunk indexes are below the chunk count).
const FILLING: u32 = u32::MAX;

/// Bytes the cache fills without evidence that it needs them (the default budget before 8 MiB).
const GROW_FREELY: usize = 1 << 20;

/// The cache: slots whose buffers add up to at most `budget` bytes (or one slot). (Its vectors reuse
/// element types the shim already has, which keeps the shim's code small.)
pub struct ChunkCache {
    /// Per slot: (image node id, decompressed bytes).
    slots: Vec<(u32, Vec<u8>)>,
    /// Per slot, two words: chunk index ([`FILLING`] until filled) and its CLOCK bit (1: found
    /// again since it was filled or the hand last passed; a chunk read once goes first).
    meta: Vec<u32>,
    /// Open addressing with linear probing, a power of two at least twice the slot count: slot
    /// number + 1 of each filled slot at or after its key's home, 0 where empty.
    index: Vec<u32>,
    /// Direct-mapped, half as long as `index`: the [`tag`] of each recently evicted key at its
    /// home, so it remembers about as many evicted keys as the cache holds (0.6 to 1.3 times).
    ghosts: Vec<u32>,
    /// The CLOCK hand: the next slot considered for eviction.
    hand: usize,
    /// Capacity of the slots' buffers together.
    used: usize,
    budget: usize,
    /// The node read last and where that read ended.
    last: (u32, u64),
    /// Whether the current read may fill the whole budget without ghosts: a random one (neither
    /// from offset 0 nor where the last one ended) of a file no larger than the budget.
    free: bool,
}

/// A hash of key (`node`, `idx`), never 0.
fn tag(node: u32, idx: u32) -> u32 {
    (node.wrapping_mul(0x9E37_79B1) ^ idx).wrapping_mul(0x85EB_CA6B) | 1
}

/// Where key (`node`, `idx`) starts probing in an index of `mask + 1` entries.
fn home(node: u32, idx: u32, mask: usize) -> usize {
    tag(node, idx) as usize >> 7 & mask
}

impl ChunkCache {
    /// A cache of at most `budget` decompressed bytes (at least one chunk).
    pub fn new(budget: u32) -> Self {
        ChunkCache {
            slots: Vec::new(),
            meta: Vec::new(),
            index: Vec::new(),
            ghosts: Vec::new(),
            hand: 0,
            used: 0,
            budget: budget as usize,
            last: (0, 0),
            free: false,
        }
    }

    /// The key of slot `i`, if it is filled.
    fn key(&self, i: usize) -> Option<(u32, u32)> {
        let idx = *self.meta.get(2 * i)?;
        (idx != FILLING).then(|| (self.slots.get(i).map_or(0, |s| s.0), idx))
    }

    /// The index position holding key (`node`, `idx`), or the empty one ending its probe.
    fn probe(&self, node: u32, idx: u32) -> usize {
        let mask = self.index.len().wrapping_sub(1);
        let mut p = home(node, idx, mask);
        while let Some(&e) = self.index.get(p) {
            if e == 0 || self.key(e as usize - 1) == Some((node, idx)) {
                break;
            }
            p = (p + 1) & mask;
        }
        p
    }

    /// Enters filled slot `i` into the index.
    fn enter(&mut self, i: usize) {
        if let Some((node, idx)) = self.key(i) {
            let p = self.probe(node, idx);
            if let Some(e) = self.index.get_mut(p) {
                *e = i as u32 + 1;
            }
        }
    }

    /// Takes slot `i` out of the index, moving later entries of its probe run back over the gap.
    fn leave(&mut self, i: usize) {
        let Some((node, idx)) = self.key(i) else {
            return;
        };
        let mask = self.index.len().wrapping_sub(1);
        let mut gap = self.probe(node, idx);
        let mut p = gap;
        loop {
            p = (p + 1) & mask;
            let e = match self.index.get(p) {
                Some(&e) if e != 0 => e,
                _ => break,
            };
            let h = self
                .key(e as usize - 1)
                .map_or(p, |(n, c)| home(n, c, mask));
            // The entry at `p` may fill the gap unless its home lies cyclically in (gap, p].
            if (p.wrapping_sub(h) & mask) >= (p.wrapping_sub(gap) & mask) {
                if let Some(g) = self.index.get_mut(gap) {
                    *g = e;
                }
                gap = p;
            }
        }
        if let Some(g) = self.index.get_mut(gap) {
            *g = 0;
        }
    }

    /// Makes room in the index for one more slot (rebuilt twice as large when half full).
    fn grow_index(&mut self) -> R<()> {
        if 2 * (self.slots.len() + 1) <= self.index.len() {
            return Ok(());
        }
        let n = core::cmp::max(64, 2 * self.index.len());
        self.index = zeros(n)?;
        // The ghosts start again in the new geometry (a larger cache remembers more).
        self.ghosts = zeros(n / 2)?;
        for i in 0..self.slots.len() {
            self.enter(i);
        }
        Ok(())
    }

    /// Notes a read of `len` bytes of `node` (`size` bytes long) from `offset`, before its chunks
    /// are looked up.
    pub fn reading(&mut self, node: u32, size: u64, offset: u64, len: u64) {
        let random = offset != 0 && self.last != (node, offset);
        self.free = random && size <= self.budget as u64;
        self.last = (node, offset.saturating_add(len));
    }

    /// Whether key (`node`, `idx`) was evicted recently (or shares a ghost's place and tag).
    fn is_ghost(&self, node: u32, idx: u32) -> bool {
        let home = home(node, idx, self.ghosts.len().wrapping_sub(1));
        self.ghosts.get(home) == Some(&tag(node, idx))
    }

    /// Remembers the key of slot `i`, about to be evicted, as a ghost.
    fn haunt(&mut self, i: usize) {
        if let Some((node, idx)) = self.key(i) {
            let home = home(node, idx, self.ghosts.len().wrapping_sub(1));
            if let Some(g) = self.ghosts.get_mut(home) {
                *g = tag(node, idx);
            }
        }
    }

    /// The slot holding chunk `idx` of `node`, marked as used.
    pub fn find(&mut self, node: u32, idx: u32) -> Option<usize> {
        let e = *self.index.get(self.probe(node, idx))?;
        let i = (e as usize).checked_sub(1)?;
        if let Some(bit) = self.meta.get_mut(2 * i + 1) {
            *bit = 1;
        }
        Some(i)
    }

    /// A slot for chunk `idx` of `node` with a buffer with room for `len` bytes to decompress into:
    /// a new slot while the budget has room (or no slot exists; past `GROW_FREELY` only for a
    /// random read of a file that fits, or a ghost), else the CLOCK victim when its buffer is as
    /// large (reused: it still holds the victim's bytes, so the caller sets its length without
    /// zeroing it again), else that one is dropped and the budget checked again. It holds nothing
    /// until [`ChunkCache::filled`].
    pub fn fill(&mut self, node: u32, idx: u32, len: usize) -> R<(usize, &mut Vec<u8>)> {
        // Any other read without a ghost grows the cache only up to `GROW_FREELY`, and never
        // shrinks it to make room.
        let limit = if self.free || self.is_ghost(node, idx) {
            self.budget
        } else {
            GROW_FREELY.max(self.used).min(self.budget)
        };
        let i = loop {
            if self.slots.is_empty() || self.used.saturating_add(len) <= limit {
                self.grow_index()?;
                reserve(&mut self.slots, 1)?;
                reserve(&mut self.meta, 2)?;
                push(&mut self.slots, (node, Vec::new()))?;
                push(&mut self.meta, FILLING)?;
                push(&mut self.meta, 0)?;
                break self.slots.len() - 1;
            }
            let victim = self.victim();
            self.haunt(victim);
            if self.slots.get(victim).map(|s| s.1.capacity()) == Some(len) {
                self.leave(victim);
                break victim;
            }
            self.drop_slot(victim);
        };
        if let Some([c, bit]) = self.meta.get_mut(2 * i..2 * i + 2) {
            (*c, *bit) = (FILLING, 0);
        }
        let s = self.slots.get_mut(i).ok_or(ENOMEM)?;
        self.used -= s.1.capacity();
        s.0 = node;
        let reserved = s.1.try_reserve_exact(len.saturating_sub(s.1.len()));
        self.used += s.1.capacity();
        reserved.map_err(|_| ENOMEM)?;
        Ok((i, &mut s.1))
    }

    /// The slot CLOCK evicts: from the hand on, the first not used since the hand last passed (or
    /// never filled), clearing the bits it passes.
    fn victim(&mut self) -> usize {
        loop {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let i = self.hand;
            self.hand += 1;
            match self.meta.get_mut(2 * i..2 * i + 2) {
                Some([c, bit]) if *bit == 1 && *c != FILLING => *bit = 0,
                _ => return i,
            }
        }
    }

    /// Marks slot `i` (from [`ChunkCache::fill`]) as holding chunk `idx`.
    pub fn filled(&mut self, i: usize, idx: u32) {
        if let Some(m) = self.meta.get_mut(2 * i) {
            *m = idx;
        }
        self.enter(i);
    }

    /// The buffer of slot `i`, to decode more of its chunk into (a block decoded only in part has
    /// room for all of it).
    pub fn slot_mut(&mut self, i: usize) -> Option<&mut Vec<u8>> {
        self.slots.get_mut(i).map(|s| &mut s.1)
    }

    /// The bytes of slot `i`.
    pub fn data(&self, i: usize) -> &[u8] {
        self.slots.get(i).map_or(&[], |s| &s.1)
    }

    /// Drops slot `i`, giving its memory back to the allocator; the last slot takes its place.
    fn drop_slot(&mut self, i: usize) {
        let last = self.slots.len().wrapping_sub(1);
        if i > last {
            return;
        }
        self.leave(i);
        if i != last {
            self.leave(last);
        }
        let Some(moved) = self.slots.pop() else {
            return;
        };
        let gone = match self.slots.get_mut(i) {
            Some(s) => core::mem::replace(s, moved),
            None => moved,
        };
        self.used -= gone.1.capacity();
        if let (Some(&c), Some(&bit)) = (self.meta.get(2 * last), self.meta.get(2 * last + 1)) {
            if let Some([ci, bi]) = self.meta.get_mut(2 * i..2 * i + 2) {
                (*ci, *bi) = (c, bit);
            }
        }
        self.meta.truncate(2 * last);
        if i < last {
            self.enter(i);
        }
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

    /// Number of cached chunks.
    #[cfg(test)]
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Bytes decoded into each slot.
    #[cfg(test)]
    pub fn lens(&self) -> Vec<usize> {
        self.slots.iter().map(|s| s.1.len()).collect()
    }

    /// Bytes held by cached chunks.
    pub fn bytes(&self) -> usize {
        self.used
    }
}

/// A vector of `n` zeros (ENOMEM when it cannot be allocated).
fn zeros(n: usize) -> R<Vec<u32>> {
    let mut v = Vec::new();
    reserve(&mut v, n)?;
    while v.len() < n {
        push(&mut v, 0)?;
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K4: usize = 4096;

    fn put(c: &mut ChunkCache, node: u32, idx: u32) -> usize {
        put_len(c, node, idx, 4)
    }

    fn put_len(c: &mut ChunkCache, node: u32, idx: u32, len: usize) -> usize {
        let (i, buf) = c.fill(node, idx, len).unwrap();
        // A reused buffer still holds its last chunk, never more than its capacity.
        assert!(buf.len() <= len && buf.capacity() >= len);
        buf.clear();
        buf.resize(len, idx as u8);
        c.filled(i, idx);
        i
    }

    fn held(c: &ChunkCache) -> usize {
        let sum = c.slots.iter().map(|s| s.1.capacity()).sum();
        assert_eq!(c.bytes(), sum, "the running total matches the buffers");
        sum
    }

    #[test]
    fn the_index_finds_exactly_the_filled_slots_through_evictions_and_forgets() {
        // 3,000 chunks of 4 bytes over 60 nodes through a cache of 700: every find must agree with
        // a scan of the slots, whatever was evicted, dropped (mixed sizes) or forgotten.
        index_agrees_with_a_scan(4);
        // The same in 4 KiB chunks: past `GROW_FREELY`, slots are added only for ghosts.
        index_agrees_with_a_scan(K4);
    }

    fn index_agrees_with_a_scan(unit: usize) {
        let mut c = ChunkCache::new(700 * unit as u32);
        let mut x: u32 = 0x1234_5678;
        let mut rand = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let mut most = 0;
        for step in 0..30_000u32 {
            let (node, idx) = (rand() % 60, rand() % 50);
            match step % 97 {
                0 => c.forget(node),
                _ if c.find(node, idx).is_some() => {}
                1 => {
                    put_len(&mut c, node, idx, 3 * unit);
                }
                _ => {
                    put_len(&mut c, node, idx, unit);
                }
            }
            most = most.max(held(&c));
            if step % 1000 == 0 || step % 97 < 2 {
                assert!(held(&c) <= 700 * unit + 3 * unit);
                let filled: std::collections::HashMap<_, _> = (0..c.slots.len())
                    .filter(|&s| c.meta[2 * s] != FILLING)
                    .map(|s| ((c.slots[s].0, c.meta[2 * s]), s))
                    .collect();
                let count = (0..c.slots.len()).filter(|&s| c.meta[2 * s] != FILLING);
                assert_eq!(filled.len(), count.count(), "no key held twice");
                for n in 0..60 {
                    for i in 0..50 {
                        let scan = filled.get(&(n, i)).copied();
                        assert_eq!(c.find(n, i), scan, "step {step}: ({n}, {i})");
                    }
                }
            }
        }
        assert!(most > 600 * unit, "the cache filled its budget: {most}");
    }

    #[test]
    fn holds_budget_over_chunk_size_slots_and_evicts_one_not_used_again() {
        let mut c = ChunkCache::new(3 * 4);
        for idx in 0..3 {
            put(&mut c, 1, idx);
        }
        assert!(c.find(1, 0).is_some(), "chunk 0 used again");
        put(&mut c, 1, 3);
        assert!(c.find(1, 1).is_none(), "chunk 1 was not used again");
        for idx in [0, 2, 3] {
            let i = c.find(1, idx).unwrap();
            assert_eq!(c.data(i), [idx as u8; 4]);
        }
        assert_eq!(c.slots.len(), 3);
    }

    #[test]
    fn past_its_free_share_the_cache_grows_only_for_chunks_it_evicted_recently() {
        // 4 KiB chunks, a 4 MiB budget: 256 fill freely; a stream of chunks never seen again
        // (reads spread over a file many times the budget) leaves it at that size.
        let free = GROW_FREELY / K4;
        let mut c = ChunkCache::new(4 << 20);
        for idx in 0..4 * free as u32 {
            put_len(&mut c, 1, idx, K4);
        }
        assert_eq!(held(&c), GROW_FREELY, "no growth without a ghost");
        // A chunk evicted a moment ago is asked for again: a larger cache would have hit.
        let last = 4 * free as u32 - 1;
        assert!(c.find(1, last - free as u32).is_none());
        put_len(&mut c, 1, last - free as u32, K4);
        assert_eq!(held(&c), GROW_FREELY + K4, "one more slot for a ghost");
        // A working set of 600 chunks read round and round: it ends up cached whole.
        let mut c = ChunkCache::new(4 << 20);
        let mut misses = 0;
        for round in 0..40 {
            misses = 0;
            for idx in 0..600 {
                if c.find(2, idx).is_none() {
                    put_len(&mut c, 2, idx, K4);
                    misses += 1;
                }
            }
            assert!(held(&c) <= 4 << 20, "round {round}");
        }
        assert_eq!((misses, held(&c)), (0, 600 * K4));
    }

    #[test]
    fn random_reads_fill_the_budget_when_their_file_fits_sequential_ones_continue_the_last() {
        // `reads` 4 KiB reads at odd offsets of a file of `chunks` 4 KiB chunks, uniformly at random.
        let read_at_random = |c: &mut ChunkCache, chunks: u32, reads: u32| {
            let mut rng = wasifs_image::fuzz::Rng(1);
            for _ in 0..reads {
                let idx = rng.below(chunks as usize) as u32;
                c.reading(
                    1,
                    u64::from(chunks) * 4096,
                    u64::from(idx) * 4096 + 100,
                    4096,
                );
                put_len(c, 1, idx, K4);
            }
        };
        // A database's pages read at random: cached up to the budget when all of it fits.
        let mut c = ChunkCache::new(4 << 20);
        read_at_random(&mut c, 1024, 3000);
        assert_eq!(held(&c), 4 << 20);
        // P9's file, 8 times the budget, read uniformly at random: a full cache would hit an eighth
        // of the time; it grows past 1 MiB only by its ghosts (re-reads of chunks just evicted).
        let mut c = ChunkCache::new(8 << 20);
        read_at_random(&mut c, 16384, 10_000);
        assert!(held(&c) > GROW_FREELY && held(&c) < 4 << 20, "{}", held(&c));
        // A file read start to end in 1000-byte reads: sequential, so its chunks take no more.
        let db = 1 << 30;
        let mut c = ChunkCache::new(4 << 20);
        let mut off = 0u64;
        for idx in 0..2000u32 {
            c.reading(2, db, off, 1000);
            off += 1000;
            c.reading(2, db, off, 3096);
            off += 3096;
            put_len(&mut c, 2, idx, K4);
        }
        assert_eq!(held(&c), GROW_FREELY);
        // Another file's read, then this one's continuation: random (the last read was elsewhere)
        // of a file that fits.
        c.reading(3, db, 0, 10);
        c.reading(2, 4 << 20, off, 4096);
        put_len(&mut c, 2, 2000, K4);
        assert_eq!(held(&c), GROW_FREELY + K4);
    }

    #[test]
    fn a_grown_cache_makes_room_for_a_larger_chunk_without_shrinking() {
        let mut c = ChunkCache::new(4 << 20);
        for idx in 0..600 {
            for _ in 0..3 {
                if c.find(1, idx).is_none() {
                    put_len(&mut c, 1, idx, K4);
                }
            }
        }
        for idx in 0..600 {
            if c.find(1, idx).is_none() {
                put_len(&mut c, 1, idx, K4);
            }
        }
        let grown = held(&c);
        assert!(grown > GROW_FREELY, "{grown}");
        // A 256 KiB chunk no one evicted: room made by dropping 4 KiB ones, no more, no fewer.
        put_len(&mut c, 2, 0, 64 * K4);
        assert!(
            (grown - K4..=grown).contains(&held(&c)),
            "{grown} -> {}",
            held(&c)
        );
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
        let _ = c.fill(1, 0, 4).unwrap();
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
    fn chunks_of_mixed_sizes_stay_within_the_byte_budget_dropping_ones_not_used_again() {
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
