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
//! evicted not long ago (a "ghost": a larger cache would have hit) and such misses are more common
//! than chance makes them (`GHOST_SHARE`), reusing their own slots otherwise. So files read
//! through once (a tree of small files in shared blocks, large files start to end) and files many
//! times the budget read uniformly at random (where a full cache would hit budget / size of the
//! time) do not touch every page of a budget they would barely reuse (2,048 page faults for 8 MiB,
//! ~1.8 µs each on a VM), while a database read at random keeps what it reads: its hot pages are
//! missed again soon after eviction, as ghosts. (A uniform random reader that runs long enough to
//! earn those pages back in hits, ~100,000 reads of 4 KiB over 64 MiB, is ~3 % slower for it.)

use alloc::vec::Vec;

use crate::fallible::{push, reserve};
use crate::overlay::R;
use crate::wasi::ENOMEM;

/// Chunk index of a slot being filled (never matched; chunk indexes are below the chunk count).
const FILLING: u32 = u32::MAX;

/// Bytes the cache fills without evidence that it needs them (the default budget before 8 MiB).
const GROW_FREELY: usize = 1 << 20;

/// Past `GROW_FREELY` a ghost grows the cache only while at least one recent miss in this many
/// was a ghost: more than chance gives when a file many times the cache is read uniformly at
/// random (ghosts remembered / chunks of the file: 256 / 16,384 for P9's), where growing costs a
/// fresh page per slot and rarely hits (P9 5–7 % slower with growth on every ghost), while reads
/// only mildly skewed to some chunks (Zipf 0.6) pass it and fill the budget (8 would keep them
/// at 1 MiB: 7 % hits instead of 28 %).
const GHOST_SHARE: u32 = 16;

/// Misses counted before both counts are halved, so they follow the recent past.
const MISS_WINDOW: u32 = 256;

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
    /// Recent misses, and how many of them were ghosts (both halved every [`MISS_WINDOW`]).
    misses: u32,
    ghost_misses: u32,
}

/// A hash of key (`node`, `idx`), never 0: murmur3's finalizer, so every bit depends on every
/// bit of the key (the chunks of one file differ only in their low bits; a bare multiply left
/// 600 of them 81 homes in 512).
fn tag(node: u32, idx: u32) -> u32 {
    let mut h = node.wrapping_mul(0x9E37_79B1) ^ idx;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    (h ^ h >> 16) | 1
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
            misses: 0,
            ghost_misses: 0,
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

    /// Counts a miss of key (`node`, `idx`); whether it is a ghost found more often than chance
    /// (then a larger cache would hit: it may grow).
    fn ghost_pays(&mut self, node: u32, idx: u32) -> bool {
        let ghost = self.is_ghost(node, idx);
        if self.misses >= MISS_WINDOW {
            self.misses /= 2;
            self.ghost_misses /= 2;
        }
        self.misses += 1;
        self.ghost_misses += u32::from(ghost);
        ghost && self.ghost_misses * GHOST_SHARE >= self.misses
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
        // Any other read grows the cache only up to `GROW_FREELY` (but for a ghost found more
        // often than chance), and never shrinks it to make room.
        let ghost = self.ghost_pays(node, idx);
        let limit = if self.free || ghost {
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
mod tests;
